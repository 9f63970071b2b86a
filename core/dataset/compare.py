"""Checkpoint against checkpoint: two runs over the same data, question by question.

``compare_runs(a, b)`` pairs the two runs' rows by id and reports, over the questions (malformed records
excluded; a question a run could not answer counts wrong there, with EM = F1 = 0, as in its summary):

- the **flip matrix**: questions both got right, only A, only B, neither (right: EM = 1);
- **ΔEM and ΔF1** (B - A, in points) with 95% **paired** bootstrap intervals: each resample draws questions and
  takes both runs' scores of the same questions, so the interval reflects the difference, not two noises;
- **per-slice differences**, regressions first: the failure-group finder (``core.dataset.failure_groups``) run on
  each question's drop in F1 (A's F1 minus B's), so it lists the groups where B lost the most against its own
  average, and every slice saved in either run (``slices.json``) with its ΔEM and ΔF1;
- one row per question (``examples``): both predictions and scores, the flip, ΔF1 and A's QA metadata, for the
  page's scatter of F1 A against F1 B and for opening any question with both models side by side.

Runs over different data are refused: the same input file (its sha256) and the same questions (ids) in both.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.dataset.failure_groups import FailureGroupReport, find_failure_groups
from core.dataset.manifest import write_json
from core.dataset.metadata import METADATA_COLUMNS
from core.dataset.slice_stats import RESAMPLES, bootstrap_means, question_scores
from core.dataset.slices import Slice, SliceError, load_slices, slice_mask
from core.dataset.store import Run, load_run, write_table

FLIPS: tuple[str, ...] = ("both right", "A only", "B only", "both wrong")
COMPARISON = "comparison.json"
EXAMPLES = "examples.parquet"


class RunsDifferError(ValueError):
    """Two runs that are not over the same questions cannot be compared question by question."""


@dataclass(frozen=True)
class SliceDifference:
    """One slice's scores in both runs (percent) and B - A with a paired 95% interval."""

    name: str
    expression: str
    count: int
    em_a: float | None
    em_b: float | None
    f1_a: float | None
    f1_b: float | None
    delta_em: float | None
    delta_f1: float | None
    delta_f1_low: float | None
    delta_f1_high: float | None


@dataclass(frozen=True)
class RunComparison:
    """Everything the Compare page and ``python -m core dataset compare`` show."""

    run_a: str
    run_b: str
    model_a: str
    model_b: str
    data: str
    questions: int
    flips: dict[str, int]
    em_a: float
    em_b: float
    f1_a: float
    f1_b: float
    delta_em: float
    delta_em_low: float
    delta_em_high: float
    delta_f1: float
    delta_f1_low: float
    delta_f1_high: float
    regressions: FailureGroupReport
    slices: list[SliceDifference] = field(default_factory=list)
    examples: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False, compare=False)
    resamples: int = RESAMPLES

    def to_dict(self) -> dict[str, Any]:
        data = {key: value for key, value in asdict(self).items() if key not in ("examples", "regressions")}
        return {**data, "regressions": self.regressions.to_dict(), "slices": [asdict(s) for s in self.slices]}


def check_same_data(a: Run, b: Run) -> None:
    """Refuse runs over different files, or over different questions of one file."""
    input_a, input_b = a.manifest["input"], b.manifest["input"]
    if input_a["sha256"] != input_b["sha256"]:
        raise RunsDifferError(
            f"The runs are over different data: {a.out} read {input_a['path']} (sha256 {input_a['sha256'][:12]}...), "
            f"{b.out} read {input_b['path']} (sha256 {input_b['sha256'][:12]}...). Compare two runs of the same file."
        )
    ids_a, ids_b = set(a.rows["id"]), set(b.rows["id"])
    if ids_a != ids_b:
        raise RunsDifferError(
            f"The runs are over different questions of {input_a['path']}: {len(ids_a - ids_b)} only in {a.out}, "
            f"{len(ids_b - ids_a)} only in {b.out} (another --limit?). Compare runs over the same questions."
        )


def compare_runs(
    a: str | Path | Run, b: str | Path | Run, *, resamples: int = RESAMPLES, seed: int = 0
) -> RunComparison:
    """Compare run ``b`` with run ``a`` (see the module docstring); ``RunsDifferError`` when they are not comparable."""
    run_a = a if isinstance(a, Run) else load_run(a)
    run_b = b if isinstance(b, Run) else load_run(b)
    check_same_data(run_a, run_b)
    rows_a = run_a.rows.set_index("id", drop=False)
    rows_b = run_b.rows.set_index("id").loc[rows_a.index]
    scores_a, scores_b = question_scores(rows_a), question_scores(rows_b)
    question = scores_a.question & scores_b.question
    right_a, right_b = scores_a.correct[question], scores_b.correct[question]
    flips = {
        "both right": int((right_a & right_b).sum()),
        "A only": int((right_a & ~right_b).sum()),
        "B only": int((~right_a & right_b).sum()),
        "both wrong": int((~right_a & ~right_b).sum()),
    }
    em = np.column_stack([scores_a.em[question], scores_b.em[question]])
    f1 = np.column_stack([scores_a.f1[question], scores_b.f1[question]])
    bounds = 100.0 * bootstrap_means(np.column_stack([em[:, 1] - em[:, 0], f1[:, 1] - f1[:, 0]]), resamples, seed)
    examples = _examples(rows_a, rows_b, scores_a, scores_b, question)
    regressions = find_failure_groups(
        examples.reset_index(drop=True), outcome=examples["f1_drop"].to_numpy(), kind="mean"
    )
    count = int(question.sum())
    return RunComparison(
        run_a=str(run_a.out),
        run_b=str(run_b.out),
        model_a=run_a.manifest["model"],
        model_b=run_b.manifest["model"],
        data=run_a.manifest["input"]["path"],
        questions=count,
        flips=flips,
        em_a=float(100.0 * em[:, 0].mean()) if count else float("nan"),
        em_b=float(100.0 * em[:, 1].mean()) if count else float("nan"),
        f1_a=float(100.0 * f1[:, 0].mean()) if count else float("nan"),
        f1_b=float(100.0 * f1[:, 1].mean()) if count else float("nan"),
        delta_em=float(100.0 * (em[:, 1] - em[:, 0]).mean()) if count else float("nan"),
        delta_em_low=float(bounds[0, 0]),
        delta_em_high=float(bounds[0, 1]),
        delta_f1=float(100.0 * (f1[:, 1] - f1[:, 0]).mean()) if count else float("nan"),
        delta_f1_low=float(bounds[1, 0]),
        delta_f1_high=float(bounds[1, 1]),
        regressions=regressions,
        slices=_slice_differences(run_a, run_b, examples, resamples, seed),
        examples=examples,
        resamples=resamples,
    )


def _examples(
    rows_a: pd.DataFrame, rows_b: pd.DataFrame, scores_a: Any, scores_b: Any, question: np.ndarray
) -> pd.DataFrame:
    """Each question's scores in both runs, the flip, the drop in F1 and A's QA metadata (``em``, ``f1`` and
    ``correct`` are B's, so slices and the finder read the table like a run's rows)."""
    right_a, right_b = scores_a.correct, scores_b.correct
    flip = np.where(right_a & right_b, FLIPS[0], np.where(right_a, FLIPS[1], np.where(right_b, FLIPS[2], FLIPS[3])))
    frame = pd.DataFrame(
        {
            "id": rows_a["id"].to_numpy(),
            "title": rows_a["title"].to_numpy(),
            "question": rows_a["question"].to_numpy(),
            "prediction_a": rows_a["prediction"].to_numpy(),
            "prediction_b": rows_b["prediction"].to_numpy(),
            "em_a": scores_a.em,
            "em_b": scores_b.em,
            "f1_a": scores_a.f1,
            "f1_b": scores_b.f1,
            "f1_drop": scores_a.f1 - scores_b.f1,
            "flip": flip,
            "correct": right_b,
            "em": scores_b.em,
            "f1": scores_b.f1,
            "error_kind": rows_a["error_kind"].to_numpy() if "error_kind" in rows_a else None,
        }
    )
    for name in (*METADATA_COLUMNS, "windows", "is_impossible", "question_tokens"):
        if name in rows_a:
            frame[name] = rows_a[name].to_numpy()
    return frame[question].reset_index(drop=True)


def _slice_differences(
    run_a: Run, run_b: Run, examples: pd.DataFrame, resamples: int, seed: int
) -> list[SliceDifference]:
    """Every slice saved in either run, on the paired questions, regressions (lowest ΔF1) first."""
    saved: dict[str, Slice] = {}
    for run in (run_a, run_b):
        for item in load_slices(run.out):
            saved.setdefault(item.name, item)
    differences = []
    for item in saved.values():
        try:
            mask = slice_mask(examples, item.expression)
        except SliceError:
            mask = _mask_on_rows(run_a.rows, item.expression, examples)
        count = int(mask.sum())
        if count == 0:
            differences.append(SliceDifference(item.name, item.expression, 0, *([None] * 8)))
            continue
        em_a, em_b = examples["em_a"][mask].to_numpy(), examples["em_b"][mask].to_numpy()
        f1_a, f1_b = examples["f1_a"][mask].to_numpy(), examples["f1_b"][mask].to_numpy()
        low, high = 100.0 * bootstrap_means(f1_b - f1_a, resamples, seed)[0]
        differences.append(
            SliceDifference(
                name=item.name,
                expression=item.expression,
                count=count,
                em_a=float(100 * em_a.mean()),
                em_b=float(100 * em_b.mean()),
                f1_a=float(100 * f1_a.mean()),
                f1_b=float(100 * f1_b.mean()),
                delta_em=float(100 * (em_b - em_a).mean()),
                delta_f1=float(100 * (f1_b - f1_a).mean()),
                delta_f1_low=float(low),
                delta_f1_high=float(high),
            )
        )
    return sorted(differences, key=lambda d: (d.delta_f1 is None, d.delta_f1 if d.delta_f1 is not None else 0.0))


def _mask_on_rows(rows: pd.DataFrame, expression: str, examples: pd.DataFrame) -> np.ndarray:
    """A saved slice over columns the paired table lacks (saliency shares...): evaluated on run A's rows."""
    selected = set(rows["id"][slice_mask(rows, expression)])
    return examples["id"].isin(selected).to_numpy()


def write_comparison(comparison: RunComparison, out: str | Path) -> Path:
    """``comparison.json`` (figures, flips, regressions, slices) and ``examples.parquet`` (one row per question)."""
    import pyarrow as pa

    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    write_table(root / EXAMPLES, pa.Table.from_pandas(comparison.examples, preserve_index=False))
    write_json(root / COMPARISON, json.loads(json.dumps(comparison.to_dict(), default=_plain)))
    return root


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON")


__all__ = [
    "COMPARISON",
    "EXAMPLES",
    "FLIPS",
    "RunComparison",
    "RunsDifferError",
    "SliceDifference",
    "check_same_data",
    "compare_runs",
    "write_comparison",
]
