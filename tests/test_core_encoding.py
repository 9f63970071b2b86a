"""core.encoding: windows, offsets, roles, word ids, token type ids and every input the encoder must refuse."""

from __future__ import annotations

import copy

import pytest
from tokenizers import decoders, processors
from transformers import tokenization_utils_base

import core
from core.encoding import MAX_QUESTION_SHARE, Window, encode

QUESTION = "Who moved to München in 2015?"
CONTEXT = "Jürgen moved to München in 2015; he said the café near 東京 station (Ελλάδα Street) was great 🎉!"
EXPECTS_TOKEN_TYPES = {"bert": True, "distilbert": False, "roberta": False}


def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable-character alphabet for bytes, inverted (byte-level BPE tokens are spelled in it)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    printable += list(range(ord("®"), ord("ÿ") + 1))
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return {chr(code): byte for byte, code in zip(printable, codes, strict=True)}


BYTE_DECODER = _byte_decoder()


def _assert_token_matches_text(tokenizer: object, token: str, text: str, span: tuple[int, int]) -> None:
    """``text[span]`` is exactly what ``token`` spells (a whole character for pieces of a multi-byte one)."""
    start, end = span
    assert 0 <= start <= end <= len(text), (token, span)
    covered = text[start:end]
    assert covered == covered.strip(), f"{token!r} covers surrounding whitespace {covered!r}"
    if isinstance(tokenizer.backend_tokenizer.decoder, decoders.ByteLevel):
        raw = bytes(BYTE_DECODER[char] for char in token).lstrip(b" ")
        if not raw:
            assert covered == "", (token, covered)
            return
        try:
            assert covered == raw.decode("utf-8"), (token, covered)
        except UnicodeDecodeError:
            # A piece of a multi-byte character: its span is the character(s) whose bytes hold it.
            assert covered and raw in covered.encode("utf-8"), (token, covered)
            assert len(covered) <= len(raw), (token, covered)
        return
    if token == tokenizer.unk_token:
        assert covered, token
        return
    assert covered == token.removeprefix("##"), (token, covered)


def test_offsets_point_at_the_characters_of_each_token(tiny_qa_dir: str) -> None:
    tokenizer = core.load_model(tiny_qa_dir).tokenizer
    (window,) = encode(tokenizer, QUESTION, CONTEXT, max_length=128).windows
    assert window.roles.count("context") > 20
    for token, role, span in zip(window.tokens, window.roles, window.offsets, strict=True):
        if role == "special":
            assert span == (0, 0)
            continue
        text = CONTEXT if role == "context" else QUESTION
        _assert_token_matches_text(tokenizer, token, text, span)
    # Context offsets never go backwards, so a span of tokens is a span of characters.
    context_spans = [window.offsets[i] for i in window.context_positions()]
    assert all(a[1] <= b[0] or a == b for a, b in zip(context_spans, context_spans[1:], strict=False))


def test_byte_level_offsets_exclude_the_leading_space_even_when_the_tokenizer_keeps_it(tiny_roberta_dir: str) -> None:
    """Byte-level BPE folds the space before a word into its token; some tokenizers' offsets keep that space."""
    tokenizer = copy.deepcopy(core.load_model(tiny_roberta_dir).tokenizer)
    tokenizer.backend_tokenizer.post_processor = processors.RobertaProcessing(
        (tokenizer.sep_token, tokenizer.sep_token_id),
        (tokenizer.cls_token, tokenizer.cls_token_id),
        trim_offsets=False,
        add_prefix_space=True,
    )
    raw = tokenizer(QUESTION, CONTEXT, return_offsets_mapping=True)
    untrimmed = [CONTEXT[a:b] for (a, b), s in zip(raw["offset_mapping"], raw.sequence_ids(), strict=True) if s == 1]
    assert any(text.startswith(" ") for text in untrimmed), "the tokenizer under test keeps the spaces"
    (window,) = encode(tokenizer, QUESTION, CONTEXT, max_length=128).windows
    for token, role, span in zip(window.tokens, window.roles, window.offsets, strict=True):
        if role != "special":
            _assert_token_matches_text(tokenizer, token, CONTEXT if role == "context" else QUESTION, span)


def test_roles_word_ids_and_token_types_line_up(tiny_qa_dir: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    (window,) = encode(loaded.tokenizer, QUESTION, CONTEXT, max_length=128).windows
    n = window.length
    assert len(window.tokens) == len(window.roles) == len(window.offsets) == len(window.word_ids) == n
    assert window.input_ids == loaded.tokenizer(QUESTION, CONTEXT)["input_ids"]
    # Layout: specials, the question, specials, the context, specials; nothing interleaved.
    collapsed = [role for i, role in enumerate(window.roles) if i == 0 or role != window.roles[i - 1]]
    assert collapsed[0] == "special" and collapsed[-1] == "special"
    assert [role for role in collapsed if role != "special"] == ["question", "context"]
    for role, word in zip(window.roles, window.word_ids, strict=True):
        assert (word is None) == (role == "special")
    context_words = [window.word_ids[i] for i in window.context_positions()]
    assert context_words == sorted(context_words) and context_words[0] == 0
    assert len(set(context_words)) >= len(CONTEXT.split())
    has_types = EXPECTS_TOKEN_TYPES[loaded.model_type]
    assert (window.token_type_ids is not None) == has_types
    if has_types:
        assert len(window.token_type_ids) == n
        for role, type_id in zip(window.roles, window.token_type_ids, strict=True):
            if role != "special":
                assert type_id == (1 if role == "context" else 0)


def test_tokens_of_one_word_are_contiguous_and_adjacent(tiny_qa_dir: str) -> None:
    tokenizer = core.load_model(tiny_qa_dir).tokenizer
    (window,) = encode(tokenizer, QUESTION, CONTEXT, max_length=128).windows
    positions = window.context_positions()
    by_word: dict[int, list[int]] = {}
    for position in positions:
        by_word.setdefault(window.word_ids[position], []).append(int(position))
    for word, members in by_word.items():
        assert members == list(range(members[0], members[-1] + 1)), word
        spans = [window.offsets[p] for p in members]
        for left, right in zip(spans, spans[1:], strict=False):
            # Pieces of a word touch (or share a multi-byte character): no gap between them.
            assert left[0] <= right[0] <= left[1] <= right[1], (word, spans)


def _long_context(sentences: int) -> str:
    parts = [f"Sentence {i} says that the river {i % 7} flows past the town of Alder{i}." for i in range(sentences)]
    return " ".join(parts)


def test_long_context_is_split_into_overlapping_windows_that_repeat_the_question(tiny_qa_dir: str) -> None:
    tokenizer = core.load_model(tiny_qa_dir).tokenizer
    context = _long_context(30)
    assert len(tokenizer(context, add_special_tokens=False)["input_ids"]) >= 3 * 128
    encoding = encode(tokenizer, QUESTION, context, max_length=128, stride=32)
    windows = encoding.windows
    assert len(windows) > 3
    question_ids = None
    covered_to = 0
    for window in windows:
        assert window.length <= 128
        ids = [token for token, role in zip(window.input_ids, window.roles, strict=True) if role == "question"]
        question_ids = question_ids or ids
        assert ids == question_ids
        start, end = window.context_char_range()
        assert start <= covered_to, "windows leave a gap in the context"
        assert end > covered_to, "a window adds nothing new"
        covered_to = end
    assert covered_to == len(context.rstrip())
    # Consecutive windows overlap by the stride (in tokens).
    first, second = windows[0], windows[1]
    first_context = [first.offsets[i] for i in first.context_positions()]
    second_context = [second.offsets[i] for i in second.context_positions()]
    assert len(set(first_context) & set(second_context)) == encoding.stride


@pytest.mark.parametrize(
    ("question", "context", "which"),
    [
        ("", CONTEXT, "question"),
        ("   \n\t", CONTEXT, "question"),
        (QUESTION, "", "context"),
        (QUESTION, " \n ", "context"),
        ("\u200b\u200c\u200d", CONTEXT, "question"),
        (QUESTION, "\u200b\ufeff\u2060 \u200b", "context"),
    ],
    ids=["empty-q", "blank-q", "empty-c", "blank-c", "zero-width-q", "zero-width-c"],
)
def test_empty_blank_and_invisible_text_is_refused(tiny_bert_dir: str, question: str, context: str, which: str) -> None:
    tokenizer = core.load_model(tiny_bert_dir).tokenizer
    with pytest.raises(ValueError, match=f"The {which} is empty"):
        encode(tokenizer, question, context)
    with pytest.raises(ValueError, match=f"The {which} is empty"):
        core.explain(question, context, tiny_bert_dir)


def test_non_text_input_is_a_type_error(tiny_bert_dir: str) -> None:
    tokenizer = core.load_model(tiny_bert_dir).tokenizer
    with pytest.raises(TypeError, match="must be text"):
        encode(tokenizer, QUESTION, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("question", "context", "which"),
    [("Who\udcff?", CONTEXT, "question"), (QUESTION, "caf\ud800 au lait", "context")],
    ids=["question", "context"],
)
def test_lone_surrogate_is_a_value_error_not_a_tokenizer_type_error(
    tiny_bert_dir: str, question: str, context: str, which: str
) -> None:
    """Regression: ``surrogateescape`` text (undecodable argv bytes) made the tokenizers library raise TypeError."""
    tokenizer = core.load_model(tiny_bert_dir).tokenizer
    with pytest.raises(ValueError, match=f"The {which} is not valid Unicode text: it holds a lone surrogate"):
        encode(tokenizer, question, context)
    with pytest.raises(ValueError, match="not valid UTF-8"):
        core.explain(question, context, tiny_bert_dir, methods=())


def test_negative_stride_is_refused(tiny_bert_dir: str) -> None:
    """Regression: a negative stride reached the tokenizer as an OverflowError."""
    tokenizer = core.load_model(tiny_bert_dir).tokenizer
    with pytest.raises(ValueError, match="stride must be at least 0"):
        encode(tokenizer, QUESTION, CONTEXT, stride=-1)


@pytest.mark.parametrize("max_length", [2, 3, 4])
def test_window_without_room_for_the_context_is_refused(tiny_bert_dir: str, max_length: int) -> None:
    """Regression: the tokenizer raised a bare Exception, or returned windows longer than ``max_length``."""
    tokenizer = core.load_model(tiny_bert_dir).tokenizer
    question = "a"
    assert len(tokenizer(question, add_special_tokens=False)["input_ids"]) == 1
    with pytest.raises(ValueError, match=f"A {max_length}-token window has no room for the context"):
        encode(tokenizer, question, CONTEXT, max_length=max_length)
    # One token of room is enough, and every window keeps to max_length.
    windows = encode(tokenizer, question, CONTEXT, max_length=5).windows
    assert all(window.length <= 5 and len(window.context_positions()) == 1 for window in windows)


def test_long_question_is_refused_without_a_transformers_warning(
    tiny_bert_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: transformers logged "Token indices sequence length is longer..." to stderr before the ValueError."""
    warned: list[object] = []
    monkeypatch.setattr(tokenization_utils_base.logger, "warning", lambda *args, **kwargs: warned.append(args))
    tokenizer = copy.deepcopy(core.load_model(tiny_bert_dir).tokenizer)
    tokenizer.deprecation_warnings.clear()
    with pytest.raises(ValueError, match="Shorten the question"):
        encode(tokenizer, "Who moved to München and why " * 40, CONTEXT, max_length=128)
    assert warned == []


def test_question_longer_than_half_a_window_is_refused(tiny_qa_dir: str) -> None:
    tokenizer = core.load_model(tiny_qa_dir).tokenizer
    question = "Who moved to München in 2015 and why " * 20 + "?"
    assert len(tokenizer(question, add_special_tokens=False)["input_ids"]) > 128 * MAX_QUESTION_SHARE
    with pytest.raises(ValueError, match=r"The question is \d+ tokens long; at most 64 fit .*Shorten the question"):
        encode(tokenizer, question, CONTEXT, max_length=128)
    with pytest.raises(ValueError, match="Shorten the question"):
        core.explain(question, CONTEXT, tiny_qa_dir)


def test_context_beyond_the_window_limit_is_refused_with_the_limit(tiny_qa_dir: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    context = _long_context(900)  # ~ 20,000 tokens: far beyond 64 windows of 128
    with pytest.raises(ValueError) as raised:
        core.explain(QUESTION, context, loaded, methods=())
    message = str(raised.value)
    assert f"the limit is {core.MAX_WINDOWS}" in message
    assert "Shorten the context" in message
    # A smaller limit is honoured the same way.
    with pytest.raises(ValueError, match="the limit is 2"):
        encode(loaded.tokenizer, QUESTION, _long_context(40), max_length=128, max_windows=2)


def test_context_at_the_window_limit_is_accepted(tiny_bert_dir: str) -> None:
    tokenizer = core.load_model(tiny_bert_dir).tokenizer
    context = _long_context(40)
    count = len(encode(tokenizer, QUESTION, context, max_length=128).windows)
    assert count > 2
    assert len(encode(tokenizer, QUESTION, context, max_length=128, max_windows=count).windows) == count


def test_window_helpers() -> None:
    window = Window(
        input_ids=[1, 2, 3, 4, 5],
        token_type_ids=None,
        tokens=["[CLS]", "q", "[SEP]", "c1", "c2"],
        roles=["special", "question", "special", "context", "context"],
        offsets=[(0, 0), (0, 1), (0, 0), (3, 5), (6, 9)],
        word_ids=[None, 0, None, 0, 1],
    )
    assert window.length == 5
    assert window.context_positions().tolist() == [3, 4]
    assert window.context_char_range() == (3, 9)
