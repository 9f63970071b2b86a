"""Adding QA metadata to a run: during the run, and afterwards without re-running the model.

Every partition gets ``metadata/part-NNNNN.parquet`` (``core.dataset.metadata``: one row per example, by id),
computed from the partition's rows and the model's tokenizer only, so a run made before metadata existed gains it
in seconds (``python -m core dataset metadata RUN``). The step is resumable: partitions that already have their
metadata file are skipped; each file is written whole or not at all.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.dataset.manifest import read_manifest
from core.dataset.metadata import metadata_table
from core.dataset.run_checks import read_parquet
from core.dataset.schema import MANIFEST, metadata_path, part_path
from core.dataset.store import PART_ADVICE, write_table
from core.models import load_tokenizer
from core.progress import ProgressCallback, report_progress

ROW_COLUMNS: tuple[str, ...] = (
    "id",
    "question",
    "context",
    "gold_answers",
    "gold_starts",
    "prediction",
    "prediction_start",
)
"""What the metadata is computed from."""


def missing_metadata(out: str | Path, manifest: dict[str, Any]) -> list[int]:
    """Finished partitions (their rows exist) without a metadata file."""
    return [
        index
        for index in range(len(manifest["partitions"]))
        if part_path(out, index).is_file() and not metadata_path(out, index).is_file()
    ]


def write_partition_metadata(out: str | Path, index: int, tokenizer: Any) -> None:
    """Compute and write partition ``index``'s metadata from its rows."""
    rows = read_parquet(part_path(out, index), PART_ADVICE, columns=list(ROW_COLUMNS))
    write_table(metadata_path(out, index), metadata_table(rows, tokenizer))


def add_metadata(
    out: str | Path, *, tokenizer: Any | None = None, progress: ProgressCallback | None = None
) -> list[int]:
    """Add the missing metadata files of the run in ``out``; the partitions it wrote.

    ``tokenizer`` counts context tokens (default: the run's model's tokenizer, loaded without the model).
    """
    root = Path(out)
    manifest = read_manifest(root)
    if manifest is None:
        raise FileNotFoundError(f"No run at {root} (no {MANIFEST}).")
    missing = missing_metadata(root, manifest)
    if missing and tokenizer is None:
        tokenizer = load_tokenizer(manifest["model"])
    for done, index in enumerate(missing):
        write_partition_metadata(root, index, tokenizer)
        report_progress(progress, "metadata", (done + 1) / len(missing))
    return missing


__all__ = ["ROW_COLUMNS", "add_metadata", "missing_metadata", "write_partition_metadata"]
