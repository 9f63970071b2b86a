"""The on-disk contract of a run directory: file names, and the Parquet columns of one row per example.

The dashboard's dataset page and notebooks read exactly these names, so they live in one place::

    <out>/manifest.json                 input (path, sha256), model, settings, versions, partitions and their ids
    <out>/parts/part-00000.parquet      rows of partition 0 (one Parquet file per partition, written atomically)
    <out>/summary.json                  the official evaluation (EM, F1 and, for v2.0, HasAns/NoAns and the best
                                        no-answer threshold), counts, seconds, examples/s, model, data
    <out>/heads.parquet                 per head statistic, layer, head and group (correct/wrong/all): mean, count
    <out>/explanations/<safe id>.npz    full ``core.Explanation`` of the ids asked for (``keep_ids``)
    <out>/metadata/part-00000.parquet   QA metadata of partition 0's examples (``core.dataset.metadata``), by id
    <out>/slices.json                   named slices of the run (``core.dataset.slices``), readable and shareable

Columns of a row (``row_schema``); computed columns are null on an error row, whose ``error`` says why:

- ``id``, ``title``, ``question``, ``context``, ``gold_answers``, ``gold_starts``, ``is_impossible``
- ``prediction``, ``prediction_start``, ``prediction_end`` (characters, end-exclusive; ``""`` and null when the
  model abstains), ``score`` (the best span's ``p_start * p_end``), ``top_k`` (``text``, ``score``,
  ``start_char``, ``end_char``; best first)
- ``null_margin`` (``null_score - best_span_score`` in the answer's window, logits: SQuAD 2.0's no-answer
  decision, as ``Explanation.answers_null``), ``no_answer`` (the model abstained: a SQuAD v2.0 run and
  ``null_margin > null_threshold``; always false for v1.1)
- ``em`` (0 or 1), ``f1``, ``correct`` (``em == 1``) of the prediction; ``span_em``, ``span_f1``: of the best
  span, whether or not it was given (the official v2.0 best-threshold search needs them)
- ``windows``, ``answer_window``, ``tokens``, ``question_tokens``, ``context_tokens`` (the last three in
  the answer's window)
- ``seconds`` (this example's share of its batches' wall time: its own encoding and opt-in work, plus a
  share by tokens of each batched pass it was in), ``error``, ``error_kind`` (``malformed``: a record the
  reader rejected, not counted as a question; ``failed``: a question the model could not run on, scored 0)
- with integrated gradients: ``ig_converged`` (every target met its tolerance) and ``ig_nodes`` (the most
  path nodes any target used)
- ``saliency_question_share.<method>.<target>`` and ``saliency_answer_share.<method>.<target>``: the share
  of ``sum(|saliency|)`` over the answer window's tokens that falls on the question's tokens, and on the
  predicted span's tokens (null when the saliency is zero everywhere)
- in a run over examples with a ``region`` (a robustness suite): ``saliency_region_share.<method>.<target>``,
  the share on the context tokens that overlap the region (null when it lies outside the answer's window)
- ``head.<statistic>`` for each of ``core.attention.HEAD_STATISTICS``: ``layers * heads`` float32 values,
  layer-major (``values.reshape(layers, heads)``; every partition file's Parquet metadata
  ``qa_lens.model_shape`` holds ``{"layers": ..., "heads": ...}``)
- with faithfulness: ``faithfulness.<explainer>.<metric>`` for ``FAITHFULNESS_METRICS``, where the
  explainers are the run's saliency methods, ``attention_rollout`` and ``random``
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from core.attention import HEAD_STATISTICS
from core.types import TARGETS

MANIFEST = "manifest.json"
SUMMARY = "summary.json"
HEADS = "heads.parquet"
PARTS_DIR = "parts"
EXPLANATIONS_DIR = "explanations"
METADATA_DIR = "metadata"
SLICES = "slices.json"

FAITHFULNESS_METRICS: tuple[str, ...] = ("deletion_aopc", "comprehensiveness", "sufficiency")
FAITHFULNESS_ATTENTION: tuple[str, ...] = ("attention_rollout",)
HEAD_GROUPS: tuple[str, ...] = ("correct", "wrong", "all")
MODEL_SHAPE_KEY = b"qa_lens.model_shape"
"""Parquet metadata key of every partition file: ``{"layers": L, "heads": H}``, the shape of the ``head.*`` lists."""

TOP_K_TYPE = pa.struct(
    [
        pa.field("text", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("start_char", pa.int32()),
        pa.field("end_char", pa.int32()),
    ]
)

BASE_FIELDS: tuple[pa.Field, ...] = (
    pa.field("id", pa.string(), nullable=False),
    pa.field("title", pa.string()),
    pa.field("question", pa.string()),
    pa.field("context", pa.string()),
    pa.field("gold_answers", pa.list_(pa.string())),
    pa.field("gold_starts", pa.list_(pa.int32())),
    pa.field("is_impossible", pa.bool_()),
    pa.field("prediction", pa.string()),
    pa.field("prediction_start", pa.int32()),
    pa.field("prediction_end", pa.int32()),
    pa.field("score", pa.float64()),
    pa.field("top_k", pa.list_(TOP_K_TYPE)),
    pa.field("null_margin", pa.float64()),
    pa.field("no_answer", pa.bool_()),
    pa.field("em", pa.float64()),
    pa.field("f1", pa.float64()),
    pa.field("correct", pa.bool_()),
    pa.field("span_em", pa.float64()),
    pa.field("span_f1", pa.float64()),
    pa.field("windows", pa.int32()),
    pa.field("answer_window", pa.int32()),
    pa.field("tokens", pa.int32()),
    pa.field("question_tokens", pa.int32()),
    pa.field("context_tokens", pa.int32()),
    pa.field("seconds", pa.float64()),
    pa.field("error", pa.string()),
    pa.field("error_kind", pa.string()),
)

INTEGRATED_GRADIENTS_FIELDS: tuple[pa.Field, ...] = (
    pa.field("ig_converged", pa.bool_()),
    pa.field("ig_nodes", pa.int32()),
)
"""Columns of a run with integrated gradients: whether every target converged, and the most nodes one used."""

HEADS_SCHEMA = pa.schema(
    [
        pa.field("statistic", pa.string()),
        pa.field("layer", pa.int32()),
        pa.field("head", pa.int32()),
        pa.field("group", pa.string()),
        pa.field("mean", pa.float64()),
        pa.field("count", pa.int64()),
    ]
)
"""``heads.parquet``: the mean of each head statistic over the examples of a group, and how many there were."""


def saliency_share_columns(methods: Sequence[str]) -> list[str]:
    """``saliency_question_share.<method>.<target>`` and ``saliency_answer_share.<method>.<target>`` names."""
    return [
        f"saliency_{part}_share.{method}.{target}"
        for method in methods
        for part in ("question", "answer")
        for target in TARGETS
    ]


def head_columns() -> list[str]:
    """``head.<statistic>`` for every statistic ``core.attention.head_statistics`` returns."""
    return [f"head.{name}" for name in HEAD_STATISTICS]


def faithfulness_explainers(methods: Sequence[str]) -> list[str]:
    """Explainers a run with faithfulness scores: its saliency methods, attention rollout, a random order."""
    return [*methods, *FAITHFULNESS_ATTENTION, "random"]


def faithfulness_columns(methods: Sequence[str]) -> list[str]:
    return [
        f"faithfulness.{explainer}.{metric}"
        for explainer in faithfulness_explainers(methods)
        for metric in FAITHFULNESS_METRICS
    ]


def region_share_columns(methods: Sequence[str]) -> list[str]:
    """``saliency_region_share.<method>.<target>``: the share of ``sum(|saliency|)`` on an example's region."""
    return [f"saliency_region_share.{method}.{target}" for method in methods for target in TARGETS]


def row_schema(methods: Sequence[str], faithfulness: bool, region_shares: bool = False) -> pa.Schema:
    """The Parquet schema of every partition of a run with these saliency ``methods``."""
    fields = list(BASE_FIELDS)
    if "integrated_gradients" in methods:
        fields += list(INTEGRATED_GRADIENTS_FIELDS)
    fields += [pa.field(name, pa.float64()) for name in saliency_share_columns(methods)]
    if region_shares:
        fields += [pa.field(name, pa.float64()) for name in region_share_columns(methods)]
    fields += [pa.field(name, pa.list_(pa.float32())) for name in head_columns()]
    if faithfulness:
        fields += [pa.field(name, pa.float64()) for name in faithfulness_columns(methods)]
    return pa.schema(fields)


def part_path(out: str | Path, index: int) -> Path:
    """Where partition ``index``'s rows live."""
    return Path(out) / PARTS_DIR / f"part-{index:05d}.parquet"


def metadata_path(out: str | Path, index: int) -> Path:
    """Where partition ``index``'s QA metadata lives (``core.dataset.metadata``: one row per example, by id)."""
    return Path(out) / METADATA_DIR / f"part-{index:05d}.parquet"


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_id(example_id: str) -> str:
    """A file name for an id: unchanged when it is already safe, else cleaned plus a checksum (no collisions)."""
    cleaned = _UNSAFE.sub("_", example_id)[:80].lstrip(".") or "_"
    if cleaned == example_id:
        return cleaned
    return f"{cleaned}-{hashlib.sha256(example_id.encode('utf-8')).hexdigest()[:12]}"


def explanation_path(out: str | Path, example_id: str) -> Path:
    """Where a kept example's ``core.Explanation`` is saved (``Explanation.load`` reads it)."""
    return Path(out) / EXPLANATIONS_DIR / f"{safe_id(example_id)}.npz"


__all__ = [
    "BASE_FIELDS",
    "EXPLANATIONS_DIR",
    "METADATA_DIR",
    "SLICES",
    "FAITHFULNESS_METRICS",
    "HEADS",
    "HEADS_SCHEMA",
    "HEAD_GROUPS",
    "INTEGRATED_GRADIENTS_FIELDS",
    "MANIFEST",
    "MODEL_SHAPE_KEY",
    "PARTS_DIR",
    "SUMMARY",
    "TOP_K_TYPE",
    "explanation_path",
    "faithfulness_columns",
    "faithfulness_explainers",
    "head_columns",
    "metadata_path",
    "part_path",
    "region_share_columns",
    "row_schema",
    "safe_id",
]
