"""Question + context into model-sized token windows with offsets, roles and word ids.

Why windows: a context longer than the model's limit is split with an overlapping stride so the
answer can come from any part of it; every window repeats the question.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from transformers.tokenization_utils_base import PreTrainedTokenizerBase

from core.types import Role

DEFAULT_MAX_LENGTH = 384
DEFAULT_STRIDE = 128
MAX_WINDOWS = 64
"""Upper bound on windows per context: at 384 tokens with stride 128, about 15,700 context tokens, which held
12,367 words of SQuAD v1.1 dev text with the MiniLM-L6 tokenizer and a short question."""

MAX_QUESTION_SHARE = 0.5
"""A question may take at most this share of a window; the rest is for the context."""

_INVISIBLE = {"\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u00ad"}


@dataclass(frozen=True)
class Window:
    """One model input: the question and a slice of the context, plus how tokens map back."""

    input_ids: list[int]
    token_type_ids: list[int] | None
    tokens: list[str]
    roles: list[Role]
    offsets: list[tuple[int, int]]
    """Character span of each token in its own text (question or context); ``(0, 0)`` for specials."""
    word_ids: list[int | None]
    """Index of the word a token belongs to, within its own text; ``None`` for specials."""

    @property
    def length(self) -> int:
        return len(self.input_ids)

    def context_positions(self) -> np.ndarray:
        """Token positions that hold context (the only places an answer may start or end)."""
        return context_positions(self.roles)

    def context_char_range(self) -> tuple[int, int]:
        """The slice of the context this window covers, start-inclusive, end-exclusive."""
        spans = [self.offsets[i] for i, role in enumerate(self.roles) if role == "context"]
        return (spans[0][0], spans[-1][1]) if spans else (0, 0)


def context_positions(roles: Sequence[Role]) -> np.ndarray:
    """Token positions whose role is ``context``, as an int64 array."""
    return np.array([i for i, role in enumerate(roles) if role == "context"], dtype=np.int64)


@dataclass(frozen=True)
class Encoding:
    """Every window of one (question, context) pair."""

    question: str
    context: str
    windows: tuple[Window, ...]
    max_length: int
    stride: int


def validate_text(question: str, context: str) -> None:
    """Reject input no model can answer, with a message that says what is wrong."""
    for label, text in (("question", question), ("context", context)):
        if not isinstance(text, str):
            raise TypeError(f"The {label} must be text, got {type(text).__name__}.")
        surrogate = _first_surrogate(text)
        if surrogate is not None:
            # The tokenizers library would fail with an unhelpful TypeError; such a code point is usually a byte
            # that was not valid UTF-8, smuggled in by ``surrogateescape`` (command-line arguments, file names).
            raise ValueError(
                f"The {label} is not valid Unicode text: it holds a lone surrogate (U+{ord(text[surrogate]):04X} at "
                f"character {surrogate}), usually a byte that was not valid UTF-8. Decode it as UTF-8, or with "
                "errors='replace'."
            )
        if not _visible(text):
            raise ValueError(f"The {label} is empty: type a {label} with at least one visible character.")


def _first_surrogate(text: str) -> int | None:
    """Index of the first code point in U+D800..U+DFFF, which UTF-8 cannot encode; ``None`` when there is none."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return error.start
    return None


def _visible(text: str) -> bool:
    return any(not ch.isspace() and ch not in _INVISIBLE and unicodedata.category(ch) != "Cf" for ch in text)


def encode(
    tokenizer: PreTrainedTokenizerBase,
    question: str,
    context: str,
    *,
    max_length: int = DEFAULT_MAX_LENGTH,
    stride: int = DEFAULT_STRIDE,
    max_windows: int = MAX_WINDOWS,
) -> Encoding:
    """Tokenise a pair into windows of at most ``max_length`` tokens overlapping by ``stride``.

    Raises ``TypeError`` for non-text and ``ValueError``, with a message that says what to change, for text no
    window can hold: empty or invisible, not valid Unicode (lone surrogates), a question over
    ``MAX_QUESTION_SHARE`` of a window, or a context needing more than ``max_windows`` windows.
    """
    validate_text(question, context)
    if stride < 0:
        raise ValueError(f"stride must be at least 0 (tokens shared by neighbouring windows), got {stride}.")
    question = question.strip()
    # verbose=False: a question longer than the model's limit is refused below, not warned about on stderr first.
    question_tokens = len(tokenizer(question, add_special_tokens=False, verbose=False)["input_ids"])
    if question_tokens == 0:
        raise ValueError("The question has no tokens this model's tokenizer can read.")
    if question_tokens > max_length * MAX_QUESTION_SHARE:
        raise ValueError(
            f"The question is {question_tokens} tokens long; at most {int(max_length * MAX_QUESTION_SHARE)} "
            f"fit in a {max_length}-token window. Shorten the question."
        )
    special_tokens = tokenizer.num_special_tokens_to_add(pair=True)
    room = max_length - question_tokens - special_tokens
    if room < 1:
        # The tokenizer would fail here, or silently return windows longer than max_length.
        raise ValueError(
            f"A {max_length}-token window has no room for the context: the question takes {question_tokens} tokens "
            f"and the special tokens {special_tokens}. Use a larger max_length or a shorter question."
        )
    stride = min(stride, room // 2)
    batch = tokenizer(
        question,
        context,
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
    count = len(batch["input_ids"])
    if count > max_windows:
        raise ValueError(
            f"The context needs {count} windows of {max_length} tokens; the limit is {max_windows} "
            f"(about {max_windows * (room - stride)} context tokens). Shorten the context or split it."
        )
    windows = tuple(_window(batch, index, tokenizer, question, context) for index in range(count))
    if not any(len(window.context_positions()) for window in windows):
        raise ValueError("The context has no tokens this model's tokenizer can read.")
    return Encoding(question=question, context=context, windows=windows, max_length=max_length, stride=stride)


def _window(batch: object, index: int, tokenizer: PreTrainedTokenizerBase, question: str, context: str) -> Window:
    input_ids: list[int] = list(batch["input_ids"][index])
    sequence_ids = batch.sequence_ids(index)
    word_ids = batch.word_ids(index)
    roles: list[Role] = []
    offsets: list[tuple[int, int]] = []
    for sequence_id, (start, end) in zip(sequence_ids, batch["offset_mapping"][index], strict=True):
        if sequence_id is None:
            roles.append("special")
            offsets.append((0, 0))
            continue
        roles.append("question" if sequence_id == 0 else "context")
        start, end = _trim_whitespace(context if sequence_id == 1 else question, int(start), int(end))
        offsets.append((start, end))
    type_ids = batch.get("token_type_ids")
    return Window(
        input_ids=input_ids,
        token_type_ids=list(type_ids[index]) if type_ids is not None else None,
        tokens=tokenizer.convert_ids_to_tokens(input_ids),
        roles=roles,
        offsets=offsets,
        word_ids=[None if role == "special" else word for role, word in zip(roles, word_ids, strict=True)],
    )


def _trim_whitespace(text: str, start: int, end: int) -> tuple[int, int]:
    """Byte-level BPE offsets may include the space before a word; answers must not."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
