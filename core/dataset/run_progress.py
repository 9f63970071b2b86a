"""A dataset run's progress over partitions: a tqdm bar (terminal or notebook) or a ``core.progress`` callback."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from core.dataset.manifest import finished_partitions
from core.dataset.schema import part_path
from core.dataset.summary import partition_stats, read_evaluation_columns
from core.progress import ProgressCallback, report_progress


class RunProgress:
    """Progress over partitions: a tqdm bar (terminal or notebook) or a ``core.progress`` callback."""

    def __init__(self, root: Path, manifest: dict[str, Any], progress: bool | ProgressCallback) -> None:
        self.manifest = manifest
        total = len(manifest["partitions"])
        self.total = total
        self.callback = progress if callable(progress) else None
        done = finished_partitions(root, total)
        self.done = len(done)
        self.totals = {"n": 0, "questions": 0, "answered": 0, "em_sum": 0.0, "f1_sum": 0.0}
        for index in done:
            self._add(partition_stats(read_evaluation_columns(part_path(root, index))))
        self.session_examples = 0
        self.began = time.perf_counter()
        self.bar = None
        if progress is True:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=self.done, unit="part", desc="partitions", dynamic_ncols=True)
            self._postfix()

    def _add(self, stats: dict[str, Any]) -> None:
        for key in self.totals:
            self.totals[key] += stats[key]

    def announce(self, dashboard_link: str | None) -> None:
        if self.bar is not None and dashboard_link:
            self.bar.write(f"Dask dashboard: {dashboard_link}", file=sys.stderr)

    def finished(self, stats: dict[str, Any]) -> None:
        self._add(stats)
        self.done += 1
        self.session_examples += stats["n"]
        if self.bar is not None:
            self.bar.update(1)
            self._postfix()
        report_progress(self.callback, "partitions", self.done / max(self.total, 1))

    def _postfix(self) -> None:
        questions = self.totals["questions"]
        elapsed = time.perf_counter() - self.began
        figures = {"examples": int(self.totals["n"])}
        if self.session_examples:
            figures["ex/s"] = round(self.session_examples / max(elapsed, 1e-9), 2)
        if questions:  # the official rule: a question that failed scores 0
            figures["EM"] = round(100 * self.totals["em_sum"] / questions, 1)
            figures["F1"] = round(100 * self.totals["f1_sum"] / questions, 1)
        assert self.bar is not None
        self.bar.set_postfix(figures, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def record_partition(stats: dict[str, Any], session: dict[str, Any], tracker: RunProgress) -> None:
    """Count a finished partition in this session's figures and on the progress bar."""
    session["partitions"] += 1
    session["examples"] += stats["n"]
    tracker.finished(stats)


__all__ = ["RunProgress", "record_partition"]
