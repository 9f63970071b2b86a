"""Where a run keeps its robustness suites, and reading them back (``load_run(...).robustness``).

Apart from ``core.dataset.robustness``, which runs suites, so that reading a run never loads the machinery that
runs one. Layout: ``RUN/robustness/<suite>/`` holds ``perturbed.jsonl``, ``suite.json``, ``run/``,
``pairs.parquet`` and ``summary.json`` (written last: a suite without it is still under way).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from core.dataset.run_checks import RunDamagedError, read_json_file, read_parquet, read_parquet_schema

ROBUSTNESS = "robustness"
PERTURBED = "perturbed.jsonl"
PAIRS = "pairs.parquet"
SUITE = "suite.json"
SUITE_SUMMARY = "summary.json"
SUITE_RUN = "run"
SUITE_ADVICE = "rerun `python -m core dataset perturb` with the same options: it rebuilds the pairs and summary"


@dataclass(frozen=True)
class RobustnessSuite:
    """A finished suite of a run: what was asked, one row per pair, and the figures per family and slice."""

    name: str
    folder: Path
    spec: dict[str, Any]
    """``suite.json``: suite, families, per_example, seed, model, counts."""
    pairs: pd.DataFrame
    """``pairs.parquet`` but its ``context`` column (a suite over a whole dev set holds tens of MB of perturbed
    contexts: ``context(pair_id)`` reads one)."""
    summary: dict[str, Any]
    """``summary.json``: ``families`` (one entry per family) and ``slices`` (per family and slice)."""

    def context(self, pair_id: str) -> str | None:
        """The perturbed context of one pair, read from ``pairs.parquet`` (None for a copy that was not made)."""
        table = read_parquet(self.folder / PAIRS, SUITE_ADVICE, columns=["context"], filters=[("id", "==", pair_id)])
        values = table.column("context").to_pylist()
        return values[0] if values else None

    @property
    def run_dir(self) -> Path:
        """The run of the perturbed copies (``load_run`` it to open a copy in the explorer)."""
        return self.folder / SUITE_RUN


def load_suites(run: str | Path) -> dict[str, RobustnessSuite]:
    """Every finished suite of the run at ``run``, by name (none without a ``robustness`` folder); a damaged
    suite raises ``RunDamagedError`` naming its file."""
    root = Path(run) / ROBUSTNESS
    suites: dict[str, RobustnessSuite] = {}
    if not root.is_dir():
        return suites
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        if not (folder / SUITE_SUMMARY).is_file():
            continue  # a suite under way: its pairs and summary come last
        spec = read_json_file(folder / SUITE, SUITE_ADVICE)
        summary = read_json_file(folder / SUITE_SUMMARY, SUITE_ADVICE)
        if not isinstance(spec, dict) or not isinstance(summary, dict) or "families" not in summary:
            raise RunDamagedError(f"{folder} is not a readable robustness suite: {SUITE_ADVICE}.")
        names = read_parquet_schema(folder / PAIRS, SUITE_ADVICE).names
        columns = [name for name in names if name != "context"]
        pairs = read_parquet(folder / PAIRS, SUITE_ADVICE, columns=columns).to_pandas()
        suites[folder.name] = RobustnessSuite(folder.name, folder, spec, pairs, summary)
    return suites


__all__ = [
    "PAIRS",
    "PERTURBED",
    "ROBUSTNESS",
    "SUITE",
    "SUITE_RUN",
    "SUITE_SUMMARY",
    "RobustnessSuite",
    "load_suites",
]
