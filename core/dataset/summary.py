"""A run's aggregates: ``summary.json`` (the official evaluation and the run's counts) and ``heads.parquet``
(each head statistic's mean per layer, head and group), computed from the partition files."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.attention import HEAD_STATISTICS
from core.dataset.evaluation import FAILED, evaluate_rows
from core.dataset.manifest import TEMPORARY_SUFFIX, write_json
from core.dataset.parts import PART_ADVICE, part_columns, part_files
from core.dataset.reading import SQUAD_V2
from core.dataset.run_checks import read_parquet, read_parquet_schema
from core.dataset.schema import HEAD_GROUPS, HEADS, HEADS_SCHEMA, MODEL_SHAPE_KEY, SUMMARY, part_path

EVALUATION_COLUMNS: tuple[str, ...] = (
    "em",
    "f1",
    "error",
    "error_kind",
    "is_impossible",
    "null_margin",
    "span_em",
    "span_f1",
    "ig_converged",
)
"""What the summary reads from every partition (a version-1 run lacks some: they read as null)."""


@dataclass(frozen=True)
class RunSummary:
    """What ``summary.json`` holds: the official SQuAD evaluation (``core.dataset.evaluation``) and the counts.

    EM and F1 are in percent over ``questions``: every record of the file that is a question, a question the
    model could not run on scoring 0 (``failures``); ``malformed`` records are counted apart, not scored.
    """

    n: int
    """Records read (within ``--limit``): questions plus malformed records."""
    em: float | None
    f1: float | None
    answered: int
    """Questions the model ran on."""
    failures: int
    """Questions it could not run on (scored 0)."""
    seconds: float
    """Wall-clock seconds spent computing partitions, summed over the sessions of the run (a resume adds its own)."""
    examples_per_second: float | None
    """Examples computed per wall-clock second, over those sessions."""
    model: str
    data: str
    squad_version: str
    partitions: int
    questions: int | None = None
    malformed: int | None = None
    null_threshold: float | None = None
    """SQuAD v2.0: the run abstains when ``null_margin`` exceeds this."""
    has_answer: dict[str, Any] | None = None
    """SQuAD v2.0: ``exact``, ``f1``, ``total`` over the answerable questions (the official ``HasAns_*``)."""
    no_answer: dict[str, Any] | None = None
    """SQuAD v2.0: the same over the unanswerable questions (``NoAns_*``)."""
    best_exact: float | None = None
    best_exact_threshold: float | None = None
    best_f1: float | None = None
    best_f1_threshold: float | None = None
    ig_unconverged: int | None = None
    """Runs with integrated gradients: rows whose maps did not all meet their tolerance."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        names = {item.name for item in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in names})


def _column(table: pa.Table, name: str) -> np.ndarray:
    if name not in table.column_names:
        return np.full(table.num_rows, None, dtype=object)
    return table.column(name).to_numpy(zero_copy_only=False)


def read_evaluation_columns(path: Path) -> pa.Table:
    """The columns the summary needs from one partition file (those it has)."""
    present = part_columns(path)
    return read_parquet(path, PART_ADVICE, columns=[name for name in EVALUATION_COLUMNS if name in present])


def error_kinds(table: pa.Table) -> np.ndarray:
    """``error_kind`` per row; a version-1 run has none, so its error rows count as failed questions."""
    kinds = _column(table, "error_kind")
    errors = _column(table, "error")
    return np.array(
        [kind if kind is not None or error is None else FAILED for kind, error in zip(kinds, errors, strict=True)],
        dtype=object,
    )


def partition_stats(table: pa.Table) -> dict[str, float]:
    """Counts and sums a progress bar needs: rows, questions, answered questions and their EM and F1 sums."""
    kinds = error_kinds(table)
    answered = np.array([kind is None for kind in kinds], dtype=bool)
    em = np.asarray(_column(table, "em"), dtype=np.float64)
    f1 = np.asarray(_column(table, "f1"), dtype=np.float64)
    return {
        "n": int(table.num_rows),
        "questions": int(sum(kind != "malformed" for kind in kinds)),
        "answered": int(answered.sum()),
        "em_sum": float(np.nansum(em[answered])) if answered.any() else 0.0,
        "f1_sum": float(np.nansum(f1[answered])) if answered.any() else 0.0,
    }


def build_summary(out: str | Path, manifest: dict[str, Any], partial: bool = False) -> RunSummary:
    """``summary.json`` from the partition files and the manifest's sessions."""
    tables = [read_evaluation_columns(path) for path in part_files(out, manifest, partial)]
    columns = {name: [] for name in EVALUATION_COLUMNS}
    for table in tables:
        for name in EVALUATION_COLUMNS:
            columns[name].append(_column(table, name))
        columns["error_kind"][-1] = error_kinds(table)
    rows = {name: np.concatenate(parts) if parts else np.array([], dtype=object) for name, parts in columns.items()}
    version = manifest["input"]["squad_version"]
    evaluation = evaluate_rows(rows, version)
    sessions = manifest.get("sessions", [])
    seconds = float(sum(session.get("seconds") or 0.0 for session in sessions))
    computed = int(sum(session.get("examples") or 0 for session in sessions))
    settings = manifest["settings"]
    ig = "integrated_gradients" in settings["methods"]
    converged = rows["ig_converged"]
    return RunSummary(
        n=len(rows["em"]),
        em=evaluation.overall.exact,
        f1=evaluation.overall.f1,
        answered=evaluation.questions - evaluation.failures,
        failures=evaluation.failures,
        seconds=seconds,
        examples_per_second=computed / seconds if seconds > 0 else None,
        model=manifest["model"],
        data=manifest["input"]["path"],
        squad_version=version,
        partitions=len(manifest["partitions"]),
        questions=evaluation.questions,
        malformed=evaluation.malformed,
        null_threshold=settings.get("null_threshold", 0.0) if version == SQUAD_V2 else None,
        has_answer=asdict(evaluation.has_answer) if evaluation.has_answer else None,
        no_answer=asdict(evaluation.no_answer) if evaluation.no_answer else None,
        best_exact=evaluation.best_exact,
        best_exact_threshold=evaluation.best_exact_threshold,
        best_f1=evaluation.best_f1,
        best_f1_threshold=evaluation.best_f1_threshold,
        ig_unconverged=sum(1 for value in converged if value is not None and not bool(value)) if ig else None,
    )


def build_heads(out: str | Path, manifest: dict[str, Any], partial: bool = False) -> pa.Table:
    """``heads.parquet``: each head statistic's mean per layer, head and group, read one partition at a time."""
    names = list(HEAD_STATISTICS)
    paths = part_files(out, manifest, partial)
    layers, heads = model_shape(paths)
    sums = {(name, group): np.zeros(layers * heads) for name in names for group in HEAD_GROUPS}
    counts = dict.fromkeys(HEAD_GROUPS, 0)
    for path in paths:
        table = read_parquet(path, PART_ADVICE, columns=["correct", "error", *(f"head.{name}" for name in names)])
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
        metadata = read_parquet_schema(path, PART_ADVICE).metadata or {}
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
        ids = read_parquet(part_path(out, index), PART_ADVICE, columns=["id"]).column("id").to_pylist()
        if ids != partition["ids"]:
            raise ValueError(
                f"{part_path(out, index)} does not hold partition {index}'s ids; delete it and rerun to recompute it."
            )


__all__ = [
    "EVALUATION_COLUMNS",
    "RunSummary",
    "build_heads",
    "build_summary",
    "check_ids",
    "error_kinds",
    "finish_run",
    "model_shape",
    "partition_stats",
]
