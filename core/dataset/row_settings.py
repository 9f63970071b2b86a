"""What decides a dataset run's row values: ``RowSettings``, recorded in the manifest and matched on resume."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.answering import DEFAULT_MAX_ANSWER_TOKENS, DEFAULT_TOP_K
from core.dataset.reading import SQUAD_V1
from core.encoding import DEFAULT_MAX_LENGTH, DEFAULT_STRIDE, MAX_WINDOWS
from core.models import LoadedModel
from core.types import METHODS, Method

DEFAULT_NULL_THRESHOLD = 0.0
"""SQuAD v2.0's no-answer threshold unless a run says otherwise: the explorer's default (``answers_null``)."""


EXPLAIN_OPTIONS: tuple[str, ...] = (
    "max_answer_tokens",
    "max_length",
    "stride",
    "max_windows",
    "ig_steps",
    "ig_max_steps",
)
"""Options of ``core.explain`` a dataset run passes through."""
SETTINGS_ADDED_LATER: dict[str, Any] = {"region_shares": False, "may_abstain": True}
"""Settings newer than some runs' manifests, with the value such a run had: a resume of an older run matches."""


@dataclass(frozen=True)
class RowSettings:
    """Everything that decides a row's values; a run's manifest records it and a resume must match it."""

    methods: tuple[Method, ...] = ("gradient_x_input",)
    top_k: int = DEFAULT_TOP_K
    max_answer_tokens: int = DEFAULT_MAX_ANSWER_TOKENS
    max_length: int = DEFAULT_MAX_LENGTH
    stride: int = DEFAULT_STRIDE
    max_windows: int = MAX_WINDOWS
    ig_steps: int | None = None
    ig_max_steps: int | None = None
    faithfulness: bool = False
    squad_version: str = SQUAD_V1
    null_threshold: float = DEFAULT_NULL_THRESHOLD
    """SQuAD v2.0 runs abstain when ``null_score - best_span_score`` exceeds this (``Explanation.answers_null``)."""
    region_shares: bool = False
    """Rows report the saliency share on each example's ``region`` (a robustness suite's inserted text)."""
    may_abstain: bool = True
    """Whether a SQuAD v2.0 run may answer "no answer". False for a robustness suite over a v1.1 run: its file
    holds unanswerable copies (the answer's sentence removed), scored by the v2.0 rules, but the model is asked
    the same way as in the run it checks, which always took the best span."""

    def __post_init__(self) -> None:
        unknown = [method for method in self.methods if method not in METHODS]
        if unknown:
            raise ValueError(f"Unknown saliency method(s) {unknown}; choose from {list(METHODS)}.")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"Saliency methods are listed twice: {list(self.methods)}.")
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1.")
        if self.max_answer_tokens < 1:
            raise ValueError("max_answer_tokens must be at least 1.")
        if self.max_length < 1:
            raise ValueError(f"max_length must be at least 1 token, not {self.max_length}.")
        if self.stride < 0:
            raise ValueError(f"stride must be at least 0 (tokens shared by neighbouring windows), not {self.stride}.")
        if self.max_windows < 1:
            raise ValueError(f"max_windows must be at least 1, not {self.max_windows}.")
        if self.ig_steps is not None and self.ig_steps < 2:
            raise ValueError(f"ig_steps must be at least 2 (the path's two ends are nodes), not {self.ig_steps}.")
        if self.ig_max_steps is not None and self.ig_max_steps < (self.ig_steps or 2):
            raise ValueError(f"ig_max_steps ({self.ig_max_steps}) must be at least ig_steps ({self.ig_steps or 2}).")
        if not math.isfinite(self.null_threshold):
            raise ValueError(f"null_threshold must be a finite number of logits, not {self.null_threshold}.")

    @classmethod
    def from_options(
        cls,
        methods: Sequence[str],
        top_k: int,
        faithfulness: bool,
        squad_version: str,
        options: dict[str, Any],
        null_threshold: float = 0.0,
        region_shares: bool = False,
        may_abstain: bool = True,
    ) -> RowSettings:
        """Settings from ``explain_dataset``'s arguments; unknown ``core.explain`` options are refused."""
        unknown = sorted(set(options) - set(EXPLAIN_OPTIONS))
        if unknown:
            raise ValueError(f"Unknown option(s) {unknown}; a dataset run accepts {list(EXPLAIN_OPTIONS)}.")
        return cls(
            methods=tuple(methods),  # type: ignore[arg-type]
            top_k=top_k,
            faithfulness=faithfulness,
            squad_version=squad_version,
            null_threshold=float(null_threshold),
            region_shares=region_shares,
            may_abstain=may_abstain,
            **{name: int(value) for name, value in options.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "methods": list(self.methods),
            "top_k": self.top_k,
            "max_answer_tokens": self.max_answer_tokens,
            "max_length": self.max_length,
            "stride": self.stride,
            "max_windows": self.max_windows,
            "ig_steps": self.ig_steps,
            "ig_max_steps": self.ig_max_steps,
            "faithfulness": self.faithfulness,
            "squad_version": self.squad_version,
            "null_threshold": self.null_threshold,
            "region_shares": self.region_shares,
            "may_abstain": self.may_abstain,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RowSettings:
        return cls(**{**data, "methods": tuple(data["methods"])})

    def schema(self) -> Any:
        """The Parquet schema of this run's rows (``core.dataset.schema.row_schema``)."""
        from core.dataset.schema import row_schema

        return row_schema(self.methods, self.faithfulness, self.region_shares)

    def explain_settings(self, loaded: LoadedModel) -> dict[str, Any]:
        """The ``Explanation.settings`` ``core.explain`` would record, so ``answer_window`` re-creates the window."""
        settings: dict[str, Any] = {
            "top_k": self.top_k,
            "max_answer_tokens": self.max_answer_tokens,
            "max_length": min(self.max_length, loaded.max_length),
            "stride": self.stride,
            "max_windows": self.max_windows,
        }
        if self.ig_steps is not None:
            settings["ig_steps"] = self.ig_steps
        if self.ig_max_steps is not None:
            settings["ig_max_steps"] = self.ig_max_steps
        return settings


__all__ = ["DEFAULT_NULL_THRESHOLD", "EXPLAIN_OPTIONS", "RowSettings"]
