"""A run's partition files: where they are, what a file must hold to be one, and the advice when one is damaged.

Below ``store`` (reading a run) and ``summary`` (its aggregates), which both need them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.dataset.run_checks import RunDamagedError, read_parquet_schema
from core.dataset.schema import part_path

PART_ADVICE = "delete it and rerun the same command to recompute that partition"
REQUIRED_COLUMNS: tuple[str, ...] = ("id", "question", "context", "prediction", "score", "em", "f1", "correct", "error")
"""Columns every partition of every run version has (later versions only added columns)."""


def part_files(out: str | Path, manifest: dict[str, Any], partial: bool = False) -> list[Path]:
    """Every partition's file (an error names the missing ones), or with ``partial`` those written so far."""
    paths = [part_path(out, index) for index in range(len(manifest["partitions"]))]
    if partial:
        return [path for path in paths if path.is_file()]
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise RunDamagedError(
            f"The run at {out} is unfinished: {len(missing)} partition file(s) missing "
            f"({', '.join(str(path) for path in missing[:3])}{', ...' if len(missing) > 3 else ''}); rerun the same "
            "command to finish it."
        )
    return paths


def part_columns(path: Path) -> set[str]:
    """The columns of one partition file, checked to be a run's (``RunDamagedError`` naming it otherwise)."""
    present = set(read_parquet_schema(path, PART_ADVICE).names)
    missing = [name for name in REQUIRED_COLUMNS if name not in present]
    if missing:
        raise RunDamagedError(
            f"{path} lacks the column(s) {', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}: it is not "
            f"a partition of this run; {PART_ADVICE}."
        )
    return present


__all__ = ["PART_ADVICE", "REQUIRED_COLUMNS", "part_columns", "part_files"]
