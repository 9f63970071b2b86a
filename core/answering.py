"""Turning start/end logits into answer spans, across every window of a context.

A span's score is ``p_start(i) * p_end(j)`` where both probabilities are a softmax over the whole
window; spans must lie in the context, end at or after their start, be at most
``max_answer_tokens`` long, and start and end on tokens that cover at least one character.
Token spans are start-inclusive, end-exclusive, like character spans.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.encoding import Encoding, Window, context_positions
from core.types import Role

DEFAULT_TOP_K = 5
DEFAULT_MAX_ANSWER_TOKENS = 30


@dataclass(frozen=True)
class Span:
    """One candidate answer: its text is exactly ``context[start_char:end_char]``."""

    text: str
    score: float
    start_char: int
    end_char: int
    window: int
    start_token: int
    """First token of the span, a position in ``window``."""
    end_token: int
    """One past the last token of the span (end-exclusive)."""

    def to_dict(self) -> dict[str, object]:
        return {
            "text": self.text,
            "score": self.score,
            "start_char": self.start_char,
            "end_char": self.end_char,
            "window": self.window,
            "start_token": self.start_token,
            "end_token": self.end_token,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> Span:
        return cls(**data)  # type: ignore[arg-type]


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis, in float64 then back to float32."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def window_spans(
    window: Window,
    window_index: int,
    context: str,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    *,
    max_answer_tokens: int,
    top_k: int,
) -> list[Span]:
    """The best ``top_k`` spans inside one window's context tokens."""
    return candidate_spans(
        window.roles,
        window.offsets,
        context,
        start_logits,
        end_logits,
        window_index=window_index,
        max_answer_tokens=max_answer_tokens,
        top_k=top_k,
    )


def candidate_spans(
    roles: Sequence[Role],
    offsets: Sequence[tuple[int, int]],
    context: str,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    *,
    window_index: int = 0,
    max_answer_tokens: int,
    top_k: int,
) -> list[Span]:
    """The best ``top_k`` spans of a window given by its token roles and offsets (the rule in the module docstring)."""
    start_probs = softmax(start_logits)
    end_probs = softmax(end_logits)
    positions = context_positions(roles)
    if len(positions) == 0:
        return []
    scores = np.outer(start_probs[positions], end_probs[positions])
    distance = positions[None, :] - positions[:, None]
    # A byte-level BPE token that stands only for a space (a lone "Ġ" before an emoji or CJK text) covers no
    # characters: a span ending on it would carry that space into the answer's text, so spans start and end on
    # tokens that cover text (the same span without the space token is scored on its own).
    covers = np.array([offsets[p][1] > offsets[p][0] for p in positions])
    allowed = (distance >= 0) & (distance < max_answer_tokens) & covers[:, None] & covers[None, :]
    scores = np.where(allowed, scores, -1.0)
    flat = np.argsort(-scores, axis=None)[: max(top_k, 1) * 4]
    spans: list[Span] = []
    for start_row, end_col in zip(*np.unravel_index(flat, scores.shape), strict=True):
        if scores[start_row, end_col] < 0:
            break
        start_token, last_token = int(positions[start_row]), int(positions[end_col])
        start_char = offsets[start_token][0]
        end_char = offsets[last_token][1]
        if end_char <= start_char:
            continue
        spans.append(
            Span(
                text=context[start_char:end_char],
                score=float(scores[start_row, end_col]),
                start_char=start_char,
                end_char=end_char,
                window=window_index,
                start_token=start_token,
                end_token=last_token + 1,
            )
        )
    return spans


def best_span(
    roles: Sequence[Role],
    offsets: Sequence[tuple[int, int]],
    context: str,
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    *,
    window_index: int = 0,
    max_answer_tokens: int = DEFAULT_MAX_ANSWER_TOKENS,
) -> Span:
    """The one span the rule picks from these logits, as for the answer itself.

    Used on logits the model never answered from (the QA head applied to an inner layer), where every
    candidate may cover only whitespace: then the best context token pair is returned with empty text.
    """
    found = candidate_spans(
        roles,
        offsets,
        context,
        start_logits,
        end_logits,
        window_index=window_index,
        max_answer_tokens=max_answer_tokens,
        top_k=1,
    )
    if found:
        return found[0]
    positions = context_positions(roles)
    if len(positions) == 0:
        raise ValueError("The window has no context tokens to pick a span from.")
    scores = np.outer(softmax(start_logits)[positions], softmax(end_logits)[positions])
    distance = positions[None, :] - positions[:, None]
    scores = np.where((distance >= 0) & (distance < max_answer_tokens), scores, -1.0)
    row, column = np.unravel_index(int(np.argmax(scores)), scores.shape)
    start, last = int(positions[row]), int(positions[column])
    return Span("", float(scores[row, column]), 0, 0, window_index, start, last + 1)


def spans_per_layer(
    roles: Sequence[Role],
    offsets: Sequence[tuple[int, int]],
    context: str,
    layer_start_logits: np.ndarray,
    layer_end_logits: np.ndarray,
    *,
    window_index: int = 0,
    max_answer_tokens: int = DEFAULT_MAX_ANSWER_TOKENS,
) -> list[Span]:
    """``best_span`` of every row of ``[layers + 1, tokens]`` logits (the QA head on each layer's hidden states)."""
    return [
        best_span(
            roles,
            offsets,
            context,
            start,
            end,
            window_index=window_index,
            max_answer_tokens=max_answer_tokens,
        )
        for start, end in zip(layer_start_logits, layer_end_logits, strict=True)
    ]


def best_spans(
    encoding: Encoding,
    start_logits: list[np.ndarray],
    end_logits: list[np.ndarray],
    *,
    max_answer_tokens: int = DEFAULT_MAX_ANSWER_TOKENS,
    top_k: int = DEFAULT_TOP_K,
) -> list[Span]:
    """The ``top_k`` distinct spans (by character range) over all windows, best first."""
    if max_answer_tokens < 1:
        raise ValueError("max_answer_tokens must be at least 1.")
    candidates: list[Span] = []
    for index, window in enumerate(encoding.windows):
        candidates.extend(
            window_spans(
                window,
                index,
                encoding.context,
                start_logits[index],
                end_logits[index],
                max_answer_tokens=max_answer_tokens,
                top_k=top_k,
            )
        )
    candidates.sort(key=lambda span: span.score, reverse=True)
    seen: set[tuple[int, int]] = set()
    distinct: list[Span] = []
    for span in candidates:
        if (span.start_char, span.end_char) in seen:
            continue
        seen.add((span.start_char, span.end_char))
        distinct.append(span)
        if len(distinct) == top_k:
            break
    if not distinct:
        raise ValueError("No answer span could be found in the context.")
    return distinct
