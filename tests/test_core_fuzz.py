"""Fuzzing the library's entry points (``core.encode``, ``core.explain``) with hostile text, seeded so CI is repeatable.

Every call must either answer, with ``answer.text == context[answer.start_char:answer.end_char]`` inside the
context, or raise the documented ``ValueError`` (``TypeError`` for non-text) with a message; never anything
else. The texts mix every Unicode plane, combining marks, right-to-left scripts and bidi controls, CJK, emoji
sequences, control, zero-width and format characters, NUL, lone surrogates and tokenizers' special-token
strings, plus lengths at the limits: questions around ``MAX_QUESTION_SHARE`` of a window and contexts
around ``MAX_WINDOWS`` windows. The tiny models (128 tokens) keep it fast; a failure prints the input.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pytest

import core
from core.encoding import MAX_QUESTION_SHARE, encode
from core.fixtures import ARCHITECTURES, TINY_MAX_LENGTH

SEED = 20_240_917
T = TypeVar("T")
WORDS = ["the", "tower", "was", "built", "in", "1889", "by", "Ada", "and", "her", "team", "near", "river"]


def _code_points(first: int, last: int) -> list[str]:
    return [chr(code) for code in range(first, last + 1)]


POOLS: dict[str, list[str]] = {
    "ascii": _code_points(0x20, 0x7E),
    "control": _code_points(0x00, 0x1F) + _code_points(0x7F, 0x9F),
    "combining": _code_points(0x0300, 0x036F) + ["\u20dd", "\ufe0f"],
    "rtl": _code_points(0x05D0, 0x05EA) + _code_points(0x0627, 0x064A) + ["\u200f", "\u202e", "\u2067", "\u061c"],
    "cjk": _code_points(0x4E00, 0x4E40) + _code_points(0x3041, 0x3060) + ["\u3002", "\uff01"],
    "emoji": ["🎉", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "❤\ufe0f", "1\ufe0f\u20e3", "\U0001f600"],
    "zero-width and format": ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad", "\u180e", "\U000e0041"],
    "whitespace": [" ", "\t", "\n", "\r\n", "\u00a0", "\u2003", "\u3000", "\u2028", "\u2029", "\x0b", "\x0c"],
    "nul": ["\x00"],
    "noncharacters and private use": ["\ufffe", "\uffff", "\U0010ffff", "\ue000", "\U000f0000", "\ufffd"],
    "special tokens": ["[CLS]", "[SEP]", "[PAD]", "[MASK]", "[UNK]", "<s>", "</s>", "<pad>", "<mask>", "<unk>", "##"],
    "words": WORDS,
}


def _any_code_point(rng: random.Random) -> str:
    """Uniform over all 17 planes, surrogates excluded (they come rarely, below)."""
    while True:
        code = rng.randrange(0x110000)
        if not 0xD800 <= code <= 0xDFFF:
            return chr(code)


def _text(rng: random.Random, pieces: int) -> str:
    parts = []
    for _ in range(pieces):
        roll = rng.random()
        if roll < 0.01:
            parts.append(rng.choice(["\ud800", "\udcff", "\udfff"]))  # a lone surrogate: not valid text
        elif roll < 0.15:
            parts.append(_any_code_point(rng))
        else:
            parts.append(rng.choice(POOLS[rng.choice(list(POOLS))]))
        if rng.random() < 0.3:
            parts.append(" ")
    return "".join(parts)


def _valid_text(rng: random.Random, pieces: int) -> str:
    """Like ``_text``, without lone surrogates: for inputs that must be accepted."""
    return "".join(char for char in _text(rng, pieces) if not "\ud800" <= char <= "\udfff")


def _blank(rng: random.Random) -> str:
    return rng.choice(["", " ", "\n\t ", "\u200b", "\u200b\u200d\ufeff", "\u00ad \u2060", "\u3000\u2028"])


def _question_and_context(rng: random.Random) -> tuple[str, str]:
    roll = rng.random()
    if roll < 0.5:
        return _text(rng, rng.randrange(0, 12)), _text(rng, rng.randrange(0, 80))
    if roll < 0.7:
        prose = " ".join(rng.choices(WORDS, k=25))
        return _text(rng, 4) + " ".join(rng.choices(WORDS, k=3)), prose + _text(rng, 10) + prose
    if roll < 0.85:
        return (_blank(rng), _text(rng, 20)) if rng.random() < 0.5 else (_text(rng, 4), _blank(rng))
    return _text(rng, 3) or "who?", rng.choice(["x", "ab ", "🎉", "東", "\u0301a"]) * rng.randrange(50, 1500)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tokenizers(tiny_model_dirs: dict[str, str]) -> dict[str, object]:
    return {architecture: core.load_model(tiny_model_dirs[architecture]).tokenizer for architecture in ARCHITECTURES}


def _attempt(inputs: str, function: Callable[..., T], *args: object, **kwargs: object) -> tuple[T | None, str]:
    """``function``'s result and ``""``, or ``None`` and the message of the documented ValueError it raised.

    Anything else fails the test, naming the input.
    """
    try:
        return function(*args, **kwargs), ""
    except ValueError as error:
        assert str(error).strip(), f"ValueError without a message for {inputs}"
        return None, str(error)
    except Exception as error:  # the property under test: nothing but ValueError escapes for text input
        pytest.fail(f"{type(error).__name__}: {error} for {inputs}")


def _check_windows(encoding: core.Encoding, question: str, context: str, max_length: int, inputs: str) -> None:
    for window in encoding.windows:
        assert window.length <= max_length, inputs
        assert window.context_positions().size, inputs
        for role, (start, end) in zip(window.roles, window.offsets, strict=True):
            text = {"question": encoding.question, "context": context, "special": ""}[role]
            assert 0 <= start <= end <= len(text), inputs
    assert encoding.question == question.strip(), inputs


def test_encode_answers_or_refuses_cleanly(tokenizers: dict[str, object]) -> None:
    rng = random.Random(f"{SEED}-encode")
    answered = refused = 0
    for _ in range(400):
        architecture = rng.choice(ARCHITECTURES)
        question, context = _question_and_context(rng)
        max_length = rng.choice([TINY_MAX_LENGTH, TINY_MAX_LENGTH, rng.randrange(1, TINY_MAX_LENGTH + 16)])
        if rng.random() < 0.1:  # windows barely larger than a one-word question and the special tokens
            question, max_length = rng.choice([*WORDS, "a", "?", "東"]), rng.randrange(1, 9)
        stride = -1 if rng.random() < 0.05 else rng.choice([128, 32, 0, rng.randrange(140)])
        inputs = f"{architecture}: encode({question!r}, {context!r}, max_length={max_length}, stride={stride})"
        encoding, _ = _attempt(
            inputs, encode, tokenizers[architecture], question, context, max_length=max_length, stride=stride
        )
        if encoding is None:
            refused += 1
        else:
            _check_windows(encoding, question, context, max_length, inputs)
            answered += 1
    assert answered > 100 and refused > 50, (answered, refused)


def _check_answer(explanation: core.Explanation, context: str, inputs: str) -> None:
    for span in explanation.top_k:
        assert 0 <= span.start_char < span.end_char <= len(context), inputs
        assert span.text == context[span.start_char : span.end_char], inputs
    answer = explanation.answer
    assert answer == explanation.top_k[0], inputs
    assert set(explanation.roles[answer.start_token : answer.end_token]) == {"context"}, inputs
    for per_target in explanation.saliency.values():
        for values in per_target.values():
            assert values.shape == (explanation.num_tokens,) and np.isfinite(values).all(), inputs


@pytest.mark.parametrize("methods", [(), ("gradient",)], ids=["answer-only", "gradient"])
def test_explain_answers_inside_the_context_or_refuses_cleanly(
    tiny_model_dirs: dict[str, str], methods: tuple[str, ...]
) -> None:
    rng = random.Random(f"{SEED}-explain-{len(methods)}")
    models = {architecture: core.load_model(tiny_model_dirs[architecture]) for architecture in ARCHITECTURES}
    answered = 0
    for _ in range(150):
        architecture = rng.choice(ARCHITECTURES)
        question, context = _question_and_context(rng)
        inputs = f"{architecture}: explain({question!r}, {context!r}, methods={methods})"
        explanation, _ = _attempt(
            inputs, core.explain, question, context, models[architecture], methods=methods, use_cache=False
        )
        if explanation is not None:
            _check_answer(explanation, context, inputs)
            answered += 1
    assert answered > 40, answered


@pytest.mark.parametrize("value", [None, b"bytes", 3, ["a list"]], ids=["none", "bytes", "int", "list"])
def test_non_text_is_a_type_error_with_a_message(tiny_bert_dir: str, value: object) -> None:
    """Regression: ``explain`` raised AttributeError (``None.strip()`` in its cache key) for a non-text question."""
    loaded = core.load_model(tiny_bert_dir)
    for question, context in ((value, "Ada built it."), ("Who built it?", value)):
        with pytest.raises(TypeError, match="must be text"):
            encode(loaded.tokenizer, question, context)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="must be text"):
            core.explain(question, context, loaded, methods=())  # type: ignore[arg-type]


def _question_of(rng: random.Random, tokenizer: object, tokens: int) -> str:
    """A question of about ``tokens`` tokens, ending in random text."""
    words: list[str] = []
    while len(tokenizer(" ".join(words), add_special_tokens=False, verbose=False)["input_ids"]) < tokens:
        words.append(rng.choice(WORDS) if rng.random() < 0.8 else _valid_text(rng, 1))
    return " ".join(words)


@pytest.mark.parametrize("architecture", ARCHITECTURES)
def test_questions_around_the_question_share_limit(tiny_model_dirs: dict[str, str], architecture: str) -> None:
    """Accepted exactly when the question takes at most ``MAX_QUESTION_SHARE`` of the window."""
    loaded = core.load_model(tiny_model_dirs[architecture])
    limit = int(TINY_MAX_LENGTH * MAX_QUESTION_SHARE)
    rng = random.Random(f"{SEED}-share-{architecture}")
    seen = set()
    for target in [limit - 2, limit - 1, limit, limit + 1, limit + 2] * 2:
        question = _question_of(rng, loaded.tokenizer, target)
        tokens = len(loaded.tokenizer(question, add_special_tokens=False, verbose=False)["input_ids"])
        context = " ".join(rng.choices(WORDS, k=30)) + _valid_text(rng, 5)
        inputs = f"{architecture}: explain({question!r} ({tokens} tokens), {context!r})"
        explanation, error = _attempt(inputs, core.explain, question, context, loaded, methods=(), use_cache=False)
        seen.add(tokens <= limit)
        if tokens <= limit:
            assert explanation is not None, f"{error} for {inputs}"
            _check_answer(explanation, context, inputs)
        else:
            assert "Shorten the question" in error, inputs
    assert seen == {True, False}


def _context_of_windows(rng: random.Random, tokenizer: object, question: str, windows: int) -> str:
    """The shortest prose-and-noise context that needs ``windows`` windows (binary search on its length)."""
    pieces = [rng.choice(WORDS) if rng.random() < 0.9 else _valid_text(rng, 1) for _ in range(9000)]

    def count(length: int) -> int:
        encoding = encode(tokenizer, question, " ".join(pieces[:length]), max_length=TINY_MAX_LENGTH, max_windows=10**6)
        return len(encoding.windows)

    low, high = 1, len(pieces)
    assert count(high) >= windows
    while low < high:
        middle = (low + high) // 2
        if count(middle) >= windows:
            high = middle
        else:
            low = middle + 1
    return " ".join(pieces[:low])


@pytest.mark.parametrize("architecture", ["bert", "roberta", "albert"])
def test_contexts_around_the_window_limit(tiny_model_dirs: dict[str, str], architecture: str) -> None:
    """``MAX_WINDOWS`` windows answer (from any of them); one more is refused with the limit in the message."""
    loaded = core.load_model(tiny_model_dirs[architecture])
    rng = random.Random(f"{SEED}-windows-{architecture}")
    question = "Who built the tower?"
    at_limit = _context_of_windows(rng, loaded.tokenizer, question, core.MAX_WINDOWS)
    for methods in ((), ("gradient",)):
        explanation = core.explain(question, at_limit, loaded, methods=methods, use_cache=False)
        assert explanation.num_windows == core.MAX_WINDOWS
        _check_answer(explanation, at_limit, f"{architecture}: {core.MAX_WINDOWS} windows, methods={methods}")
    beyond = _context_of_windows(rng, loaded.tokenizer, question, core.MAX_WINDOWS + 1)
    with pytest.raises(ValueError, match=f"needs {core.MAX_WINDOWS + 1} windows .* the limit is {core.MAX_WINDOWS}"):
        core.explain(question, beyond, loaded, methods=(), use_cache=False)
