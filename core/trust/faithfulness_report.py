"""The result of a faithfulness evaluation: each explainer's curves and scores, and their ranking.

Computed by ``core.trust.faithfulness``; kept apart so a report, a dashboard view or a dataset run can read
results without the code that computes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

RANDOM = "random"

METRICS: tuple[str, ...] = ("deletion_aopc", "insertion_aopc", "comprehensiveness", "sufficiency")
HIGHER_IS_BETTER: dict[str, bool] = {
    "deletion_aopc": True,
    "insertion_aopc": True,
    "comprehensiveness": True,
    "sufficiency": False,
}


@dataclass(frozen=True)
class ExplainerFaithfulness:
    """The curves and scores of one explainer (or of the random baseline) on one example."""

    name: str
    kind: str
    """``saliency``, ``attention``, ``random`` or ``custom`` (an order passed in ``orders``)."""
    order: list[int]
    """Context token positions, most important first (``random``: its first permutation)."""
    deletion: list[float]
    """``p`` with the top ``ceil(f * n)`` context tokens removed, one value per fraction."""
    insertion: list[float]
    """``p`` with only the top ``ceil(f * n)`` context tokens kept, one value per fraction."""
    deletion_aopc: float
    insertion_aopc: float
    comprehensiveness: float
    sufficiency: float
    comprehensiveness_at: list[float]
    """``p_orig - p(without top k)`` per ERASER fraction."""
    sufficiency_at: list[float]
    """``p_orig - p(only top k)`` per ERASER fraction."""
    deletion_aopc_normalised: float | None = None
    insertion_aopc_normalised: float | None = None
    deletion_std: list[float] | None = None
    """Random baseline only: the spread of the deletion curve over its permutations."""
    insertion_std: list[float] | None = None
    beats_random: dict[str, bool] = field(default_factory=dict)
    """Per metric, whether this explainer does better than the random order (empty for ``random``)."""

    def metrics(self) -> dict[str, float]:
        return {name: float(getattr(self, name)) for name in METRICS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "deletion_aopc": self.deletion_aopc,
            "insertion_aopc": self.insertion_aopc,
            "comprehensiveness": self.comprehensiveness,
            "sufficiency": self.sufficiency,
            "deletion_aopc_normalised": self.deletion_aopc_normalised,
            "insertion_aopc_normalised": self.insertion_aopc_normalised,
            "deletion": list(self.deletion),
            "insertion": list(self.insertion),
            "comprehensiveness_at": list(self.comprehensiveness_at),
            "sufficiency_at": list(self.sufficiency_at),
            "deletion_std": None if self.deletion_std is None else list(self.deletion_std),
            "insertion_std": None if self.insertion_std is None else list(self.insertion_std),
            "beats_random": dict(self.beats_random),
            "order": list(self.order),
        }


@dataclass(frozen=True)
class FaithfulnessReport:
    """Faithfulness of every explainer on one example, beside a random baseline."""

    model: str
    question: str
    answer_text: str
    answer_start_token: int
    answer_end_token: int
    fractions: list[float]
    eraser_fractions: list[float]
    replacement_token: str
    replacement_id: int
    combine: str
    original_probability: float
    """``p`` of the answer on the unmodified window (this module's own forward pass)."""
    empty_probability: float
    """``p`` of the answer with every context token replaced."""
    num_context_tokens: int
    explainers: dict[str, ExplainerFaithfulness]
    """Every explainer by name, and ``random``."""
    random_orders: int
    seed: int
    inputs_requested: int
    forward_passes: int
    """Sequences run through the model (unique masked inputs)."""
    batches: int
    seconds: float
    precision: str = "float32"

    @property
    def names(self) -> list[str]:
        """Explainer names without the random baseline."""
        return [name for name in self.explainers if name != RANDOM]

    def ranking(self) -> list[dict[str, Any]]:
        """One row per explainer and ``random``, best first.

        Each metric is ranked over the rows (1 = best; sufficiency lower-is-better, the others
        higher-is-better, see ``HIGHER_IS_BETTER``); rows are sorted by the mean of their four ranks,
        then by deletion AOPC. ``beats_random`` counts the metrics on which a row beats ``random``.
        """
        names = list(self.explainers)
        ranks: dict[str, list[int]] = {name: [] for name in names}
        for metric in METRICS:
            sign = -1.0 if HIGHER_IS_BETTER[metric] else 1.0
            values = np.array([sign * getattr(self.explainers[name], metric) for name in names])
            order = np.argsort(values, kind="stable")
            position = np.empty(len(names), dtype=np.int64)
            position[order] = np.arange(1, len(names) + 1)
            for index, name in enumerate(names):
                ranks[name].append(int(position[index]))
        rows = []
        for name in names:
            item = self.explainers[name]
            rows.append(
                {
                    "name": name,
                    "kind": item.kind,
                    **item.metrics(),
                    "mean_rank": float(np.mean(ranks[name])),
                    "beats_random": sum(item.beats_random.values()) if name != RANDOM else None,
                }
            )
        rows.sort(key=lambda row: (row["mean_rank"], -row["deletion_aopc"]))
        for rank, row in enumerate(rows, start=1):
            row["rank"] = rank
        return rows

    def removed_tokens(self, name: str, fraction: float) -> list[int]:
        """Context token positions the deletion curve of ``name`` has removed at ``fraction``."""
        order = self.explainers[name].order
        return sorted(order[: removed_count(fraction, len(order))])

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "question": self.question,
            "answer": {
                "text": self.answer_text,
                "start_token": self.answer_start_token,
                "end_token": self.answer_end_token,
            },
            "settings": self.settings(),
            "original_probability": self.original_probability,
            "empty_probability": self.empty_probability,
            "num_context_tokens": self.num_context_tokens,
            "inputs_requested": self.inputs_requested,
            "forward_passes": self.forward_passes,
            "batches": self.batches,
            "seconds": self.seconds,
            "explainers": {name: item.to_dict() for name, item in self.explainers.items()},
            "ranking": self.ranking(),
        }

    def settings(self) -> dict[str, Any]:
        """How the curves were made: fractions, replacement token, importance combination, baseline."""
        return {
            "fractions": list(self.fractions),
            "eraser_fractions": list(self.eraser_fractions),
            "replacement_token": self.replacement_token,
            "replacement_id": self.replacement_id,
            "combine": self.combine,
            "random_orders": self.random_orders,
            "seed": self.seed,
            "precision": self.precision,
            "higher_is_better": dict(HIGHER_IS_BETTER),
            "tokens_removed": "ceil(fraction * context tokens), context tokens only, positions kept",
            "probability": "p_start(answer start) * p_end(answer end - 1), softmax over the window",
        }


def removed_count(fraction: float, total: int) -> int:
    """Tokens a fraction stands for: ``ceil(fraction * total)`` (so 1 % of a short context is one token)."""
    return min(total, max(0, math.ceil(fraction * total - 1e-9)))


__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS",
    "RANDOM",
    "ExplainerFaithfulness",
    "FaithfulnessReport",
    "removed_count",
]
