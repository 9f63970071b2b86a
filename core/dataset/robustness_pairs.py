"""A robustness suite's pairs and figures: one row per (original, perturbed copy), rates with 95% intervals.

Per pair (``pairs.parquet``), when both the original and the copy ran:

- ``changed``: the copy's prediction differs from the original's after SQuAD normalisation (an abstention is the
  empty answer): the **flip rate** is the share of pairs that changed, whatever the family expects;
- ``captured``: for a copy with inserted or replaced text (``region``), the prediction lies wholly inside it;
- ``failed``: the family's expectation broken. Invariance: ``changed``. Distractor: ``captured``. Removing the
  answer's sentence: not ``changed`` (the model still gives the answer whose evidence is gone). Replacing the
  answer: the copy's EM against the replacement is not 1 (the prediction did not follow it);
- ``f1_drop``: the original's F1 minus the copy's, for families whose gold answers are unchanged (invariance and
  distractor); a counterfactual's gold changed, so its F1s are not comparable;
- ``region_share``: the share of the copy's saliency on the region (the run's first method, mean of start and
  end), null when the region lies outside the answer's window.

A copy that could not be made has ``applied`` false and its ``reason``; a pair whose original or copy could not
run has ``error`` and counts in no rate. Rates carry Wilson score intervals (``scipy.stats.binomtest``), F1 drops
the percentile bootstrap (``slice_stats.bootstrap_means``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from core.dataset.metrics import normalize_answer
from core.dataset.perturbations import (
    COUNTERFACTUAL,
    DISTRACTOR,
    INVARIANCE,
    Family,
    Perturbed,
    Skipped,
    perturbed_id,
)
from core.dataset.slice_stats import bootstrap_means
from core.dataset.slices import column_name, quote, slice_mask
from core.types import TARGETS

SLICE_COLUMNS = ("question_type", "answer_type")
"""Metadata columns whose every value is a slice of the per-slice figures (with the run's saved slices)."""
CONFIDENCE = 0.95
_ORIGINAL = ("prediction", "prediction_start", "prediction_end", "em", "f1", "correct")


def _value(row: pd.Series | None, column: str) -> Any:
    if row is None or column not in row.index:
        return None
    value = row[column]
    if isinstance(value, float | np.floating) and np.isnan(value):
        return None
    return None if value is pd.NA or value is None else value.item() if hasattr(value, "item") else value


def _region_share(row: pd.Series, methods: Sequence[str]) -> float | None:
    if not methods:
        return None
    shares = [_value(row, f"saliency_region_share.{methods[0]}.{target}") for target in TARGETS]
    known = [float(share) for share in shares if share is not None]
    return float(np.mean(known)) if known else None


def _failed(item: Perturbed, changed: bool, captured: bool | None, em: float | None) -> bool:
    if item.kind == INVARIANCE:
        return changed
    if item.kind == DISTRACTOR:
        return bool(captured)
    if item.family == "remove_answer_sentence":
        return not changed
    return em != 1.0


def _pair(
    item: Perturbed | Skipped, original: pd.Series | None, copy: pd.Series | None, methods: Sequence[str]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": perturbed_id(item.original_id, item.family, item.copy),
        "original_id": item.original_id,
        "family": item.family,
        "kind": item.kind,
        "copy": item.copy,
        "seed": item.seed,
        "applied": isinstance(item, Perturbed),
        "reason": item.reason if isinstance(item, Skipped) else None,
        "edit": item.edit if isinstance(item, Perturbed) else None,
        "expectation": item.expectation if isinstance(item, Perturbed) else None,
        "original_question": _value(original, "question"),
        **{f"original_{name}": _value(original, name) for name in _ORIGINAL},
    }
    if not isinstance(item, Perturbed):
        return row
    region = item.region
    row.update(
        question=item.example.question,
        context=item.example.context,
        gold_answers=list(item.example.answers),
        region_start=region[0] if region else None,
        region_end=region[1] if region else None,
        **{name: _value(copy, name) for name in (*_ORIGINAL, "no_answer")},
    )
    error = _value(original, "error") or _value(copy, "error") or (None if copy is not None else "not run")
    row["error"] = error
    if error is not None:
        return row
    changed = normalize_answer(row["original_prediction"] or "") != normalize_answer(row["prediction"] or "")
    captured = None
    if region is not None:
        start, end = row["prediction_start"], row["prediction_end"]
        captured = bool(row["prediction"]) and start is not None and region[0] <= start and end <= region[1]
    row.update(changed=changed, captured=captured, failed=_failed(item, changed, captured, row["em"]))
    if item.kind in (INVARIANCE, DISTRACTOR):
        row["f1_drop"] = float(row["original_f1"]) - float(row["f1"])
    row["region_share"] = _region_share(copy, methods) if region is not None else None
    return row


PAIR_COLUMNS: tuple[str, ...] = (
    "id",
    "original_id",
    "family",
    "kind",
    "copy",
    "seed",
    "applied",
    "reason",
    "edit",
    "expectation",
    "original_question",
    "original_prediction",
    "original_prediction_start",
    "original_prediction_end",
    "original_em",
    "original_f1",
    "original_correct",
    "question",
    "context",
    "gold_answers",
    "region_start",
    "region_end",
    "prediction",
    "prediction_start",
    "prediction_end",
    "em",
    "f1",
    "correct",
    "no_answer",
    "error",
    "changed",
    "captured",
    "failed",
    "f1_drop",
    "region_share",
)


def build_pairs(
    results: Sequence[Perturbed | Skipped],
    original_rows: pd.DataFrame,
    perturbed_rows: pd.DataFrame | None,
    methods: Sequence[str],
) -> pd.DataFrame:
    """One row per perturbation tried (see the module docstring), in the order they were made."""
    originals = original_rows.set_index("id", drop=False)
    copies = perturbed_rows.set_index("id", drop=False) if perturbed_rows is not None else None
    rows = []
    for item in results:
        original = originals.loc[item.original_id] if item.original_id in originals.index else None
        copy = None
        if isinstance(item, Perturbed) and copies is not None and item.example.id in copies.index:
            copy = copies.loc[item.example.id]
        rows.append(_pair(item, original, copy, methods))
    frame = pd.DataFrame(rows, columns=list(PAIR_COLUMNS))
    for column in ("applied", "changed", "captured", "failed", "original_correct", "correct", "no_answer"):
        frame[column] = frame[column].astype("boolean")
    for column in ("copy", "seed", "region_start", "region_end", "prediction_start", "prediction_end"):
        frame[column] = frame[column].astype("Int64")
    for column in ("original_prediction_start", "original_prediction_end"):
        frame[column] = frame[column].astype("Int64")
    for column in ("original_em", "original_f1", "em", "f1", "f1_drop", "region_share"):
        frame[column] = frame[column].astype("Float64")
    return frame


def rate(successes: int, count: int) -> dict[str, float | int | None]:
    """A share with its 95% Wilson score interval (``None`` over no pairs)."""
    if count == 0:
        return {"count": 0, "hits": 0, "rate": None, "low": None, "high": None}
    interval = binomtest(successes, count).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return {
        "count": count,
        "hits": successes,
        "rate": successes / count,
        "low": float(interval.low),
        "high": float(interval.high),
    }


def _mean_interval(values: np.ndarray, seed: int) -> dict[str, float | None]:
    if len(values) == 0:
        return {"mean": None, "low": None, "high": None}
    low, high = bootstrap_means(values, seed=seed)[0]
    return {"mean": float(values.mean()), "low": float(low), "high": float(high)}


def _evaluable(pairs: pd.DataFrame) -> pd.DataFrame:
    return pairs[pairs["applied"].fillna(False).astype(bool) & pairs["error"].isna()]


def family_figures(pairs: pd.DataFrame, family: Family, seed: int = 0) -> dict[str, Any]:
    """One family's figures over its pairs."""
    mine = pairs[pairs["family"] == family.name]
    applied = mine[mine["applied"].fillna(False).astype(bool)]
    done = _evaluable(mine)
    reasons = Counter(mine.loc[~mine["applied"].fillna(False).astype(bool), "reason"].dropna())
    with_region = done[done["captured"].notna()]
    drops = done["f1_drop"].dropna().to_numpy(dtype=np.float64)
    shares = done["region_share"].dropna().to_numpy(dtype=np.float64)
    figures = {
        "family": family.name,
        "kind": family.kind,
        "expectation": family.expectation,
        "tried": int(len(mine)),
        "applied": int(len(applied)),
        "skipped": int(len(mine) - len(applied)),
        "skip_reasons": dict(reasons.most_common(5)),
        "errors": int(len(applied) - len(done)),
        "flip": rate(int(done["changed"].sum()), len(done)),
        "failure": rate(int(done["failed"].sum()), len(done)),
        "capture": rate(int(with_region["captured"].sum()), len(with_region)) if len(with_region) else None,
        "f1_drop": {key: None if value is None else 100.0 * value for key, value in _mean_interval(drops, seed).items()}
        if family.kind != COUNTERFACTUAL
        else None,
        "original_f1": 100.0 * float(done["original_f1"].mean()) if len(done) else None,
        "perturbed_f1": 100.0 * float(done["f1"].mean()) if len(done) else None,
        "region_share": float(shares.mean()) if len(shares) else None,
    }
    return figures


def _slices(original_rows: pd.DataFrame, saved: Sequence[Any]) -> list[tuple[str, str, np.ndarray]]:
    """(name, expression, mask over the original rows) for each metadata value and each saved slice."""
    found = []
    for column in SLICE_COLUMNS:
        if column not in original_rows:
            continue
        for value in sorted(original_rows[column].dropna().unique(), key=str):
            expression = f"{column_name(column)} == {quote(value)}"
            found.append((f"{column} = {value}", expression, (original_rows[column] == value).fillna(False).to_numpy()))
    for saved_slice in saved:
        try:
            found.append((saved_slice.name, saved_slice.expression, slice_mask(original_rows, saved_slice.expression)))
        except ValueError:
            continue  # a saved slice over columns this run lacks: the Dataset page says so where it is chosen
    return found


def summarize_suite(
    pairs: pd.DataFrame, original_rows: pd.DataFrame, families: Sequence[Family], saved: Sequence[Any] = ()
) -> dict[str, Any]:
    """``summary.json``: each family's figures, then the flip and failure rates of each family in each slice."""
    done = _evaluable(pairs)
    slice_rows = []
    for name, expression, mask in _slices(original_rows, saved):
        inside = set(original_rows.loc[np.asarray(mask, dtype=bool), "id"])
        in_slice = done[done["original_id"].isin(inside)]
        for family in families:
            mine = in_slice[in_slice["family"] == family.name]
            slice_rows.append(
                {
                    "family": family.name,
                    "slice": name,
                    "expression": expression,
                    "flip": rate(int(mine["changed"].sum()), len(mine)),
                    "failure": rate(int(mine["failed"].sum()), len(mine)),
                }
            )
    return {
        "confidence": CONFIDENCE,
        "families": [family_figures(pairs, family) for family in families],
        "slices": slice_rows,
    }


__all__ = ["PAIR_COLUMNS", "SLICE_COLUMNS", "build_pairs", "family_figures", "rate", "summarize_suite"]
