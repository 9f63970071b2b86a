"""One head statistic per example of a run: what the head atlas needs to follow a slice.

The run's ``heads.parquet`` holds each statistic's mean over fixed groups (correct, wrong, all); a slice is any
set of examples, so its means come from the per-example lists in the partition files (``head.<statistic>``:
``layers * heads`` float32 values per row, layer-major). They are read only when a slice is active, one
statistic at a time (``read_rows`` of two columns), and only the last statistic read is kept: for a
87,599-row run of a 12 x 12 model that is 50 MB, never the whole run's lists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dashboard.memory import give_back_free_memory

CHUNK_ROWS = 8192
"""Rows summed at a time: the temporary arrays stay small whatever the run's size."""


def read_statistic(out: Path, ids: pd.Series, statistic: str, cells: int) -> np.ndarray:
    """``[rows, cells]`` float32 values of ``head.<statistic>`` in the order of ``ids`` (NaN where a row has none).

    ``RunDamagedError`` (from ``read_rows``) when a partition file cannot be read; ``ValueError`` when a row's
    list is not ``cells`` long.
    """
    import pyarrow.compute as pc

    from core.dataset import read_rows

    column = f"head.{statistic}"
    table = read_rows(out, columns=["id", column])
    lists = table.column(column).combine_chunks()
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    if np.any((lengths != 0) & (lengths != cells)):
        raise ValueError(f"{out}: some rows of {column} do not hold {cells} values (one per layer and head).")
    flat = pc.list_flatten(lists).to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    values = np.full((len(lengths), cells), np.nan, dtype=np.float32)
    values[lengths == cells] = flat.reshape(-1, cells)
    order = row_order(table.column("id"), ids)
    if order is None:
        return values
    aligned = np.full((len(ids), cells), np.nan, dtype=np.float32)
    found = order >= 0
    aligned[found] = values[order[found]]
    return aligned


def row_order(read_ids: Any, ids: pd.Series) -> np.ndarray | None:
    """Where each of ``ids`` is among ``read_ids`` (-1: absent); None when they are already the same, in order."""
    read = pd.Index(read_ids.to_pandas() if hasattr(read_ids, "to_pandas") else read_ids)
    wanted = pd.Index(ids)
    return None if read.equals(wanted) else read.get_indexer(wanted)


def masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The mean of each column of ``values`` over the rows ``mask`` selects, ignoring NaN (NaN where none is left)."""
    total = np.zeros(values.shape[1], dtype=np.float64)
    count = np.zeros(values.shape[1], dtype=np.int64)
    rows = np.flatnonzero(mask)
    for first in range(0, len(rows), CHUNK_ROWS):
        block = values[rows[first : first + CHUNK_ROWS]]
        finite = np.isfinite(block)
        total += np.where(finite, block, 0.0).sum(axis=0, dtype=np.float64)
        count += finite.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)


class ExampleHeads:
    """The per-example values of one head statistic at a time, read on first use and kept until another is asked."""

    def __init__(self, out: Path, ids: pd.Series, layers: int, heads: int) -> None:
        self.out = Path(out)
        self.ids = ids
        self.layers, self.heads = int(layers), int(heads)
        self._statistic: str | None = None
        self._values: np.ndarray | None = None

    def read(self, statistic: str) -> np.ndarray:
        """``[rows, layers * heads]`` of ``statistic``, read from the run (seconds for a large run: a job runs it)."""
        try:
            return read_statistic(self.out, self.ids, statistic, self.layers * self.heads)
        finally:
            give_back_free_memory()

    def holds(self, statistic: str) -> bool:
        return self._statistic == statistic and self._values is not None

    def keep(self, statistic: str, values: np.ndarray) -> None:
        """Keep ``values`` of ``statistic``, dropping the previous statistic's."""
        self._statistic, self._values = statistic, values

    def values(self, statistic: str) -> np.ndarray:
        """``[rows, layers * heads]`` of ``statistic`` (read now unless held; the last statistic's are dropped)."""
        if not self.holds(statistic):
            self._statistic, self._values = None, None
            self.keep(statistic, self.read(statistic))
        return self._values

    def mean(self, statistic: str, mask: np.ndarray) -> np.ndarray:
        """``[layers, heads]``: the statistic's mean over the rows ``mask`` selects."""
        return masked_mean(self.values(statistic), mask).reshape(self.layers, self.heads)


__all__ = ["CHUNK_ROWS", "ExampleHeads", "masked_mean", "read_statistic", "row_order"]
