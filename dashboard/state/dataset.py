"""A whole-dataset run on show: its summary, the active slice of its examples, and per-head statistics.

The Dataset page reads and writes this part of the session's state. The active slice is the page's filters
(wrong answers only, integrated gradients unconverged, a title, F1 and score ranges, a search, a box drawn on a
scatter plot) and-ed with a typed expression in the slice language (``core.dataset.slice_mask``): the filters
are written in that language too (``slice_filters``), so what is saved as a named slice (the run's
``slices.json``) selects exactly what the page showed. The mask is computed once per change and every view
reads the same filtered frame (``filtered()``), whose size the ``revision`` announces.

Around the slice: its statistics (count, EM and F1 with bootstrap intervals, error rate against the rest) and
the run's failure groups, each computed by a job (``state.jobs``) on the background runner; the head atlas
(correct, wrong, their difference, all, and the slice against the rest); opening an example hands it to the
explorer (``ExplorerState.open_dataset_example``).

Only scalar columns are held (``Run.rows``); per-example head lists are read for one statistic at a time and
only while a slice asks for them (``example_heads``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import param

from core import HEAD_STATISTICS
from dashboard.labels import choices, method_and_target
from dashboard.state.dataset_atlas import HeadAtlasGroups
from dashboard.state.dataset_run import open_run
from dashboard.state.example_heads import ExampleHeads
from dashboard.state.jobs import Jobs, message
from dashboard.state.slice_filters import Filters, combined, filters_expression

ALL_TITLES = "(all titles)"
GROUPS = ("difference", "correct", "wrong", "all", "slice")
GROUP_CHOICES = {
    "difference": "difference",
    "correct": "correct",
    "wrong": "wrong",
    "all": "all",
    "slice vs rest": "slice",
}
"""The atlas's groups, by the name the page shows."""
NO_SAVED = "(none)"
"""The saved-slice selector's label for "no saved slice chosen"."""
UNCONVERGED = "ig_converged"


class DatasetState(HeadAtlasGroups, param.Parameterized):
    """The run directory on show, the active slice of its examples, and what is computed about it."""

    jobs = param.ClassSelector(class_=Jobs, precedence=-1, doc="The session's jobs (statistics, failure groups).")
    runs = param.List(default=[], item_type=str, doc="Run directories on offer (python -m core dataset run ... --out).")
    run_dir = param.Selector(default="", objects=[""], doc="The run on show (one of ``runs``).")
    run = param.Parameter(default=None, doc="The loaded run (core.dataset.load_run), or None.")
    problem = param.String(default="", doc="Why the run could not be opened; empty when it could.")

    wrong_only = param.Boolean(default=False, doc="Show only the examples the model got wrong (EM 0).")
    unconverged_only = param.Boolean(
        default=False, doc="Show only the rows whose integrated gradients did not converge (runs with them)."
    )
    title = param.Selector(default=ALL_TITLES, objects=[ALL_TITLES], doc="Show only the examples of one article.")
    f1_range = param.Range(default=(0.0, 1.0), bounds=(0.0, 1.0), doc="Show examples whose F1 (0-1) is in range.")
    score_range = param.Range(default=(0.0, 1.0), bounds=(0.0, 1.0), doc="Show examples whose score is in range.")
    search = param.String(default="", doc="Show examples whose question, prediction or id contains this text.")
    box = param.Dict(
        default=None,
        allow_None=True,
        doc="A box drawn on a scatter plot: {'x': column, 'y': column, 'bounds': (x0, y0, x1, y1)}; None: no box.",
    )
    expression = param.String(
        default="", doc="A slice in the slice language (question_type == 'why' and f1 < 0.5), with the filters."
    )
    expression_error = param.String(default="", doc="Why the expression is not a slice of this run (not applied).")

    saved_slices = param.List(default=[], doc="The run's saved slices (core.dataset.Slice), from its slices.json.")
    saved = param.Selector(default="", objects={NO_SAVED: ""}, doc="The saved slice chosen (it becomes the slice).")
    slice_name = param.String(default="", doc="The name the active slice is saved under.")
    slices_problem = param.String(default="", doc="Why the saved slices could not be read, saved or deleted.")

    statistics = param.Parameter(default=None, doc="core.dataset.SliceStatistics of the active slice, or None.")
    groups = param.Parameter(default=None, doc="core.dataset.FailureGroupReport of the run, or None.")

    share_method = param.Selector(default="", objects=[""], doc="Saliency (method.target) the share scatter shows.")
    statistic = param.Selector(
        default="question_to_answer", objects=choices(HEAD_STATISTICS), doc="The head statistic the atlas shows."
    )
    group = param.Selector(
        default="difference", objects=GROUP_CHOICES, doc="Correct minus wrong, correct, wrong, all, or slice vs rest."
    )

    revision = param.Integer(default=0, doc="Incremented when the filtered examples change (views redraw on it).")
    heads_revision = param.Integer(
        default=0, doc="Incremented when per-example head values arrive from the background (the atlas redraws)."
    )
    points_revision = param.Integer(
        default=0, doc="Incremented when the scatters' points change: the slice without the box drawn on them."
    )
    opened = param.String(default="", doc="Id of the example last opened in the explorer.")
    look = param.Event(doc="Fired when the page hands something to the explorer (an example, a head): show it.")

    def __init__(self, **params: Any) -> None:
        params.setdefault("jobs", Jobs())
        super().__init__(**params)
        self._rows: pd.DataFrame = pd.DataFrame()
        self._mask = np.zeros(0, dtype=bool)
        self._points_mask = np.zeros(0, dtype=bool)
        self._filtered: pd.DataFrame = self._rows
        self._points_key: tuple[str, str] = ("", "")
        self._masks: dict[str, np.ndarray] = {}
        self._example_heads: ExampleHeads | None = None
        self._heads_problem = ""
        self._drawing_grid = False
        self._reading = ""
        self._opening = False
        self._run_token = 0
        self.param.watch(self._on_runs, ["runs"])
        self.param.watch(self._on_run_dir, ["run_dir"])
        self.param.watch(
            self._on_filters,
            ["wrong_only", "unconverged_only", "title", "f1_range", "score_range", "search", "box", "expression"],
        )
        self.param.watch(self._on_saved, ["saved"])
        self._on_runs()

    # ------------------------------------------------------------------ opening a run

    def open(self, run_dir: str | Path) -> None:
        """Offer ``run_dir`` (if it is not offered yet) and show it."""
        run_dir = str(run_dir)
        if run_dir not in self.runs:
            self.runs = [*self.runs, run_dir]
        self.run_dir = run_dir

    def _on_runs(self, *_events: Any) -> None:
        objects = ["", *dict.fromkeys(self.runs)]
        self.param.run_dir.objects = objects
        if self.run_dir not in objects:
            self.run_dir = ""
        if not self.run_dir and self.runs:
            self.run_dir = self.runs[0]

    def _on_run_dir(self, _event: param.parameterized.Event) -> None:
        """Show the chosen run, or why it cannot be opened; nothing of the previous run stays on the page."""
        self.jobs.slice_statistics.cancel()
        self.jobs.slice_heads.reset()
        self.jobs.failure_groups.reset()
        opened = open_run(self.run_dir) if self.run_dir else None
        run = None if opened is None else opened.run
        self._run_token += 1
        self._rows = pd.DataFrame() if run is None else run.rows
        self._masks, self._example_heads, self._heads_problem = {}, None, ""
        titles = sorted(t for t in self._rows.get("title", pd.Series(dtype=str)).dropna().unique() if t)
        self.param.title.objects = [ALL_TITLES, *titles]
        shares = self.share_columns()
        self.param.share_method.objects = {method_and_target(*share.split(".", 1)): share for share in shares} or [""]
        saved, slices_problem = self._read_saved(run)
        self.param.saved.objects = {NO_SAVED: "", **{item.name: item.name for item in saved}}
        resets: dict[str, Any] = {
            "title": ALL_TITLES,
            "box": None,
            "unconverged_only": False,
            "saved": "",
            "saved_slices": saved,
            "share_method": shares[0] if shares else "",
        }
        self._opening = True
        try:
            self.param.update(**resets)
        finally:
            self._opening = False
        error = self._refresh()
        self.param.update(
            run=run,
            problem="" if opened is None else opened.problem,
            slices_problem=slices_problem,
            expression_error=error,
            statistics=None,
            groups=None,
            revision=self.revision + 1,
            points_revision=self.points_revision + 1,
        )

    # ------------------------------------------------------------------ what is on show

    @property
    def rows(self) -> pd.DataFrame:
        """Every example of the run (scalar columns, and ``gold``: the first gold answer)."""
        return self._rows

    def share_columns(self) -> list[str]:
        """``method.target`` for which the run stored saliency shares."""
        prefix = "saliency_question_share."
        return [column[len(prefix) :] for column in self._rows.columns if column.startswith(prefix)]

    def has_unconverged_column(self) -> bool:
        """Whether the run computed integrated gradients (its rows say whether each converged)."""
        return UNCONVERGED in self._rows and bool(self._rows[UNCONVERGED].notna().any())

    def filters(self, box: bool = True) -> Filters:
        """The page's filters at this moment (``box=False``: all but the box drawn on a scatter)."""
        return Filters(
            wrong_only=self.wrong_only,
            title=None if self.title == ALL_TITLES else self.title,
            f1_range=tuple(self.f1_range),
            score_range=tuple(self.score_range),
            search=self.search,
            box=self.box if box else None,
            unconverged_only=self.unconverged_only,
        )

    def active_expression(self) -> str:
        """The active slice as one expression: the filters and the typed expression (what "Save" saves)."""
        typed = self.expression.strip() if not self.expression_error else ""
        return combined(filters_expression(self.filters()), typed)

    def filtered(self) -> pd.DataFrame:
        """The examples of the active slice, in the run's order (the same frame for every view)."""
        return self._filtered

    @property
    def mask(self) -> np.ndarray:
        """Which rows the active slice keeps."""
        return self._mask

    @property
    def points_mask(self) -> np.ndarray:
        """Which rows the scatters show: the active slice without the box drawn on them (it selects among them)."""
        return self._points_mask

    def points(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The scatters' examples (``points_mask``), only ``columns`` of them if given (no copy of the others)."""
        rows = self._rows if columns is None else self._rows[columns]
        return rows if self._points_mask.all() else rows[self._points_mask]

    def slice_active(self) -> bool:
        """Whether the active slice leaves any example out."""
        return bool(len(self._mask)) and not bool(self._mask.all())

    def apply_slice(self, expression: str) -> pd.DataFrame:
        """Make ``expression`` the page's slice expression (with the filters on show); the examples it keeps.

        What typing a slice on the page sets off, drawing aside: the expression is parsed and applied once, and
        every view reads the frame returned here (``filtered()``). ``SliceError`` when it is not a slice of this
        run (``expression_error`` says the same on the page, and the filters alone apply).
        """
        from core.dataset import SliceError

        self.expression = expression
        if self.expression_error:
            raise SliceError(self.expression_error)
        return self._filtered

    def _mask_of(self, expression: str) -> np.ndarray:
        """The rows ``expression`` selects (kept for the last few expressions: a box moved re-parses nothing else)."""
        from core.dataset import slice_mask

        if not expression:
            return np.ones(len(self._rows), dtype=bool)
        mask = self._masks.get(expression)
        if mask is None:
            mask = slice_mask(self._rows, expression)
            if len(self._masks) >= 8:
                self._masks.pop(next(iter(self._masks)))
            self._masks[expression] = mask
        return mask

    def _refresh(self) -> str:
        """Compute the masks and the filtered frame for the parameters now; the expression's error, if any."""
        from core.dataset import SliceError

        rows = self._rows
        if rows.empty:
            self._mask = self._points_mask = np.zeros(len(rows), dtype=bool)
            self._filtered, self._points_key = rows, ("", "")
            return ""
        typed, error = self.expression.strip(), ""
        try:
            typed_mask = self._mask_of(typed)
        except SliceError as problem:
            typed, typed_mask, error = "", self._mask_of(""), str(problem)
        base = filters_expression(self.filters(box=False))
        self._points_mask = self._mask_of(base) & typed_mask
        self._points_key = (base, typed)
        box = filters_expression(Filters(box=self.box)) if self.box else ""
        self._mask = self._points_mask & self._mask_of(box)
        self._filtered = rows if self._mask.all() else rows[self._mask]
        return error

    def _on_filters(self, *_events: Any) -> None:
        if self._opening:
            return
        points = self._points_key
        error = self._refresh()
        self.param.update(
            expression_error=error,
            statistics=None,
            points_revision=self.points_revision + (self._points_key != points),
            revision=self.revision + 1,
        )

    def _cleared(self) -> dict[str, Any]:
        return {
            "wrong_only": False,
            "unconverged_only": False,
            "title": ALL_TITLES,
            "f1_range": (0.0, 1.0),
            "score_range": (0.0, 1.0),
            "search": "",
            "box": None,
        }

    def clear_filters(self) -> None:
        """Every example again: no filter, no expression, no saved slice chosen."""
        self.param.update(**self._cleared(), expression="", saved="")

    def use_slice(self, expression: str, name: str = "") -> None:
        """Make ``expression`` the whole slice (the filters cleared), e.g. a failure group or a saved slice."""
        self.param.update(**self._cleared(), expression=expression, slice_name=name or self.slice_name)

    def example(self, example_id: str) -> dict[str, Any]:
        """Every column of one example, gold answers included (``KeyError`` when the run has no such id)."""
        if self.run is None:
            raise KeyError("No dataset run is open.")
        return self.run.row(example_id)

    # ------------------------------------------------------------------ saved slices

    def _read_saved(self, run: Any) -> tuple[list[Any], str]:
        from core.dataset import RunDamagedError, load_slices

        if run is None:
            return [], ""
        try:
            return load_slices(run.out), ""
        except (RunDamagedError, OSError) as error:
            return [], f"The saved slices cannot be read: {error}"

    def _show_saved(self, saved: list[Any], chosen: str) -> None:
        self.param.saved.objects = {NO_SAVED: "", **{item.name: item.name for item in saved}}
        self.param.update(saved_slices=saved, saved=chosen, slices_problem="")

    def save_slice(self, name: str | None = None) -> None:
        """Save the active slice under ``name`` (default ``slice_name``) in the run's ``slices.json``."""
        from core.dataset import RunDamagedError, Slice, SliceError, save_slice

        name = (self.slice_name if name is None else name).strip()
        expression = self.active_expression()
        if self.run is None:
            self.slices_problem = "Open a run first: slices are saved in the run's folder."
            return
        if not name:
            self.slices_problem = "Give the slice a name to save it under."
            return
        if not expression:
            self.slices_problem = "Nothing to save: set a filter or type an expression first."
            return
        try:
            saved = save_slice(self.run.out, Slice(name, expression), rows=self._rows)
        except (SliceError, RunDamagedError, OSError) as error:
            self.slices_problem = f"The slice could not be saved: {error}"
            return
        self.slice_name = name
        self._show_saved(saved, name)

    def delete_saved(self) -> None:
        """Delete the chosen saved slice from the run's ``slices.json`` (the active slice stays)."""
        from core.dataset import RunDamagedError, delete_slice

        if self.run is None or not self.saved:
            self.slices_problem = "Choose a saved slice to delete."
            return
        try:
            remaining = delete_slice(self.run.out, self.saved)
        except (KeyError, RunDamagedError, OSError) as error:
            self.slices_problem = f"The slice could not be deleted: {message(error)}"
            return
        self._show_saved(remaining, "")

    def _on_saved(self, event: param.parameterized.Event) -> None:
        chosen = next((item for item in self.saved_slices if item.name == event.new), None)
        if chosen is not None:
            self.use_slice(chosen.expression, name=chosen.name)

    # ------------------------------------------------------------------ statistics and failure groups

    def compute_statistics(self) -> None:
        """Count, EM and F1 with 95% intervals, error rate against the rest, of the active slice (a job)."""
        from core.dataset import slice_statistics

        if self.run is None:
            self.statistics = None
            return
        rows, mask, revision = self._rows, self._mask, self.revision

        def done(statistics: Any) -> None:
            if revision == self.revision:
                self.statistics = statistics

        self.jobs.slice_statistics.start(lambda _progress: slice_statistics(rows, mask), done)

    def find_groups(self) -> None:
        """Find the run's failure groups (``core.dataset.find_failure_groups``) on the background runner."""
        from core.dataset import find_failure_groups

        job = self.jobs.failure_groups
        if self.run is None:
            job.error = "Open a run first."
            return
        rows, token = self._rows, self._run_token

        def done(report: Any) -> None:
            if token == self._run_token:
                self.groups = report

        job.start(lambda _progress: find_failure_groups(rows), done)

    def open_group(self, index: int) -> None:
        """Make failure group ``index`` the slice (named by its description, ready to save)."""
        group = self.groups.groups[index]
        self.use_slice(group.expression, name=group.description)

    def release(self) -> None:
        """The page is gone: drop the per-example values and the masks (the run goes with the state)."""
        self._example_heads, self._masks = None, {}


__all__ = ["ALL_TITLES", "GROUPS", "GROUP_CHOICES", "NO_SAVED", "DatasetState"]
