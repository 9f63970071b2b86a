"""Re-answering the explanation's question over an edited context, cheaply, and saying what changed.

``reanswer`` runs only the answer pass on the edited text (``core.passes.answer_logits``: every window, the
fast attention path, no attention weights, no saliency) with the explanation's settings, and says what
changed: the new answer and top-k, where the original answer went (its characters mapped through the edits,
and its new probability), which top-k spans entered, left or moved, and a word-level diff. An edit history
that leaves the context as it was is answered from the explanation itself: its answer and top-k are what the
model gave for exactly that text. ``WhatIf.to_explanation`` runs the full ``core.explain`` when the user asks.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from core.answering import Span, softmax
from core.encoding import DEFAULT_MAX_LENGTH, DEFAULT_STRIDE, MAX_WINDOWS, Window, encode, validate_text
from core.explain import answer_spans, explain
from core.explanation import Explanation
from core.models import LoadedModel, load_model
from core.passes import answer_logits
from core.progress import ProgressCallback
from core.types import DEFAULT_METHODS, Method, Role
from core.whatif.diff import DiffOp, diff_texts
from core.whatif.edits import MASK_PLACEHOLDER, Edit
from core.whatif.history import EditHistory
from core.whatif.mapping import SpanStatus, invert_steps, map_span

ChangeStatus = Literal["same", "moved", "entered", "left"]


@dataclass(frozen=True)
class MappedSpan:
    """A span of the original context followed into the edited one, with its probability there."""

    original: Span
    start_char: int | None
    """Where it lies in the edited context (``None`` when an edit removed or touched it)."""
    end_char: int | None
    status: SpanStatus
    reason: str | None
    probability: float | None
    """``p_start * p_end`` of its tokens in the edited text's window that holds it (the best one when
    windows overlap); ``None`` when it was removed or no single window holds it."""
    window: int | None = None
    start_token: int | None = None
    end_token: int | None = None

    @property
    def probability_change(self) -> float | None:
        return None if self.probability is None else self.probability - self.original.score

    def to_dict(self) -> dict[str, Any]:
        return {
            "original": self.original.to_dict(),
            "start_char": self.start_char,
            "end_char": self.end_char,
            "status": self.status,
            "reason": self.reason,
            "probability": self.probability,
            "probability_change": self.probability_change,
            "window": self.window,
            "start_token": self.start_token,
            "end_token": self.end_token,
        }


@dataclass(frozen=True)
class SpanChange:
    """One top-k span before and after the edits, matched by its characters mapped through the edits.

    ``same``: same rank; ``moved``: another rank; ``left``: in the old top-k only (``new_score`` is its
    probability now, when it still exists); ``entered``: in the new top-k only (``old_score`` is its
    probability before, when its text existed in the explanation's window).
    """

    status: ChangeStatus
    text: str
    old_rank: int | None
    new_rank: int | None
    old_score: float | None
    new_score: float | None
    old_chars: tuple[int, int] | None
    """Its character span in the original context."""
    new_chars: tuple[int, int] | None
    """Its character span in the edited context."""

    @property
    def score_change(self) -> float | None:
        if self.old_score is None or self.new_score is None:
            return None
        return self.new_score - self.old_score

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "text": self.text,
            "old_rank": self.old_rank,
            "new_rank": self.new_rank,
            "old_score": self.old_score,
            "new_score": self.new_score,
            "score_change": self.score_change,
            "old_chars": list(self.old_chars) if self.old_chars else None,
            "new_chars": list(self.new_chars) if self.new_chars else None,
        }


@dataclass(frozen=True, eq=False)
class WhatIf:
    """The model's answer to the explanation's question over an edited context, and what changed."""

    explanation: Explanation
    """The original explanation (its context, settings and model)."""
    history: EditHistory
    """The edit steps from ``explanation.context`` to ``context``."""
    answer: Span
    """The new answer; its characters index ``context``."""
    top_k: tuple[Span, ...]
    original_answer: MappedSpan
    """The explanation's answer followed into the edited text."""
    top_k_changes: tuple[SpanChange, ...]
    """New top-k first (in new rank order), then the spans that left (in old rank order)."""
    diff: tuple[DiffOp, ...]
    num_windows: int
    settings: dict[str, Any]
    seconds: float

    @property
    def question(self) -> str:
        return self.explanation.question

    @property
    def original_context(self) -> str:
        return self.explanation.context

    @property
    def context(self) -> str:
        return self.history.context

    @property
    def answer_changed(self) -> bool:
        """Whether the new answer is another span than the original one (mapped through the edits)."""
        mapped = self.original_answer
        return (mapped.start_char, mapped.end_char) != (self.answer.start_char, self.answer.end_char)

    def to_explanation(
        self,
        model: str | LoadedModel | None = None,
        methods: Iterable[Method] = DEFAULT_METHODS,
        *,
        progress: ProgressCallback | None = None,
    ) -> Explanation:
        """The full ``core.explain`` (attention, saliency) of the edited context, with the same settings."""
        return explain_edited(self, model, methods, progress=progress)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the original explanation is referred to by model, question and context)."""
        return {
            "model": self.explanation.model,
            "question": self.question,
            "original_context": self.original_context,
            "context": self.context,
            "history": self.history.to_dict(),
            "answer": self.answer.to_dict(),
            "answer_changed": self.answer_changed,
            "top_k": [span.to_dict() for span in self.top_k],
            "original_answer": self.original_answer.to_dict(),
            "top_k_changes": [change.to_dict() for change in self.top_k_changes],
            "diff": [op.to_dict() for op in self.diff],
            "num_windows": self.num_windows,
            "settings": dict(self.settings),
            "seconds": self.seconds,
        }


def reanswer(
    explanation: Explanation,
    change: str | Edit | Iterable[Edit] | EditHistory,
    *,
    model: str | LoadedModel | None = None,
) -> WhatIf:
    """Answer the explanation's question again over an edited context: one answer pass, no saliency.

    ``change`` is the freely edited full context, one edit or a list of non-overlapping edits (in the
    explanation's context coordinates), or an ``EditHistory`` over the explanation's context. The settings
    (``max_length``, ``stride``, ``top_k``, ``max_answer_tokens``) are the explanation's; a change that leaves
    the context as it was gives back exactly its answer and top-k (from the explanation: no pass runs). Raises
    ``ValueError`` for edits outside the context, overlapping edits, or edits that leave it empty.
    """
    began = time.perf_counter()
    loaded = model if isinstance(model, LoadedModel) else load_model(model or explanation.model)
    history = _history(explanation, change, loaded)
    settings = _reanswer_settings(explanation)
    if history.context == explanation.context and loaded.name == explanation.model:
        top_k: list[Span] = list(explanation.top_k)
        num_windows = explanation.num_windows

        def follow(span: Span) -> MappedSpan:
            return MappedSpan(
                span,
                span.start_char,
                span.end_char,
                "kept",
                None,
                span.score,
                span.window,
                span.start_token,
                span.end_token,
            )

    else:
        encoding = encode(
            loaded.tokenizer,
            explanation.question,
            history.context,
            max_length=settings["max_length"],
            stride=settings["stride"],
            max_windows=settings["max_windows"],
        )
        logits = answer_logits(loaded, encoding.windows)
        top_k = answer_spans(encoding, logits, settings)
        num_windows = len(encoding.windows)
        start_probs = [softmax(window.start) for window in logits]
        end_probs = [softmax(window.end) for window in logits]

        def follow(span: Span) -> MappedSpan:
            mapping = history.map_span(span.start_char, span.end_char)
            if mapping.start_char is None or mapping.end_char is None:
                return MappedSpan(span, None, None, mapping.status, mapping.reason, None)
            found = _best_window_score(encoding.windows, start_probs, end_probs, mapping.start_char, mapping.end_char)
            if found is None:
                reason = "no single window of the edited context holds it"
                return MappedSpan(span, mapping.start_char, mapping.end_char, "kept", reason, None)
            probability, window, start_token, end_token = found
            return MappedSpan(
                span, mapping.start_char, mapping.end_char, "kept", None, probability, window, start_token, end_token
            )

    followed = [follow(span) for span in explanation.top_k]
    changes = _top_k_changes(explanation, history, followed, top_k)
    return WhatIf(
        explanation=explanation,
        history=history,
        answer=top_k[0],
        top_k=tuple(top_k),
        original_answer=followed[0] if explanation.top_k[0] == explanation.answer else follow(explanation.answer),
        top_k_changes=changes,
        diff=diff_texts(explanation.context, history.context),
        num_windows=num_windows,
        settings=settings,
        seconds=time.perf_counter() - began,
    )


def explain_edited(
    whatif: WhatIf,
    model: str | LoadedModel | None = None,
    methods: Iterable[Method] = DEFAULT_METHODS,
    *,
    progress: ProgressCallback | None = None,
) -> Explanation:
    """Run the full ``core.explain`` on a what-if's edited context with the original explanation's settings."""
    original = whatif.explanation
    settings = original.settings
    loaded = model if isinstance(model, LoadedModel) else load_model(model or original.model)
    optional = {name: settings[name] for name in ("ig_steps", "ig_max_steps", "ig_tolerance") if name in settings}
    return explain(
        original.question,
        whatif.context,
        loaded,
        methods,
        top_k=whatif.settings["top_k"],
        max_answer_tokens=whatif.settings["max_answer_tokens"],
        max_length=whatif.settings["max_length"],
        stride=whatif.settings["stride"],
        max_windows=whatif.settings["max_windows"],
        progress=progress,
        **optional,
    )


def _history(
    explanation: Explanation, change: str | Edit | Iterable[Edit] | EditHistory, loaded: LoadedModel
) -> EditHistory:
    if isinstance(change, EditHistory):
        if change.original != explanation.context:
            raise ValueError("This edit history starts from another context than the explanation's.")
        return change
    mask_token = loaded.tokenizer.mask_token or MASK_PLACEHOLDER
    if isinstance(change, str):
        validate_text(explanation.question, change)
    return EditHistory(explanation.context, mask_token=mask_token).push(change)


def _reanswer_settings(explanation: Explanation) -> dict[str, Any]:
    settings = explanation.settings
    return {
        "max_length": int(settings.get("max_length", DEFAULT_MAX_LENGTH)),
        "stride": int(settings.get("stride", DEFAULT_STRIDE)),
        "max_windows": int(settings.get("max_windows", MAX_WINDOWS)),
        "top_k": int(settings.get("top_k", len(explanation.top_k))),
        "max_answer_tokens": int(settings["max_answer_tokens"]),
    }


def _covering_tokens(
    roles: Sequence[Role], offsets: Sequence[tuple[int, int]], start_char: int, end_char: int
) -> tuple[int, int] | None:
    """First and one-past-last context token covering ``[start_char, end_char)``, if the tokens hold all of it."""
    covering = [
        position
        for position, (role, (low, high)) in enumerate(zip(roles, offsets, strict=True))
        if role == "context" and high > low and high > start_char and low < end_char
    ]
    if not covering:
        return None
    first, last = covering[0], covering[-1]
    if offsets[first][0] > start_char or offsets[last][1] < end_char:
        return None
    return first, last + 1


def _best_window_score(
    windows: Sequence[Window],
    start_probs: Sequence[np.ndarray],
    end_probs: Sequence[np.ndarray],
    start_char: int,
    end_char: int,
) -> tuple[float, int, int, int] | None:
    """``(p_start * p_end, window, start_token, end_token)`` in the window scoring the span best.

    The product is taken in float32 like ``core.answering``'s, so an untouched span scores exactly as it did.
    """
    best: tuple[float, int, int, int] | None = None
    for index, window in enumerate(windows):
        tokens = _covering_tokens(window.roles, window.offsets, start_char, end_char)
        if tokens is None:
            continue
        score = float(start_probs[index][tokens[0]] * end_probs[index][tokens[1] - 1])
        if best is None or score > best[0]:
            best = (score, index, tokens[0], tokens[1])
    return best


def _top_k_changes(
    explanation: Explanation, history: EditHistory, followed: Sequence[MappedSpan], top_k: Sequence[Span]
) -> tuple[SpanChange, ...]:
    new_rank = {(span.start_char, span.end_char): rank for rank, span in enumerate(top_k)}
    old_by_new_chars: dict[tuple[int, int], int] = {}
    for rank, mapped in enumerate(followed):
        if mapped.start_char is not None and mapped.end_char is not None:
            old_by_new_chars.setdefault((mapped.start_char, mapped.end_char), rank)
    inverse = invert_steps(explanation.context, history.steps)
    changes: list[SpanChange] = []
    for rank, span in enumerate(top_k):
        chars = (span.start_char, span.end_char)
        old = old_by_new_chars.get(chars)
        if old is not None:
            original = explanation.top_k[old]
            changes.append(
                SpanChange(
                    "same" if old == rank else "moved",
                    span.text,
                    old,
                    rank,
                    original.score,
                    span.score,
                    (original.start_char, original.end_char),
                    chars,
                )
            )
            continue
        back = map_span(span.start_char, span.end_char, inverse)
        old_chars = None if back.start_char is None or back.end_char is None else (back.start_char, back.end_char)
        old_score = None
        if old_chars is not None:
            tokens = _covering_tokens(explanation.roles, explanation.offsets, *old_chars)
            if tokens is not None:
                old_score = float(explanation.start_probs[tokens[0]] * explanation.end_probs[tokens[1] - 1])
        changes.append(SpanChange("entered", span.text, None, rank, old_score, span.score, old_chars, chars))
    for rank, mapped in enumerate(followed):
        chars = None if mapped.start_char is None or mapped.end_char is None else (mapped.start_char, mapped.end_char)
        if chars is not None and chars in new_rank:
            continue
        original = mapped.original
        changes.append(
            SpanChange(
                "left",
                original.text,
                rank,
                None,
                original.score,
                mapped.probability,
                (original.start_char, original.end_char),
                chars,
            )
        )
    return tuple(changes)


__all__ = ["ChangeStatus", "MappedSpan", "SpanChange", "WhatIf", "explain_edited", "reanswer"]
