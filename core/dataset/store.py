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
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from core.dataset.manifest import TEMPORARY_SUFFIX, read_manifest
from core.dataset.metadata import METADATA_COLUMNS, METADATA_FIELDS, METADATA_SCHEMA
from core.dataset.parts import PART_ADVICE, REQUIRED_COLUMNS, part_columns, part_files
from core.dataset.robustness_store import load_suites
from core.dataset.run_checks import (
    RunDamagedError,
    check_summary,
    read_json_file,
    read_parquet,
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

AGGREGATE_ADVICE = "rerun the same command: it rebuilds the run's summary and head means from the partitions"
METADATA_ADVICE = "delete it and run `python -m core dataset metadata RUN` to compute it again"


@dataclass(frozen=True)
class Run:
    """A finished run, ready for a dashboard or a notebook."""

    out: Path
    rows: pd.DataFrame
    """One row per example with the scalar columns but the context (no lists: ``row`` and ``read_rows`` give any
    column), then the QA metadata columns (``core.dataset.metadata.METADATA_COLUMNS``)."""
    summary: RunSummary
    heads: pd.DataFrame
    """``heads.parquet``: statistic, layer, head, group, mean, count."""
    manifest: dict[str, Any]
    metadata_complete: bool = True
    """Whether every partition has its QA metadata (``python -m core dataset metadata RUN`` adds what is missing)."""

    def row(self, example_id: str) -> dict[str, Any]:
        """Every column of one example, lists and its context included (its partition file alone is read)."""
        index = next(
            (number for number, partition in enumerate(self.manifest["partitions"]) if example_id in partition["ids"]),
            None,
        )
        if index is None:
            raise KeyError(f"No example {example_id!r} in the run at {self.out}.")
        table = read_parquet(part_path(self.out, index), PART_ADVICE, filters=[("id", "==", example_id)])
        if table.num_rows == 0:
            raise KeyError(f"No example {example_id!r} in {part_path(self.out, index)}.")
        return table.slice(0, 1).to_pylist()[0]

    def explanation(self, example_id: str) -> Explanation:
        """The saved ``core.Explanation`` of a kept example (``keep_ids``)."""
        return Explanation.load(explanation_path(self.out, example_id))

    @property
    def robustness(self) -> dict[str, Any]:
        """The run's finished robustness suites by name (``RobustnessSuite``: pairs, summary, run_dir), read on use."""
        return load_suites(self.out)


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


def _manifest(out: str | Path) -> dict[str, Any]:
    manifest = read_manifest(out)
    if manifest is None:
        raise FileNotFoundError(f"No run at {out} (no {MANIFEST}).")
    return manifest


def read_partitions(
    paths: Sequence[Path], advice: str, columns: Sequence[str] | None = None, filters: Any = None
) -> pa.Table:
    """Many partition files as one table, in the order given: one pyarrow dataset scan (a file at a time would cost
    ~30 ms each, a minute for a 100k-row run), falling back to reading them one by one when the scan fails or
    reads a file that lacks the run's ``id`` column, so that a damaged file is named (``RunDamagedError``)."""
    if not paths:
        raise ValueError("read_partitions needs at least one file.")
    try:
        table = ds.dataset([str(path) for path in paths], format="parquet").to_table(columns=columns, filter=filters)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, OSError, ValueError):
        table = None
    if table is not None and ("id" not in table.column_names or table.column("id").null_count == 0):
        return table
    tables = [read_parquet(path, advice, columns=columns, filters=filters) for path in paths]
    return pa.concat_tables(tables, promote_options="default")


def read_rows(
    out: str | Path,
    columns: Sequence[str] | None = None,
    filters: list[tuple[str, str, Any]] | None = None,
    partial: bool = False,
) -> pa.Table:
    """The rows of every partition as one Arrow table (``columns`` to read only some; ``partial``: a run under way)."""
    manifest = _manifest(out)
    paths = part_files(out, manifest, partial)
    if paths:
        expression = pq.filters_to_expression(filters) if filters else None
        return read_partitions(paths, PART_ADVICE, columns=columns, filters=expression)
    schema = run_schema(manifest)
    return schema.empty_table().select(list(columns)) if columns is not None else schema.empty_table()


def run_schema(manifest: dict[str, Any]) -> pa.Schema:
    """The schema of the run's rows, from its settings."""
    settings = manifest["settings"]
    return row_schema(settings["methods"], settings["faithfulness"], bool(settings.get("region_shares", False)))


def scalar_columns(schema: pa.Schema) -> list[str]:
    """Columns that are not lists or structs (what fits a plain table)."""
    return [item.name for item in schema if not pa.types.is_nested(item.type)]


TABLE_TYPES = {pa.bool_(): pd.BooleanDtype(), pa.int32(): pd.Int32Dtype(), pa.string(): pd.StringDtype("pyarrow")}
"""Error rows hold nulls: nullable pandas types keep ``correct`` boolean and the counts integer; text stays in Arrow
(a Python object per string would triple a 100k-row run's memory)."""


def _with_columns(table: pa.Table, fields: Sequence[pa.Field]) -> pa.Table:
    """``table`` with every field of ``fields`` it lacks added as nulls."""
    for field in fields:
        if field.name not in table.column_names:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
    return table


TABLE_EXCLUDED: tuple[str, ...] = ("context",)
"""Scalar columns ``Run.rows`` leaves on disk: a context is shared by several questions and is the bulk of a run's
text (``Run.row`` and ``read_rows`` give it)."""


def _partition_index(path: Path) -> int:
    return int(path.stem.removeprefix("part-"))


def _check_ids(manifest: dict[str, Any], paths: Sequence[Path], ids: pa.ChunkedArray) -> list[int]:
    """The rows each partition holds, after checking the files hold the manifest's ids in order."""
    counts = [len(manifest["partitions"][_partition_index(path)]["ids"]) for path in paths]
    expected = [example_id for path in paths for example_id in manifest["partitions"][_partition_index(path)]["ids"]]
    if ids.to_pylist() != expected:
        offset = 0
        for path, count in zip(paths, counts, strict=True):
            held = read_parquet(path, PART_ADVICE, columns=["id"]).column("id").to_pylist()
            if held != expected[offset : offset + count]:
                raise RunDamagedError(
                    f"{path} does not hold the examples the run's manifest lists for it (another run's file?); "
                    f"{PART_ADVICE}."
                )
            offset += count
    return counts


def _metadata_columns(
    out: Path, paths: Sequence[Path], counts: Sequence[int], ids: pa.ChunkedArray
) -> tuple[list[pa.ChunkedArray], bool]:
    """The QA metadata columns aligned with the rows (null where a partition has no metadata file yet), checked to
    be the same examples in the same order; whether every partition had one."""
    present = [metadata_path(out, _partition_index(path)).is_file() for path in paths]
    if not any(present):
        return [pa.chunked_array([pa.nulls(len(ids), field.type)]) for field in METADATA_FIELDS], False
    files = [metadata_path(out, _partition_index(path)) for path, has in zip(paths, present, strict=True) if has]
    metadata = _with_columns(read_partitions(files, METADATA_ADVICE), METADATA_FIELDS)
    if all(present) and metadata.num_rows == len(ids) and metadata.column("id").equals(ids):
        metadata = metadata.select(["id", *METADATA_COLUMNS]).cast(METADATA_SCHEMA)
        return [metadata.column(name) for name in METADATA_COLUMNS], True
    pieces: list[pa.Table] = []
    offset = used = 0
    wanted = ["id", *METADATA_COLUMNS]
    for path, count, has in zip(paths, counts, present, strict=True):
        if has:
            piece = metadata.slice(used, count).select(wanted)
            if piece.num_rows != count or piece.column("id") != ids.slice(offset, count):
                target = metadata_path(out, _partition_index(path))
                raise RunDamagedError(f"{target} does not hold the examples of {path}; {METADATA_ADVICE}.")
            used += count
        else:
            piece = _with_columns(pa.table({"id": ids.slice(offset, count)}), METADATA_FIELDS).select(wanted)
        pieces.append(piece.cast(METADATA_SCHEMA))
        offset += count
    joined = pa.concat_tables(pieces)
    return [joined.column(name) for name in METADATA_COLUMNS], all(present)


def _read_table_rows(out: Path, manifest: dict[str, Any], paths: Sequence[Path]) -> tuple[pd.DataFrame, bool]:
    """The scalar columns of every partition but ``TABLE_EXCLUDED``, then the QA metadata columns; whether every
    partition had metadata. Columns a partition lacks (an older run's) read as null."""
    schema = run_schema(manifest)
    wanted = [name for name in scalar_columns(schema) if name not in TABLE_EXCLUDED]
    fields = [schema.field(name) for name in wanted]
    if not paths:
        table = _with_columns(schema.empty_table().select(wanted), METADATA_FIELDS)
        return table.to_pandas(types_mapper=TABLE_TYPES.get), True
    try:
        table = read_partitions(paths, PART_ADVICE, columns=wanted)
    except RunDamagedError:  # every file has the run's id, yet one lacks a column: an older run, or not a run's file
        table = pa.concat_tables(
            [
                _with_columns(read_parquet(path, PART_ADVICE, columns=sorted(part_columns(path) & set(wanted))), fields)
                for path in paths
            ],
            promote_options="default",
        )
    table = _with_columns(table, fields).select(wanted)
    counts = _check_ids(manifest, paths, table.column("id"))
    columns, complete = _metadata_columns(out, paths, counts, table.column("id"))
    for field, column in zip(METADATA_FIELDS, columns, strict=True):
        table = table.append_column(field, column)
    return table.to_pandas(types_mapper=TABLE_TYPES.get), complete


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
    rows, metadata_complete = _read_table_rows(root, manifest, paths)
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
    "read_partitions",
    "read_rows",
    "run_schema",
    "save_explanation",
    "scalar_columns",
    "write_part",
    "write_table",
]
