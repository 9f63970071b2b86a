"""The head atlas's part of the Dataset page's state: a statistic per layer and head for a group of examples.

Without a slice the groups (correct, wrong, their difference, all) come from the run's ``heads.parquet``, one
small table whatever the run's size. With a slice, and for "slice vs rest", they come from every example's own
values (``example_heads``), read for one statistic at a time as the ``slice_heads`` job on the background runner:
the atlas says it is reading, then draws again when they arrive (``heads_revision``).

``HeadAtlasGroups`` is mixed into ``DatasetState``, whose parameters (``statistic``, ``group``, ``heads_revision``)
and active slice (``mask``) it reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dashboard.state.example_heads import ExampleHeads
from dashboard.state.jobs import message


class HeadAtlasGroups:
    """The atlas's grid and its note, for ``DatasetState``."""

    run: Any
    jobs: Any
    statistic: str
    group: str
    heads_revision: int
    _rows: Any
    _mask: np.ndarray
    _run_token: int
    _example_heads: ExampleHeads | None
    _heads_problem: str
    _drawing_grid: bool
    _reading: str
    slice_active: Any
    """``DatasetState.slice_active``: whether the active slice leaves any example out."""

    def _heads_shape(self) -> tuple[int, int]:
        heads = self.run.heads
        return int(heads["layer"].max()) + 1, int(heads["head"].max()) + 1

    def _outcomes(self) -> tuple[np.ndarray, np.ndarray]:
        """Per row: answered (no error), and right (EM 1)."""
        rows = self._rows
        answered = rows["error"].isna().to_numpy() if "error" in rows else np.ones(len(rows), dtype=bool)
        correct = rows["correct"].fillna(False).to_numpy(dtype=bool) & answered
        return answered, correct

    def _needed(self) -> dict[str, np.ndarray]:
        """The row groups the chosen atlas group compares, within the slice (the slice and the rest for "slice")."""
        answered, correct = self._outcomes()
        inside = self._mask & answered
        if self.group == "slice":
            return {"slice": inside, "rest": ~self._mask & answered}
        if self.group == "difference":
            return {"correct": inside & correct, "wrong": inside & ~correct}
        if self.group == "correct":
            return {"correct": inside & correct}
        if self.group == "wrong":
            return {"wrong": inside & ~correct}
        return {"all": inside}

    def _per_example(self) -> bool:
        """Whether the atlas reads per-example values (a slice is active, or the slice is compared with the rest)."""
        return self.group == "slice" or self.slice_active()

    def group_note(self) -> str:
        """Why the atlas is empty for the chosen group ("" when it is not): a group without examples."""
        heads = None if self.run is None else self.run.heads
        if heads is None or heads.empty:
            return "The run has no head statistics (no example was answered)."
        if self._heads_problem:
            return self._heads_problem
        reading = self._example_heads is not None and not self._example_heads.holds(self.statistic)
        if self._per_example() and reading and self.jobs.slice_heads.running:
            return "Reading every example's values of this statistic for the slice (once per statistic)…"
        if self.group == "slice" and not self.slice_active():
            return "No slice is active: choose one (filters, an expression, a saved slice or a failure group)."
        if self._per_example():
            missing = [name for name, rows in self._needed().items() if not rows.any()]
            where = "the rest of the run" if missing == ["rest"] else "this slice"
            if missing:
                return f"There are no {' and no '.join(missing)} answers in {where}, so there is nothing to show."
            return ""
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
        layers, count = self._heads_shape()
        if self._per_example():
            return self._slice_grid(layers, count)
        chosen = heads[heads["statistic"] == self.statistic]

        def grid(group: str) -> np.ndarray:
            values = np.full((layers, count), np.nan)
            part = chosen[chosen["group"] == group]
            values[part["layer"].to_numpy(dtype=int), part["head"].to_numpy(dtype=int)] = part["mean"].to_numpy()
            return values

        if self.group == "difference":
            return grid("correct") - grid("wrong")
        return grid(self.group)

    def _read_head_values(self, heads: ExampleHeads) -> None:
        """Read the chosen statistic's per-example values on the background runner (once per statistic)."""
        job, statistic, token = self.jobs.slice_heads, self.statistic, self._run_token
        if job.running and self._reading == statistic:
            return
        self._reading = statistic

        def arrived() -> None:
            if not self._drawing_grid:  # a background read: the atlas draws again; an inline one is drawing now
                self.heads_revision += 1

        def done(values: np.ndarray) -> None:
            if token == self._run_token:
                heads.keep(statistic, values)
                self._heads_problem = ""
                arrived()

        def failed(error: BaseException) -> None:
            if token == self._run_token:
                self._heads_problem = f"The per-example head statistics cannot be read: {message(error)}"
                arrived()

        job.start(lambda _progress: heads.read(statistic), done, failed)

    def _slice_grid(self, layers: int, count: int) -> np.ndarray:
        """The group's means over the slice's examples, from their per-example values (read once per statistic)."""
        if self._example_heads is None:
            self._example_heads = ExampleHeads(self.run.out, self._rows["id"], layers, count)
        heads = self._example_heads
        if not heads.holds(self.statistic):
            self._drawing_grid = True
            try:
                self._read_head_values(heads)
            finally:
                self._drawing_grid = False
            if not heads.holds(self.statistic):  # still reading (or failed: group_note says why)
                return np.full((layers, count), np.nan)
        means = {name: heads.mean(self.statistic, rows) for name, rows in self._needed().items()}
        if self.group == "slice":
            return means["slice"] - means["rest"]
        if self.group == "difference":
            return means["correct"] - means["wrong"]
        return next(iter(means.values()))


__all__ = ["HeadAtlasGroups"]
