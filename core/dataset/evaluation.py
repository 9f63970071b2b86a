"""A run's headline scores, computed as SQuAD's official evaluation scripts compute them.

Which questions count (the official scripts, v1.1 and v2.0, score a question without a prediction as 0):

- **every question of the file counts**; a question the model could not run on (too long a question, a
  context beyond the window limit, an error during the pass) is a question without a prediction and scores 0;
- **records rejected as malformed** (a missing field, an answer not at its ``answer_start``, a duplicate id:
  ``core.dataset.reading``'s problems) are not questions of the dataset and are counted apart (``malformed``).

SQuAD v2.0 (``evaluate-v2.0.py``, Rajpurkar et al., 2018) adds, over the same questions:

- ``HasAns`` and ``NoAns``: EM and F1 over the answerable and over the unanswerable questions;
- ``best_exact`` / ``best_f1`` and their thresholds (the script's ``find_all_best_thresh``): the scores the run
  would get with the best no-answer threshold. The script sorts questions by their no-answer probability and
  sweeps the threshold from "abstain on every question" upwards; here the sorted quantity is the run's
  ``null_margin`` (``null_score - best_span_score`` in logits, the quantity the run's ``null_threshold``
  compares), so a best threshold is directly a value for ``--null-threshold``. The raw score of answering a
  question is its best span's (``span_em`` / ``span_f1``); abstaining scores 1 on an unanswerable question
  and 0 on an answerable one, exactly as the script's ``diff`` does. ``None`` as a best threshold means
  abstaining on every question was best.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from core.dataset.reading import SQUAD_V2

MALFORMED = "malformed"
FAILED = "failed"
ERROR_KINDS: tuple[str, ...] = (MALFORMED, FAILED)
"""``error_kind`` of an error row: a record rejected as malformed, or a question the model could not run on."""


@dataclass(frozen=True)
class Scores:
    """EM and F1 in percent over ``total`` questions (``None`` for both when there are none)."""

    exact: float | None
    f1: float | None
    total: int


@dataclass(frozen=True)
class SquadEvaluation:
    """The official evaluation of a run's rows (see the module docstring for what each number is over)."""

    version: str
    questions: int
    """Every record of the file that is a question (all rows but the malformed ones)."""
    malformed: int
    failures: int
    """Questions the model could not run on: scored 0."""
    overall: Scores
    has_answer: Scores | None = None
    """SQuAD v2.0 only: the answerable questions."""
    no_answer: Scores | None = None
    """SQuAD v2.0 only: the unanswerable questions."""
    best_exact: float | None = None
    best_exact_threshold: float | None = None
    best_f1: float | None = None
    best_f1_threshold: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _percent(values: np.ndarray) -> Scores:
    if len(values) == 0:
        return Scores(None, None, 0)
    return Scores(float(100.0 * values[:, 0].mean()), float(100.0 * values[:, 1].mean()), int(len(values)))


def best_threshold(
    span_scores: np.ndarray, margins: np.ndarray, has_answer: np.ndarray, questions: int
) -> tuple[float | None, float | None]:
    """The official ``find_best_thresh``: the best score in percent over ``questions`` and its threshold.

    ``span_scores``, ``margins`` and ``has_answer`` hold the questions that ran (failed ones score 0 whatever
    the threshold, but count in ``questions``). Abstaining on every question scores the unanswerable ones;
    answering questions in increasing ``margin`` order adds the span's score for an answerable question and
    loses 1 for an unanswerable one (a span is never empty).
    """
    if questions == 0:
        return None, None
    current = best = float((~has_answer).sum())
    threshold: float | None = None
    for index in np.argsort(margins, kind="stable"):
        current += float(span_scores[index]) if has_answer[index] else -1.0
        if current > best:
            best, threshold = current, float(margins[index])
    return 100.0 * best / questions, threshold


def evaluate_rows(rows: dict[str, np.ndarray], version: str) -> SquadEvaluation:
    """The official evaluation of a run from its columns (``em``, ``f1``, ``error_kind``, ``is_impossible``, and for
    v2.0 ``null_margin``, ``span_em``, ``span_f1``); ``em``/``f1`` are NaN on error rows."""
    kinds = np.asarray(rows["error_kind"], dtype=object)
    question = kinds != MALFORMED
    ran = question & np.array([kind is None for kind in kinds], dtype=bool)
    scores = np.column_stack([np.asarray(rows["em"], dtype=np.float64), np.asarray(rows["f1"], dtype=np.float64)])
    scores = np.where(ran[:, None], np.nan_to_num(scores, nan=0.0), 0.0)[question]
    evaluation = SquadEvaluation(
        version=version,
        questions=int(question.sum()),
        malformed=int((~question).sum()),
        failures=int((question & ~ran).sum()),
        overall=_percent(scores),
    )
    if version != SQUAD_V2:
        return evaluation
    impossible = np.asarray(rows["is_impossible"], dtype=object)[question]
    answerable = np.array([not bool(value) for value in impossible], dtype=bool)
    margins = np.asarray(rows["null_margin"], dtype=np.float64)[ran]
    has_answer_ran = np.array([not bool(value) for value in np.asarray(rows["is_impossible"], dtype=object)[ran]])
    best_exact, exact_threshold = best_threshold(
        np.asarray(rows["span_em"], dtype=np.float64)[ran], margins, has_answer_ran, evaluation.questions
    )
    best_f1, f1_threshold = best_threshold(
        np.asarray(rows["span_f1"], dtype=np.float64)[ran], margins, has_answer_ran, evaluation.questions
    )
    return replace(
        evaluation,
        has_answer=_percent(scores[answerable]),
        no_answer=_percent(scores[~answerable]),
        best_exact=best_exact,
        best_exact_threshold=exact_threshold,
        best_f1=best_f1,
        best_f1_threshold=f1_threshold,
    )


__all__ = [
    "ERROR_KINDS",
    "FAILED",
    "MALFORMED",
    "Scores",
    "SquadEvaluation",
    "best_threshold",
    "evaluate_rows",
]
