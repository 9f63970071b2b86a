"""A run directory on disk: the manifest, partition files written atomically, the aggregates, and ``load_run``.

Why one file per partition, each written to a temporary name and then ``os.replace``d: a partition file
either exists whole or not at all, so a killed run (or a killed worker) loses only the partitions in flight,
and a rerun only needs to look at which files exist. Layout and columns: ``core.dataset.schema``.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.attention import HEAD_STATISTICS
from core.dataset.manifest import TEMPORARY_SUFFIX, read_manifest, write_json
from core.dataset.schema import (
    HEAD_GROUPS,
    HEADS,
    HEADS_SCHEMA,
    MANIFEST,
    MODEL_SHAPE_KEY,
    SUMMARY,
    explanation_path,
    part_path,
    row_schema,
)
from core.explanation import Explanation

MANIFEST_FORMAT = "qa-lens/dataset-run"
MANIFEST_VERSION = 1


@dataclass(frozen=True)
class RunSummary:
    """What ``summary.json`` holds: the run's headline figures (EM and F1 in percent, over answered examples)."""

    n: int
    em: float | None
    f1: float | None
    answered: int
    failures: int
    seconds: float
    """Wall-clock seconds spent computing partitions, summed over the sessions of the run (a resume adds its own)."""
    examples_per_second: float | None
    """Examples computed per wall-clock second, over those sessions."""
    model: str
    data: str
    squad_version: str
    partitions: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        names = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


@dataclass(frozen=True)
class Run:
    """A finished run, ready for a dashboard or a notebook."""

    out: Path
    rows: pd.DataFrame
    """One row per example with the scalar columns (no lists: ``read_rows`` gives any column)."""
    summary: RunSummary
    heads: pd.DataFrame
    """``heads.parquet``: statistic, layer, head, group, mean, count."""
    manifest: dict[str, Any]

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
    target = part_path(out, index)
    target.parent.mkdir(parents=True, exist_ok=True)
    shape = json.dumps({"layers": layers, "heads": heads}).encode("utf-8")
    table = pa.Table.from_pylist(list(rows), schema=schema.with_metadata({MODEL_SHAPE_KEY: shape}))
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}")
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return table


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





def _part_files(out: str | Path, manifest: dict[str, Any], partial: bool = False) -> list[Path]:
    """Every partition's file (an error names the missing ones), or with ``partial`` those written so far."""
    paths = [part_path(out, index) for index in range(len(manifest["partitions"]))]
    if partial:
        return [path for path in paths if path.is_file()]
    missing = [path.name for path in paths if not path.is_file()]
    if missing:
        raise ValueError(
            f"The run at {out} is unfinished: {len(missing)} partition file(s) missing ({', '.join(missing[:3])}"
            f"{', ...' if len(missing) > 3 else ''}); rerun the same command to finish it."
        )
    return paths


def read_rows(
    out: str | Path,
    columns: Sequence[str] | None = None,
    filters: list[tuple[str, str, Any]] | None = None,
    partial: bool = False,
) -> pa.Table:
    """The rows of every partition as one Arrow table (``columns`` to read only some; ``partial``: a run under way)."""
    manifest = read_manifest(out)
    if manifest is None:
        raise FileNotFoundError(f"No run at {out} (no {MANIFEST}).")
    tables = [pq.read_table(path, columns=columns, filters=filters) for path in _part_files(out, manifest, partial)]
    if tables:
        return pa.concat_tables(tables)
    schema = _schema(manifest)
    return schema.empty_table().select(list(columns)) if columns is not None else schema.empty_table()


def _schema(manifest: dict[str, Any]) -> pa.Schema:
    settings = manifest["settings"]
    return row_schema(settings["methods"], settings["faithfulness"])


def partition_stats(table: pa.Table) -> dict[str, float]:
    """Counts and sums a progress bar and a summary need, from a table with ``em``, ``f1``, ``error``, ``seconds``."""
    error = table.column("error").to_numpy(zero_copy_only=False)
    answered = np.array([value is None for value in error], dtype=bool)
    em = np.asarray(table.column("em").to_numpy(zero_copy_only=False), dtype=np.float64)
    f1 = np.asarray(table.column("f1").to_numpy(zero_copy_only=False), dtype=np.float64)
    return {
        "n": int(table.num_rows),
        "answered": int(answered.sum()),
        "em_sum": float(np.nansum(em[answered])) if answered.any() else 0.0,
        "f1_sum": float(np.nansum(f1[answered])) if answered.any() else 0.0,
    }


def build_summary(out: str | Path, manifest: dict[str, Any], partial: bool = False) -> RunSummary:
    """``summary.json`` from the partition files and the manifest's sessions."""
    totals = {"n": 0, "answered": 0, "em_sum": 0.0, "f1_sum": 0.0}
    for path in _part_files(out, manifest, partial):
        stats = partition_stats(pq.read_table(path, columns=["em", "f1", "error"]))
        for key in totals:
            totals[key] += stats[key]
    sessions = manifest.get("sessions", [])
    seconds = float(sum(session["seconds"] for session in sessions))
    computed = int(sum(session["examples"] for session in sessions))
    answered = int(totals["answered"])
    return RunSummary(
        n=int(totals["n"]),
        em=100.0 * totals["em_sum"] / answered if answered else None,
        f1=100.0 * totals["f1_sum"] / answered if answered else None,
        answered=answered,
        failures=int(totals["n"]) - answered,
        seconds=seconds,
        examples_per_second=computed / seconds if seconds > 0 else None,
        model=manifest["model"],
        data=manifest["input"]["path"],
        squad_version=manifest["input"]["squad_version"],
        partitions=len(manifest["partitions"]),
    )


def build_heads(out: str | Path, manifest: dict[str, Any], partial: bool = False) -> pa.Table:
    """``heads.parquet``: each head statistic's mean per layer, head and group, read one partition at a time."""
    names = list(HEAD_STATISTICS)
    paths = _part_files(out, manifest, partial)
    layers, heads = model_shape(paths)
    sums = {(name, group): np.zeros(layers * heads) for name in names for group in HEAD_GROUPS}
    counts = dict.fromkeys(HEAD_GROUPS, 0)
    for path in paths:
        table = pq.read_table(path, columns=["correct", "error", *(f"head.{name}" for name in names)])
        table = table.filter(pc.is_null(table.column("error")))
        if table.num_rows == 0:
            continue
        correct = table.column("correct").to_numpy(zero_copy_only=False).astype(bool)
        groups = {"correct": correct, "wrong": ~correct, "all": np.ones_like(correct)}
        for group, members in groups.items():
            counts[group] += int(members.sum())
        for name in names:
            values = pc.list_flatten(table.column(f"head.{name}")).to_numpy().astype(np.float64)
            values = values.reshape(table.num_rows, layers * heads)
            for group, members in groups.items():
                sums[(name, group)] += values[members].sum(axis=0)
    records: dict[str, list[Any]] = {column: [] for column in HEADS_SCHEMA.names}
    for name in names:
        for group in HEAD_GROUPS:
            for index in range(layers * heads):
                records["statistic"].append(name)
                records["layer"].append(index // heads)
                records["head"].append(index % heads)
                records["group"].append(group)
                records["mean"].append(float(sums[(name, group)][index]) / counts[group] if counts[group] else None)
                records["count"].append(counts[group])
    return pa.table(records, schema=HEADS_SCHEMA)


def model_shape(paths: Sequence[Path]) -> tuple[int, int]:
    """``(layers, heads)`` of the model that wrote these partitions (``(0, 0)`` when there are none)."""
    for path in paths:
        metadata = pq.read_schema(path).metadata or {}
        if MODEL_SHAPE_KEY in metadata:
            shape = json.loads(metadata[MODEL_SHAPE_KEY])
            return int(shape["layers"]), int(shape["heads"])
    return 0, 0


def finish_run(out: str | Path, manifest: dict[str, Any]) -> RunSummary:
    """Write ``summary.json`` and ``heads.parquet`` from the partitions (every one must exist)."""
    root = Path(out)
    check_ids(root, manifest)
    summary = build_summary(root, manifest)
    heads = build_heads(root, manifest)
    temporary = root / f".{HEADS}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}"
    pq.write_table(heads, temporary)
    os.replace(temporary, root / HEADS)
    write_json(root / SUMMARY, summary.to_dict())
    return summary


def check_ids(out: Path, manifest: dict[str, Any]) -> None:
    """Every id of the manifest exactly once, in its own partition (a guard against stale or foreign files)."""
    for index, partition in enumerate(manifest["partitions"]):
        ids = pq.read_table(part_path(out, index), columns=["id"]).column("id").to_pylist()
        if ids != partition["ids"]:
            raise ValueError(
                f"{part_path(out, index)} does not hold partition {index}'s ids; delete it and rerun to recompute it."
            )


def scalar_columns(schema: pa.Schema) -> list[str]:
    """Columns that are not lists or structs (what fits a plain table)."""
    return [item.name for item in schema if not pa.types.is_nested(item.type)]


_NULLABLE_TYPES = {pa.bool_(): pd.BooleanDtype(), pa.int32(): pd.Int32Dtype()}
"""Error rows hold nulls: nullable pandas types keep ``correct`` boolean and the counts integer."""


def load_run(out: str | Path, partial: bool = False) -> Run:
    """A finished run: rows (scalar columns) as a pandas DataFrame, summary, heads and manifest.

    ``partial=True`` reads a run that is still under way (or was stopped): the partitions written so far,
    with the summary and head means computed from them on the spot.
    """
    root = Path(out)
    manifest = read_manifest(root)
    if manifest is None:
        raise FileNotFoundError(f"No run at {root} (no {MANIFEST}).")
    paths = _part_files(root, manifest, partial)
    summary_path = root / SUMMARY
    if partial:
        summary = build_summary(root, manifest, partial=True)
        heads = build_heads(root, manifest, partial=True).to_pandas()
    elif not summary_path.is_file():
        raise ValueError(f"The run at {root} has no {SUMMARY}; rerun the same command to finish it.")
    else:
        summary = RunSummary.from_dict(json.loads(summary_path.read_text(encoding="utf-8")))
        heads = pq.read_table(root / HEADS).to_pandas()
    columns = scalar_columns(_schema(manifest))
    table = pa.concat_tables([pq.read_table(path, columns=columns) for path in paths]) if paths else None
    if table is None:
        table = _schema(manifest).empty_table().select(columns)
    rows = table.to_pandas(types_mapper=_NULLABLE_TYPES.get)
    return Run(out=root, rows=rows, summary=summary, heads=heads, manifest=manifest)


__all__ = [
    "Run",
    "RunSummary",
    "build_heads",
    "build_summary",
    "check_ids",
    "finish_run",
    "load_run",
    "partition_stats",
    "read_rows",
    "save_explanation",
    "scalar_columns",
    "write_part",
]
