"""The answer on show, and everything sliced from it: attention maps, saliency rows, head statistics.

Slices are computed once per answer and kept until the next one, so a layer, head, method or
target switch is a lookup. Nothing here runs a model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import param

import core
from core import THUMBNAIL_SIZE, head_links, head_statistics, head_thumbnails
from core.types import EXPLAINABLE_TARGETS


def saliency_peak(values: np.ndarray, roles: Sequence[str], without_special: bool = True) -> float:
    """The |score| that means full strength: the largest among question and context tokens (or all tokens).

    Special tokens often carry the largest scores; scaling by them would leave the words nearly blank.
    """
    values = np.abs(np.nan_to_num(np.asarray(values, dtype=np.float64)))
    if without_special:
        words = values[np.asarray(roles) != "special"] if len(values) else values
        if words.size and words.max() > 0:
            return float(words.max())
    return float(values.max(initial=0.0))


def scaled_saliency(values: np.ndarray, roles: Sequence[str], without_special: bool = True) -> tuple[np.ndarray, float]:
    """``values / saliency_peak`` capped to [-1, 1], and the peak (values unchanged when it is 0)."""
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    peak = saliency_peak(values, roles, without_special)
    return (np.clip(values / peak, -1.0, 1.0) if peak > 0 else values), peak


class Result(param.Parameterized):
    """The current ``Explanation`` and its derived data."""

    explanation = param.ClassSelector(
        class_=core.Explanation,
        default=None,
        allow_None=True,
        doc="The current result; replaced when integrated gradients arrive (same tokens, more saliency).",
    )
    result_id = param.Integer(
        default=0,
        doc="Incremented when a new answer arrives (not when saliency is filled in): views that depend "
        "only on tokens and attention redraw on this.",
    )
    saliency_revision = param.Integer(
        default=0, doc="Incremented whenever the saliency on show changes (a new answer, integrated gradients)."
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._derived: dict[Any, Any] = {}

    # ------------------------------------------------------------------ changing it

    def show(self, explanation: core.Explanation | None) -> None:
        """A new answer (or none): every view redraws."""
        self._derived = {}
        self.param.update(
            explanation=explanation,
            result_id=self.result_id + 1,
            saliency_revision=self.saliency_revision + 1,
        )

    def add_saliency(self, explanation: core.Explanation) -> None:
        """The same answer with more saliency: only the saliency views redraw."""
        self.param.update(explanation=explanation, saliency_revision=self.saliency_revision + 1)

    # ------------------------------------------------------------------ reading it

    @property
    def num_tokens(self) -> int:
        return 0 if self.explanation is None else self.explanation.num_tokens

    def require(self) -> core.Explanation:
        """The explanation, or a ``ValueError`` a caption can show."""
        if self.explanation is None:
            raise ValueError("Nothing to show yet: run a question first.")
        return self.explanation

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """``compute()`` once per answer and ``key``."""
        full_key = (self.result_id, key)
        if full_key not in self._derived:
            self._derived[full_key] = compute()
        return self._derived[full_key]

    def token_labels(self) -> list[str]:
        """What to print for each token (``Explanation.token_labels``)."""
        return self.cached("labels", self.require().token_labels)

    def answer_positions(self) -> range:
        explanation = self.require()
        return range(explanation.answer.start_token, explanation.answer.end_token)

    def attention_map(self, layer: int, head: int | str) -> np.ndarray:
        """The ``[tokens, tokens]`` map of ``layer`` and ``head`` (an index, ``mean`` or ``rollout``)."""
        explanation = self.require()
        layer = min(max(int(layer), 0), explanation.num_layers - 1)
        if head == "mean":
            return self.cached("mean", explanation.mean_attention)[layer]
        if head == "rollout":
            return self.cached("rollout", explanation.rollout)[layer]
        return explanation.attentions[layer, int(head)]

    def question_attention(self, layer: int, head: int | str) -> np.ndarray:
        """Mean attention from the question's tokens to each context token, ``[tokens]`` (0 elsewhere)."""
        return core.question_to_context(self.attention_map(layer, head), self.require().roles)

    def head_links(self, layer: int, head: int | str, selected: Sequence[int]) -> dict[str, np.ndarray]:
        """The head view's lines for this map and selection (``core.attention.head_links``)."""
        return head_links(self.attention_map(layer, head), selected)

    def saliency_values(self, method: str, target: str) -> np.ndarray | None:
        """Saliency ``[tokens]`` for a method and target; ``None`` while not computed."""
        per_target = self.require().saliency.get(method)
        return None if per_target is None else per_target.get(target)

    def saliency_rows(self) -> list[tuple[str, str]]:
        """(method, target) for every row of the saliency heatmap, in display order: the default methods'
        start and end (grey while computing), and every other map computed on request."""
        computed = {} if self.explanation is None else self.explanation.saliency
        return [
            (method, target)
            for method in core.METHODS
            for target in EXPLAINABLE_TARGETS
            if (method in core.DEFAULT_METHODS and target in core.TARGETS) or target in computed.get(method, {})
        ]

    def saliency_matrix(self, without_special: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Raw and row-normalised saliency ``[method x target, tokens]``; rows not yet computed are NaN.

        Each row is divided by its ``saliency_peak``, so methods with different units share one colour
        scale (-1 to 1); values beyond it (special tokens) are capped.
        """
        explanation = self.require()
        rows = self.saliency_rows()
        raw = np.full((len(rows), explanation.num_tokens), np.nan, dtype=np.float64)
        for index, (method, target) in enumerate(rows):
            values = explanation.saliency.get(method, {}).get(target)
            if values is not None:
                raw[index] = values
        normalised = np.full_like(raw, np.nan)
        for index, row in enumerate(raw):
            if not np.isnan(row).all():
                normalised[index] = scaled_saliency(row, explanation.roles, without_special)[0]
        return raw, normalised

    def head_thumbnails(self, size: int = THUMBNAIL_SIZE) -> np.ndarray:
        """Every head's map block-averaged to at most ``size`` x ``size`` (``core.attention.head_thumbnails``)."""
        return self.cached(("thumbnails", size), lambda: head_thumbnails(self.require().attentions, size))

    def head_statistics(self) -> dict[str, np.ndarray]:
        """Per-head figures, each ``[layers, heads]`` (``core.attention.head_statistics``)."""

        def compute() -> dict[str, np.ndarray]:
            explanation = self.require()
            return head_statistics(explanation.attentions, explanation.roles, self.answer_positions())

        return self.cached("head_statistics", compute)


__all__ = ["Result", "saliency_peak", "scaled_saliency"]
