"""Two dataset runs over the same questions, compared question by question: the Compare page's state.

``core.dataset.compare_runs(a, b)`` gives the flip matrix (both right, A only, B only, both wrong), ΔEM and ΔF1
with paired bootstrap intervals, the groups where B lost F1 (regressions), every saved slice's differences,
and one row per question (``examples``). It runs as a job (``state.jobs.run_comparison``) on the background
runner, on request. The page narrows the questions by flip and by a slice (a regression group, a saved slice,
or a typed expression), and every view reads the one filtered frame (``filtered()``).

A saved slice may test columns the paired table lacks (a saliency share, ``error``): it is then evaluated on
run A's rows, as ``compare_runs`` does for its differences, so clicking it filters the page the same way.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import param

from dashboard.state.jobs import Jobs, message

ALL_FLIPS = "all"
FLIP_FILTERS = (ALL_FLIPS, "both right", "A only", "B only", "both wrong")
"""The flip filter's choices: every question, or one cell of the flip matrix (``core.dataset.FLIPS``)."""


class CompareState(param.Parameterized):
    """Which two runs, their comparison, and which of its questions are on show."""

    jobs = param.ClassSelector(class_=Jobs, precedence=-1, doc="The session's jobs (``run_comparison``).")
    runs = param.List(default=[], item_type=str, doc="Run directories on offer (the Dataset page's).")
    run_a = param.Selector(default="", objects=[""], doc="Run A: the reference (an earlier checkpoint).")
    run_b = param.Selector(default="", objects=[""], doc="Run B: compared against A (B - A).")
    comparison = param.Parameter(default=None, doc="core.dataset.RunComparison of A and B, or None.")
    problem = param.String(default="", doc="Why the runs cannot be compared (RunsDifferError, a damaged run).")
    flip = param.Selector(default=ALL_FLIPS, objects=list(FLIP_FILTERS), doc="Show only questions of one flip.")
    expression = param.String(default="", doc="A slice of the questions (a regression group, a saved slice...).")
    expression_error = param.String(default="", doc="Why the expression is not a slice of these questions.")
    revision = param.Integer(default=0, doc="Incremented when the questions on show change (views redraw on it).")
    opened = param.String(default="", doc="Id of the question last opened in the explorer.")
    look = param.Event(doc="Fired when a question opens in the explorer with both models: show them.")

    def __init__(self, **params: Any) -> None:
        params.setdefault("jobs", Jobs())
        super().__init__(**params)
        self._run_a: Any = None
        self._run_b: Any = None
        self._mask = np.zeros(0, dtype=bool)
        self._filtered = pd.DataFrame()
        self._current: Any = None
        self._figures: tuple[int, dict[str, Any] | None] = (-1, None)
        self.param.watch(self._on_runs, ["runs"])
        self.param.watch(self._on_choice, ["run_a", "run_b"])
        self.param.watch(self._on_filters, ["flip", "expression", "comparison"])
        self._on_runs()

    # ------------------------------------------------------------------ which runs

    def _on_runs(self, *_events: Any) -> None:
        runs = list(dict.fromkeys(self.runs))
        objects = ["", *runs]
        self.param.run_a.objects = objects
        self.param.run_b.objects = objects
        updates = {}
        if self.run_a not in runs:
            updates["run_a"] = runs[0] if runs else ""
        if self.run_b not in runs or self.run_b == updates.get("run_a", self.run_a):
            others = [run for run in runs if run != updates.get("run_a", self.run_a)]
            updates["run_b"] = others[0] if others else ""
        self.param.update(**updates)

    def _on_choice(self, *_events: Any) -> None:
        """Other runs: the comparison on show is no longer theirs."""
        self.jobs.run_comparison.reset()
        self._run_a = self._run_b = None
        self.param.update(comparison=None, problem="")

    def use_loaded(self, run: Any) -> None:
        """A run already open on the Dataset page: reused for A or B instead of being read again."""
        self._current = run

    @staticmethod
    def _load(run_dir: str, current: Any) -> Any:
        """``current`` when it is the run at ``run_dir``, else the run read from disk."""
        from core.dataset import load_run

        if current is not None and Path(current.out) == Path(run_dir):
            return current
        return load_run(run_dir)

    def compute(self) -> None:
        """Compare run B with run A (``core.dataset.compare_runs``) on the background runner."""
        job = self.jobs.run_comparison
        a, b, current = self.run_a, self.run_b, self._current
        if not a or not b or a == b:
            self.problem = "Choose two different runs to compare."
            return

        def work(_progress: Any) -> tuple[Any, Any, Any]:
            from core.dataset import compare_runs

            run_a, run_b = self._load(a, current), self._load(b, current)
            comparison = compare_runs(run_a, run_b)
            # B is kept for its model and to read a question back (Run.row), not for its rows.
            return comparison, run_a, replace(run_b, rows=run_b.rows.iloc[0:0])

        def done(result: tuple[Any, Any, Any]) -> None:
            if (a, b) != (self.run_a, self.run_b):
                return
            comparison, self._run_a, self._run_b = result
            self.param.update(comparison=comparison, problem="")

        def failed(error: BaseException) -> None:
            if (a, b) == (self.run_a, self.run_b):
                self.param.update(comparison=None, problem=f"The runs cannot be compared: {message(error)}")

        self.problem = ""
        job.start(work, done, failed)

    def runs_compared(self) -> tuple[Any, Any]:
        """The two runs of the comparison on show (``KeyError`` before one)."""
        if self.comparison is None or self._run_a is None:
            raise KeyError("No comparison is on show: compare two runs first.")
        return self._run_a, self._run_b

    # ------------------------------------------------------------------ the questions on show

    def examples(self) -> pd.DataFrame:
        """Every question of the comparison (``RunComparison.examples``)."""
        return pd.DataFrame() if self.comparison is None else self.comparison.examples

    def filtered(self) -> pd.DataFrame:
        """The questions of the chosen flip and slice (the same frame for every view)."""
        return self._filtered

    def slice_mask(self, expression: str) -> np.ndarray:
        """The questions ``expression`` selects; over run A's rows when it tests a column the table lacks."""
        from core.dataset import SliceError, slice_mask

        examples = self.examples()
        try:
            return slice_mask(examples, expression)
        except SliceError as on_questions:
            rows = None if self._run_a is None else self._run_a.rows
            if rows is None or rows.empty:
                raise
            try:
                selected = rows["id"][slice_mask(rows, expression)]
            except SliceError:
                raise on_questions from None
            return examples["id"].isin(selected).to_numpy()

    def _on_filters(self, *_events: Any) -> None:
        examples = self.examples()
        mask = np.ones(len(examples), dtype=bool)
        error = ""
        if self.flip != ALL_FLIPS and not examples.empty:
            mask &= (examples["flip"] == self.flip).to_numpy()
        if self.expression.strip() and not examples.empty:
            from core.dataset import SliceError

            try:
                mask &= self.slice_mask(self.expression.strip())
            except SliceError as problem:
                error = str(problem)
        self._mask = mask
        self._filtered = examples if mask.all() else examples[mask]
        self.param.update(expression_error=error, revision=self.revision + 1)

    def use_slice(self, expression: str) -> None:
        """Narrow the page to a slice (a regression group, a saved slice), every flip again."""
        self.param.update(expression=expression, flip=ALL_FLIPS)

    def clear(self) -> None:
        self.param.update(expression="", flip=ALL_FLIPS)

    def narrowed(self) -> bool:
        """Whether a flip or a slice leaves questions out."""
        return bool(len(self._mask)) and not bool(self._mask.all())

    def slice_figures(self) -> dict[str, Any] | None:
        """The questions on show: their count, flips, ΔEM and ΔF1 (points) with paired 95% intervals."""
        from core.dataset import FLIPS, bootstrap_means

        shown = self._filtered
        if self.comparison is None or shown.empty:
            return None
        if self._figures[0] == self.revision:
            return self._figures[1]
        deltas = np.column_stack(
            [shown["em_b"].to_numpy() - shown["em_a"].to_numpy(), shown["f1_b"].to_numpy() - shown["f1_a"].to_numpy()]
        )
        bounds = 100.0 * bootstrap_means(deltas, resamples=self.comparison.resamples)
        flips = shown["flip"].value_counts()
        figures = {
            "count": len(shown),
            "flips": {name: int(flips.get(name, 0)) for name in FLIPS},
            "delta_em": float(100.0 * deltas[:, 0].mean()),
            "delta_em_low": float(bounds[0, 0]),
            "delta_em_high": float(bounds[0, 1]),
            "delta_f1": float(100.0 * deltas[:, 1].mean()),
            "delta_f1_low": float(bounds[1, 0]),
            "delta_f1_high": float(bounds[1, 1]),
        }
        self._figures = (self.revision, figures)
        return figures

    def release(self) -> None:
        """The page is gone: drop the comparison and the runs it holds."""
        self._run_a = self._run_b = self._current = None
        with param.parameterized.discard_events(self):
            self.comparison = None


__all__ = ["ALL_FLIPS", "FLIP_FILTERS", "CompareState"]
