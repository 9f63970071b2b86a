"""Failure groups: the slices of a run where the model fails most beyond its average, found automatically.

A slice finder in the spirit of Sliceline (Sagadeeva & Boehm, 2021), small enough to read:

1. **Candidates.** For each feature (the QA metadata and the example's own scalars in ``NUMERIC_FEATURES`` and
   ``CATEGORICAL_FEATURES``; the model's outputs in ``MODEL_FEATURES`` only when ``features`` names them): a
   numeric one gives ``x <= t`` and ``x > t`` at its 10th, 25th, 50th, 75th and 90th
   percentiles (rounded to two significant digits, so a group reads well and its expression selects exactly
   its members), or at each of its values when it has at most ``DISTINCT_VALUES``; a categorical one gives
   ``x == v`` for each value. A candidate needs ``min_support`` questions
   inside and outside (default: 1% of the questions, at least 20).
2. **Pairs.** The ``PAIRED`` best single candidates are combined two by two (different features, ``and``); a
   pair is kept when, inside each of its halves, its members fail significantly more than the half's others: a
   conjunction that only inherits one half's failures is not a group.
3. **Test.** Each candidate's outcome inside against outside: Fisher's exact test (one-sided, more errors
   inside) for right/wrong, Welch's t-test (one-sided) for a continuous outcome such as a drop in F1 between two
   checkpoints; p-values are adjusted for every candidate tried (Holm, 1979), so a group is reported only when
   it stands out after looking at all of them.
4. **Report.** Significant groups, the largest excess first, skipping a group that mostly lies inside one
   already listed, or holds it (``OVERLAP``).

Every group is a slice expression (``core.dataset.slices``), so it opens as a named slice. The outcome is the
official one: over questions (malformed records excluded), a question the model could not run on counts wrong.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import fisher_exact, ttest_ind

from core.dataset.slice_stats import question_scores
from core.dataset.slices import column_name, quote

NUMERIC_FEATURES: tuple[str, ...] = (
    "question_overlap",
    "answer_sentence",
    "answer_position",
    "context_length",
    "answer_words",
    "gold_answers_distinct",
    "windows",
    "question_tokens",
)
CATEGORICAL_FEATURES: tuple[str, ...] = ("question_type", "answer_type", "is_impossible", "title")
MODEL_FEATURES: tuple[str, ...] = ("score", "no_answer", "null_margin")
"""The model's own outputs: offered through ``features``, never used by default. A low score is wrong more often on
any data (on the first 704 SQuAD dev questions the only group found with them was ``score <= 0.5``); it says how
sure the model was, not where the questions are hard for it."""
QUANTILES: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)
DISTINCT_VALUES = 12
"""A numeric feature with at most this many values is split at each value rather than at its percentiles."""
PAIRED = 30
"""Single candidates (the most failing) combined two by two."""
OVERLAP = 0.7
"""A group with more than this share of its members inside an earlier, more failing group (or the other way
round) is not listed again."""
ALPHA = 0.05

Outcome = Literal["error", "mean"]


@dataclass(frozen=True)
class FailureGroup:
    """One group: its slice expression, words for it, size, outcome inside and outside, and its test."""

    expression: str
    description: str
    count: int
    rate: float
    """Error rate (outcome ``error``) or mean outcome (``mean``) inside the group."""
    rest_rate: float
    difference: float
    p_value: float
    adjusted_p_value: float
    """Holm's adjustment over every candidate tried."""


@dataclass(frozen=True)
class FailureGroupReport:
    """The groups found, and what was searched."""

    groups: list[FailureGroup]
    questions: int
    overall_rate: float
    min_support: int
    tried: int
    outcome: str
    features: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "groups": [asdict(group) for group in self.groups]}


@dataclass
class _Candidate:
    parts: list[tuple[str, str, str]]
    """(column, operator, literal) tests, and-ed."""
    mask: np.ndarray
    rate: float = 0.0
    rest_rate: float = 0.0
    p_value: float = 1.0

    @property
    def columns(self) -> set[str]:
        return {column for column, _operator, _literal in self.parts}

    @property
    def expression(self) -> str:
        return " and ".join(f"{column_name(column)} {operator} {literal}" for column, operator, literal in self.parts)

    @property
    def description(self) -> str:
        words = {"==": "is", "<=": "at most", ">": "above"}
        return " and ".join(
            f"{column.replace('_', ' ')} {words[operator]} {literal.strip(chr(39))}"
            for column, operator, literal in self.parts
        )


def _round(value: float) -> float:
    """Two significant digits: thresholds that read well (the expression uses exactly this number)."""
    if value == 0 or not math.isfinite(value):
        return float(value)
    return float(round(value, 1 - int(math.floor(math.log10(abs(value))))))


def _literal(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _single_candidates(rows: pd.DataFrame, features: list[str], keep: np.ndarray) -> list[_Candidate]:
    candidates = []
    for column in features:
        values = rows[column]
        if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
            numbers = pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
            present = np.isfinite(numbers) & keep
            if not present.any():
                continue
            distinct = np.unique(numbers[present])
            if len(distinct) <= DISTINCT_VALUES:  # a few values (windows, answer words): a test at each of them
                thresholds = [float(value) for value in distinct[:-1]]
            else:
                thresholds = sorted({_round(t) for t in np.quantile(numbers[present], QUANTILES)})
            for threshold in thresholds:
                literal = _literal(threshold)
                with np.errstate(invalid="ignore"):
                    candidates.append(_Candidate([(column, "<=", literal)], present & (numbers <= threshold)))
                    candidates.append(_Candidate([(column, ">", literal)], present & (numbers > threshold)))
        else:
            series = values.astype("object")
            for value in pd.unique(series[keep & series.notna().to_numpy()]):
                mask = keep & (series == value).to_numpy(dtype=bool)
                candidates.append(_Candidate([(column, "==", quote(value))], mask))
    return candidates


def _test(candidate: _Candidate, outcome: np.ndarray, keep: np.ndarray, kind: Outcome) -> None:
    inside, outside = outcome[candidate.mask], outcome[keep & ~candidate.mask]
    if len(inside) == 0 or len(outside) == 0:  # a pair's half wholly inside the other: nothing to test against
        candidate.rate = float(inside.mean()) if len(inside) else math.nan
        candidate.rest_rate = float(outside.mean()) if len(outside) else math.nan
        candidate.p_value = 1.0
        return
    candidate.rate, candidate.rest_rate = float(inside.mean()), float(outside.mean())
    if kind == "error":
        table = [
            [int(inside.sum()), int(len(inside) - inside.sum())],
            [int(outside.sum()), int(len(outside) - outside.sum())],
        ]
        candidate.p_value = float(fisher_exact(table, alternative="greater").pvalue)
    else:
        result = ttest_ind(inside, outside, equal_var=False, alternative="greater")
        candidate.p_value = float(result.pvalue) if np.isfinite(result.pvalue) else 1.0


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjustment of ``p_values`` (in their order)."""
    order = np.argsort(p_values, kind="stable")
    adjusted = np.empty(len(p_values))
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted.tolist()


def find_failure_groups(
    rows: pd.DataFrame,
    *,
    outcome: np.ndarray | None = None,
    kind: Outcome = "error",
    min_support: int | None = None,
    max_groups: int = 10,
    alpha: float = ALPHA,
    features: list[str] | None = None,
) -> FailureGroupReport:
    """The groups of ``rows`` (a ``load_run`` frame) that fail most beyond the rest (see the module docstring).

    ``outcome``: per row, what "failing" is (default: wrong, by the official rule); with ``kind="mean"`` any
    number where higher is worse (a comparison passes the drop in F1). ``features``: the columns to split on
    (default: ``NUMERIC_FEATURES`` and ``CATEGORICAL_FEATURES``; a numeric column splits at percentiles, text or
    boolean at values); an unknown name is a ``ValueError``.
    """
    unknown = [name for name in features or () if name not in rows]
    if unknown:
        raise ValueError(f"No column {', '.join(map(repr, unknown))} in the run's rows to group by.")
    scores = question_scores(rows)
    keep = scores.question.copy()
    if outcome is None:
        outcome, kind = (~scores.correct).astype(np.float64), "error"
    outcome = np.asarray(outcome, dtype=np.float64)
    keep &= np.isfinite(outcome)
    questions = int(keep.sum())
    support = min_support if min_support is not None else max(20, round(0.01 * questions))
    chosen = [name for name in (features or [*NUMERIC_FEATURES, *CATEGORICAL_FEATURES]) if name in rows]
    singles = [
        candidate
        for candidate in _single_candidates(rows, chosen, keep)
        if support <= int(candidate.mask.sum()) <= questions - support
    ]
    for candidate in singles:
        _test(candidate, outcome, keep, kind)
    best = sorted((c for c in singles if c.rate > c.rest_rate), key=lambda c: c.rest_rate - c.rate)[:PAIRED]
    pairs = []
    for first_index, first in enumerate(best):
        for second in best[first_index + 1 :]:
            if first.columns & second.columns:
                continue
            mask = first.mask & second.mask
            if not support <= int(mask.sum()) <= questions - support:
                continue
            pair = _Candidate([*first.parts, *second.parts], mask)
            _test(pair, outcome, keep, kind)
            pairs.append(pair)
    tried = [*singles, *pairs]
    adjusted = holm([candidate.p_value for candidate in tried]) if tried else []
    significant = [
        (candidate, value)
        for candidate, value in zip(tried, adjusted, strict=True)
        if value < alpha and candidate.rate > candidate.rest_rate and _adds(candidate, best, outcome, kind, alpha)
    ]
    significant.sort(key=lambda item: (item[0].rest_rate - item[0].rate, item[1]))
    groups: list[FailureGroup] = []
    listed: list[np.ndarray] = []
    for candidate, value in significant:
        if any(_overlap(candidate.mask, other) > OVERLAP for other in listed):
            continue
        listed.append(candidate.mask)
        groups.append(
            FailureGroup(
                expression=candidate.expression,
                description=candidate.description,
                count=int(candidate.mask.sum()),
                rate=candidate.rate,
                rest_rate=candidate.rest_rate,
                difference=candidate.rate - candidate.rest_rate,
                p_value=candidate.p_value,
                adjusted_p_value=value,
            )
        )
        if len(groups) == max_groups:
            break
    return FailureGroupReport(
        groups=groups,
        questions=questions,
        overall_rate=float(outcome[keep].mean()) if questions else float("nan"),
        min_support=support,
        tried=len(tried),
        outcome=kind,
        features=chosen,
    )


def _adds(candidate: _Candidate, singles: list[_Candidate], outcome: np.ndarray, kind: Outcome, alpha: float) -> bool:
    """A pair must fail significantly more than the rest of each of its halves (a nested test at ``alpha``): a
    conjunction that only inherits one half's failures is that half, not a group. Single candidates qualify."""
    if len(candidate.parts) == 1:
        return True
    for half in (single for single in singles if single.parts[0] in candidate.parts):
        nested = _Candidate(candidate.parts, candidate.mask)
        _test(nested, outcome, half.mask, kind)
        if nested.rate <= nested.rest_rate or nested.p_value >= alpha:
            return False
    return True


def _overlap(first: np.ndarray, second: np.ndarray) -> float:
    """The share of the smaller group inside the other (1 when one contains the other)."""
    smaller = min(int(first.sum()), int(second.sum()))
    return int((first & second).sum()) / smaller if smaller else 0.0


__all__ = [
    "ALPHA",
    "CATEGORICAL_FEATURES",
    "NUMERIC_FEATURES",
    "FailureGroup",
    "FailureGroupReport",
    "find_failure_groups",
    "holm",
]
