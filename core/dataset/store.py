"""A run directory's rows: partition files written atomically, read back whole or in part, and ``load_run``.

Why one file per partition, each written to a temporary name and then ``os.replace``d: a partition file
either exists whole or not at all, so a killed run (or a killed worker) loses only the partitions in flight,
and a rerun only needs to look at which files exist. Layout and columns: ``core.dataset.schema``; what the
run is: ``core.dataset.manifest``; the aggregates: ``core.dataset.summary``. Every file read here that turns
out damaged raises ``core.dataset.run_checks.RunDamagedError`` naming it.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.dataset.manifest import TEMPORARY_SUFFIX, read_manifest
from core.dataset.metadata import METADATA_COLUMNS, METADATA_FIELDS
from core.dataset.run_checks import (
    RunDamagedError,
    check_summary,
    read_json_file,
    read_parquet,
    read_parquet_schema,
)
from core.dataset.schema import (
    HEADS,
    MANIFEST,
    MODEL_SHAPE_KEY,
    SUMMARY,
    explanation_path,
    metadata_path,
    part_path,
    row_schema,
)
from core.explanation import Explanation

if TYPE_CHECKING:
    from core.dataset.summary import RunSummary

PART_ADVICE = "delete it and rerun the same command to recompute that partition"
REQUIRED_COLUMNS: tuple[str, ...] = ("id", "question", "context", "prediction", "score", "em", "f1", "correct", "error")
"""Columns every partition of every run version has (later versions only added columns)."""
AGGREGATE_ADVICE = "rerun the same command: it rebuilds the run's summary and head means from the partitions"
METADATA_ADVICE = "delete it and run `python -m core dataset metadata RUN` to compute it again"


@dataclass(frozen=True)
class Run:
    """A finished run, ready for a dashboard or a notebook."""

    out: Path
    rows: pd.DataFrame
    """One row per example with the scalar columns (no lists: ``read_rows`` gives any column), then the QA
    metadata columns (``core.dataset.metadata.METADATA_COLUMNS``)."""
    summary: RunSummary
    heads: pd.DataFrame
    """``heads.parquet``: statistic, layer, head, group, mean, count."""
    manifest: dict[str, Any]
    metadata_complete: bool = True
    """Whether every partition has its QA metadata (``python -m core dataset metadata RUN`` adds what is missing)."""

    def row(self, example_id: str) -> dict[str, Any]:
        """Every column of one example, lists included."""
        table = read_rows(self.out, filters=[("id", "==", example_id)])
        if table.num_rows == 0:
            raise KeyError(f"No example {example_id!r} in the run at {self.out}.")
        return table.slice(0, 1).to_pylist()[0]

    def explanation(self, example_id: str) -> Explanation:
        """The saved ``core.Explanation`` of a kept example (``keep_ids``)."""
        return Explanation.load(explanation_path(self.out, example_id))


def write_part(
    out: str | Path, index: int, rows: Sequence[dict[str, Any]], schema: pa.Schema, layers: int, heads: int
) -> pa.Table:
    """Write one partition's rows (the file appears complete or not at all); the table written."""
    shape = json.dumps({"layers": layers, "heads": heads}).encode("utf-8")
    table = pa.Table.from_pylist(list(rows), schema=schema.with_metadata({MODEL_SHAPE_KEY: shape}))
    write_table(part_path(out, index), table)
    return table


def write_table(target: Path, table: pa.Table) -> None:
    """Write a Parquet file whole or not at all (a temporary name in the same folder, then ``os.replace``)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}")
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def save_explanation(out: str | Path, example_id: str, explanation: Explanation) -> Path:
    """Save a kept example's Explanation atomically as ``.npz``."""
    target = explanation_path(out, example_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.stem}.{uuid.uuid4().hex}.npz")
    try:
        explanation.save(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


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


def _manifest(out: str | Path) -> dict[str, Any]:
    manifest = read_manifest(out)
    if manifest is None:
        raise FileNotFoundError(f"No run at {out} (no {MANIFEST}).")
    return manifest


def read_rows(
    out: str | Path,
    columns: Sequence[str] | None = None,
    filters: list[tuple[str, str, Any]] | None = None,
    partial: bool = False,
) -> pa.Table:
    """The rows of every partition as one Arrow table (``columns`` to read only some; ``partial``: a run under way)."""
    manifest = _manifest(out)
    tables = [
        read_parquet(path, PART_ADVICE, columns=columns, filters=filters) for path in part_files(out, manifest, partial)
    ]
    if tables:
        return pa.concat_tables(tables, promote_options="default")
    schema = run_schema(manifest)
    return schema.empty_table().select(list(columns)) if columns is not None else schema.empty_table()


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


def run_schema(manifest: dict[str, Any]) -> pa.Schema:
    """The schema of the run's rows, from its settings."""
    settings = manifest["settings"]
    return row_schema(settings["methods"], settings["faithfulness"])


def scalar_columns(schema: pa.Schema) -> list[str]:
    """Columns that are not lists or structs (what fits a plain table)."""
    return [item.name for item in schema if not pa.types.is_nested(item.type)]


_NULLABLE_TYPES = {pa.bool_(): pd.BooleanDtype(), pa.int32(): pd.Int32Dtype()}
"""Error rows hold nulls: nullable pandas types keep ``correct`` boolean and the counts integer."""


def _with_columns(table: pa.Table, fields: Sequence[pa.Field]) -> pa.Table:
    """``table`` with every field of ``fields`` it lacks added as nulls."""
    for field in fields:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table


def _partition_metadata(out: Path, path: Path, ids: pa.ChunkedArray) -> pa.Table | None:
    """The QA metadata of the partition whose rows are in ``path``, checked to be the same examples in the same order;
    ``None`` when the run has none for it yet (``core.dataset.run_metadata.add_metadata`` adds it)."""
    index = int(path.stem.removeprefix("part-"))
    target = metadata_path(out, index)
    if not target.is_file():
        return None
    table = read_parquet(target, METADATA_ADVICE)
    if "id" not in table.column_names or table.column("id").to_pylist() != ids.to_pylist():
        raise RunDamagedError(f"{target} does not hold the examples of {path}; {METADATA_ADVICE}.")
    return table


def _read_scalar_rows(out: Path, paths: Sequence[Path], schema: pa.Schema) -> tuple[pd.DataFrame, bool]:
    """The scalar columns of every partition, then the QA metadata columns; whether every partition had metadata.

    Columns a partition lacks (an older run's) and metadata a run has not computed yet read as null.
    """
    wanted = scalar_columns(schema)
    tables = []
    complete = True
    for path in paths:
        present = part_columns(path)
        table = read_parquet(path, PART_ADVICE, columns=[name for name in wanted if name in present])
        table = _with_columns(table, [schema.field(name) for name in wanted]).select(wanted)
        metadata = _partition_metadata(out, path, table.column("id"))
        complete = complete and metadata is not None
        if metadata is not None:
            for name in METADATA_COLUMNS:
                if name in metadata.column_names:
                    table = table.append_column(metadata.schema.field(name), metadata.column(name))
        tables.append(_with_columns(table, METADATA_FIELDS).select([*wanted, *METADATA_COLUMNS]))
    empty = _with_columns(schema.empty_table().select(wanted), METADATA_FIELDS)
    table = pa.concat_tables(tables) if tables else empty
    return table.to_pandas(types_mapper=_NULLABLE_TYPES.get), complete


def load_run(out: str | Path, partial: bool = False) -> Run:
    """A finished run: rows (scalar columns) as a pandas DataFrame, summary, heads and manifest.

    ``partial=True`` reads a run that is still under way (or was stopped): the partitions written so far,
    with the summary and head means computed from them on the spot. A damaged file raises ``RunDamagedError``
    naming it (a ``ValueError``); a folder that is not a run, ``FileNotFoundError`` or ``NotARunError``.
    """
    from core.dataset.summary import RunSummary, build_heads, build_summary

    root = Path(out)
    manifest = _manifest(root)
    paths = part_files(root, manifest, partial)
    if partial:
        summary = build_summary(root, manifest, partial=True)
        heads = build_heads(root, manifest, partial=True).to_pandas()
    else:
        data = check_summary(root / SUMMARY, read_json_file(root / SUMMARY, AGGREGATE_ADVICE), AGGREGATE_ADVICE)
        summary = RunSummary.from_dict(data)
        heads = read_parquet(root / HEADS, AGGREGATE_ADVICE).to_pandas()
    rows, metadata_complete = _read_scalar_rows(root, paths, run_schema(manifest))
    return Run(
        out=root, rows=rows, summary=summary, heads=heads, manifest=manifest, metadata_complete=metadata_complete
    )


__all__ = [
    "AGGREGATE_ADVICE",
    "PART_ADVICE",
    "Run",
    "load_run",
    "REQUIRED_COLUMNS",
    "part_columns",
    "part_files",
    "read_rows",
    "run_schema",
    "save_explanation",
    "scalar_columns",
    "write_part",
    "write_table",
]
