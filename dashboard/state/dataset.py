"""A whole-dataset run on show: its summary, the examples filtered for a look, and per-head statistics.

The Dataset page reads and writes this part of the session's state: filters (wrong answers only,
a title, F1 and score ranges, a search, a box drawn on a scatter plot) narrow the example table;
a head statistic and a group (correct, wrong, or their difference) choose the head atlas; opening
an example hands it to the explorer (``ExplorerState.open_dataset_example``).

Only scalar columns are loaded into the table (per-example head lists stay in the Parquet files;
the atlas reads the run's per-head aggregates), so a 100k-example run stays light.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import param

from core import HEAD_STATISTICS
from dashboard.labels import choices, method_and_target

ALL_TITLES = "(all titles)"
GROUPS = ("difference", "correct", "wrong", "all")


def _with_first_gold(run: Any) -> pd.DataFrame:
    """The run's scalar rows plus ``gold``, the first gold answer (the table's column; lists stay on disk)."""
    from core.dataset import read_rows

    golds = read_rows(run.out, columns=["id", "gold_answers"]).to_pydict()
    first = {
        key: (answers[0] if answers else "") for key, answers in zip(golds["id"], golds["gold_answers"], strict=True)
    }
    rows = run.rows.copy()
    rows["gold"] = rows["id"].map(first).fillna("")
    return rows


class DatasetState(param.Parameterized):
    """The run directory on show and how its examples are filtered."""

    runs = param.List(default=[], item_type=str, doc="Run directories on offer (python -m core dataset run ... --out).")
    run_dir = param.Selector(default="", objects=[""], doc="The run on show (one of ``runs``).")
    run = param.Parameter(default=None, doc="The loaded run (core.dataset.load_run), or None.")
    problem = param.String(default="", doc="Why the run could not be opened; empty when it could.")

    wrong_only = param.Boolean(default=False, doc="Show only the examples the model got wrong (EM 0).")
    title = param.Selector(default=ALL_TITLES, objects=[ALL_TITLES], doc="Show only the examples of one article.")
    f1_range = param.Range(default=(0.0, 1.0), bounds=(0.0, 1.0), doc="Show examples whose F1 (0-1) is in range.")
    score_range = param.Range(default=(0.0, 1.0), bounds=(0.0, 1.0), doc="Show examples whose score is in range.")
    search = param.String(default="", doc="Show examples whose question, prediction or id contains this text.")
    box = param.Dict(
        default=None,
        allow_None=True,
        doc="A box drawn on a scatter plot: {'x': column, 'y': column, 'bounds': (x0, y0, x1, y1)}; None: no box.",
    )
    share_method = param.Selector(default="", objects=[""], doc="Saliency (method.target) the share scatter shows.")

    statistic = param.Selector(
        default="question_to_answer", objects=choices(HEAD_STATISTICS), doc="The head statistic the atlas shows."
    )
    group = param.Selector(
        default="difference", objects=choices(GROUPS), doc="Correct minus wrong, correct, wrong, or every example."
    )

    revision = param.Integer(default=0, doc="Incremented when the filtered examples change (views redraw on it).")
    opened = param.String(default="", doc="Id of the example last opened in the explorer.")
    look = param.Event(doc="Fired when the page hands something to the explorer (an example, a head): show it.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._rows: pd.DataFrame = pd.DataFrame()
        self._filtered: pd.DataFrame | None = None
        self.param.watch(self._on_runs, ["runs"])
        self.param.watch(self._on_run_dir, ["run_dir"])
        self.param.watch(self._on_filters, ["wrong_only", "title", "f1_range", "score_range", "search", "box", "run"])
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
        if not self.run_dir:
            self.param.update(run=None, problem="")
            return
        from core.dataset import load_run  # pandas and pyarrow load only when a run is opened

        try:
            run = load_run(self.run_dir)
        except (OSError, ValueError, KeyError) as error:
            self.param.update(run=None, problem=f"The run at {self.run_dir} cannot be opened: {error}")
            return
        self._rows = _with_first_gold(run)
        titles = sorted(t for t in self._rows.get("title", pd.Series(dtype=str)).dropna().unique() if t)
        self.param.title.objects = [ALL_TITLES, *titles]
        shares = self.share_columns()
        self.param.share_method.objects = {method_and_target(*share.split(".", 1)): share for share in shares} or [""]
        updates: dict[str, Any] = {"title": ALL_TITLES, "box": None, "problem": ""}
        if shares:
            updates["share_method"] = shares[0]
        self.param.update(run=run, **updates)

    # ------------------------------------------------------------------ what is on show

    @property
    def rows(self) -> pd.DataFrame:
        """Every example of the run (scalar columns)."""
        return self._rows

    def share_columns(self) -> list[str]:
        """``method.target`` for which the run stored saliency shares."""
        prefix = "saliency_question_share."
        return [column[len(prefix) :] for column in self._rows.columns if column.startswith(prefix)]

    def filtered(self) -> pd.DataFrame:
        """The examples that pass every filter, in the run's order."""
        if self._filtered is None:
            self._filtered = self._apply_filters()
        return self._filtered

    def _apply_filters(self) -> pd.DataFrame:
        rows = self._rows
        if rows.empty:
            return rows
        keep = np.ones(len(rows), dtype=bool)
        answered = rows["error"].isna().to_numpy() if "error" in rows else keep
        if self.wrong_only:
            keep &= ~rows["correct"].fillna(False).to_numpy(dtype=bool) & answered
        if self.title != ALL_TITLES:
            keep &= (rows["title"] == self.title).to_numpy()
        low, high = self.f1_range
        f1 = rows["f1"].to_numpy(dtype=float)
        keep &= ~answered | ((f1 >= low - 1e-9) & (f1 <= high + 1e-9))
        low, high = self.score_range
        score = rows["score"].to_numpy(dtype=float)
        keep &= ~answered | ((score >= low - 1e-12) & (score <= high + 1e-12))
        if self.search.strip():
            needle = self.search.strip().lower()
            text = rows["id"].astype(str) + "\n" + rows["question"].fillna("") + "\n" + rows["prediction"].fillna("")
            keep &= text.str.lower().str.contains(needle, regex=False).to_numpy()
        if self.box:
            x0, y0, x1, y1 = self.box["bounds"]
            x = rows[self.box["x"]].to_numpy(dtype=float)
            y = rows[self.box["y"]].to_numpy(dtype=float)
            keep &= (x >= min(x0, x1)) & (x <= max(x0, x1)) & (y >= min(y0, y1)) & (y <= max(y0, y1))
        return rows[keep]

    def _on_filters(self, *_events: Any) -> None:
        self._filtered = None
        self.revision += 1

    def clear_filters(self) -> None:
        self.param.update(
            wrong_only=False, title=ALL_TITLES, f1_range=(0.0, 1.0), score_range=(0.0, 1.0), search="", box=None
        )

    def example(self, example_id: str) -> dict[str, Any]:
        """Every column of one example, gold answers included (``KeyError`` when the run has no such id)."""
        if self.run is None:
            raise KeyError("No dataset run is open.")
        return self.run.row(example_id)

    def group_note(self) -> str:
        """Why the atlas is empty for the chosen group ("" when it is not): a group without examples."""
        heads = None if self.run is None else self.run.heads
        if heads is None or heads.empty:
            return "The run has no head statistics (no example was answered)."
        counts = heads.groupby("group")["count"].first()
        needed = ("correct", "wrong") if self.group == "difference" else (self.group,)
        missing = [group for group in needed if not counts.get(group, 0)]
        if not missing:
            return ""
        return f"This run has no {' and no '.join(missing)} answers, so there is nothing to show for this group."

    def head_grid(self) -> np.ndarray:
        """The chosen statistic per ``[layer, head]`` for the chosen group (NaN where there is no data)."""
        heads = None if self.run is None else self.run.heads
        if heads is None or heads.empty:
            return np.zeros((0, 0))
        chosen = heads[heads["statistic"] == self.statistic]
        layers, count = int(heads["layer"].max()) + 1, int(heads["head"].max()) + 1

        def grid(group: str) -> np.ndarray:
            values = np.full((layers, count), np.nan)
            part = chosen[chosen["group"] == group]
            values[part["layer"].to_numpy(dtype=int), part["head"].to_numpy(dtype=int)] = part["mean"].to_numpy()
            return values

        if self.group == "difference":
            return grid("correct") - grid("wrong")
        return grid(self.group)


__all__ = ["ALL_TITLES", "GROUPS", "DatasetState"]
