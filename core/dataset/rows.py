"""One row per example, for many examples at once: answers, head statistics and gradient saliency in batches.

The answers are ``core.explain``'s: the same windows (``core.encoding``), the same passes (``core.passes``:
the model runs nowhere else), the same span rule (``core.explain.answer_spans``), and the same assembly of an
``Explanation`` (``core.explain.build_explanation``). Per batch of examples:

1. **Answer pass** (only examples whose context needs several windows): every window of every such example
   through ``core.passes.answer_logits`` (the fast attention path, no gradients); each example's answer
   window and span follow.
2. **One fused pass** over each example's answer window (the only window of most examples): a
   ``core.passes.DetailPass`` with attentions and gradients on the word embeddings, then the answer of
   single-window examples from its logits, ``core.attention.head_statistics`` on each example's
   ``[layers, heads, tokens, tokens]`` slice (dropped right after: never stored), and two backward passes
   (``DetailPass.embedding_gradients``), one for the start logits of all examples' answers and one for their
   end logits, that differentiate only the embeddings.
   ``gradient`` is the L2 norm of that gradient (captum ``Saliency``), ``gradient_x_input`` its dot
   product with the embedding (captum ``InputXGradient``); a test checks both against ``core.explain``'s,
   which come from captum's own calls.

Why fused instead of an attention pass plus captum's ``Saliency`` on two copies of each window: on a CPU
the passes are compute-bound, so batching alone buys nothing (measured: 0.218 CPU s per SQuAD dev example
for captum on one window at a time and 0.218 to 0.224 for batches of 4 to 16, MiniLM-L6, 1 thread), while
sharing the forward saves work: one forward and two backward passes instead of an attention forward plus
two forwards and two backwards (0.166 CPU s against 0.265 for ``core.explain``'s loop, same examples, model
and thread; ``bench/bench_dataset.py`` measures whole runs).

Opt-in per example, from a full ``core.Explanation`` built from the same pass: ``integrated_gradients``
(``core.add_saliency``; slow), faithfulness (``core.trust.faithfulness`` at a few fractions), and the
explanations of ids the caller keeps.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.answering import Span
from core.attention import head_statistics
from core.dataset.evaluation import FAILED, MALFORMED
from core.dataset.metrics import squad_scores
from core.dataset.reading import SQUAD_V2, DatasetExample, DatasetItem, ExampleProblem
from core.dataset.row_settings import RowSettings
from core.dataset.schema import FAITHFULNESS_ATTENTION, FAITHFULNESS_METRICS
from core.encoding import Encoding, Window, encode
from core.explain import add_saliency, answer_spans, build_explanation
from core.explanation import Explanation
from core.models import LoadedModel
from core.passes import DetailPass, WindowDetail, answer_logits, length_batches
from core.types import TARGETS, Method, TokenScores

BATCH_TOKENS = 2048
"""Padded tokens per batch. Batches only need to be big enough to amortise per-call overhead (speed was flat
from 4 to 16 windows of ~160 tokens); the fused pass keeps every layer's attention for its backward pass, so
a cap in tokens keeps memory bounded at 384-token windows (about 400 MB for MiniLM-L6)."""

FUSED_METHODS: tuple[Method, ...] = ("gradient", "gradient_x_input")
"""Methods the fused pass computes itself (from its two backward passes)."""

FAITHFULNESS_FRACTIONS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.5, 1.0)
FAITHFULNESS_ERASER_FRACTIONS: tuple[float, ...] = (0.1, 0.2)
FAITHFULNESS_RANDOM_ORDERS = 1


@dataclass(frozen=True)
class ComputedRows:
    """Rows in the order of the items given, and the explanations of the ids asked for."""

    rows: list[dict[str, Any]]
    explanations: dict[str, Explanation]


@dataclass
class _Pending:
    """An example on its way through the passes."""

    position: int
    example: DatasetExample
    encoding: Encoding
    seconds: float
    spans: list[Span] | None = None
    window_index: int = 0
    null_margin: float | None = None
    """``null_score - best_span_score`` in the answer's window (logits)."""
    values: dict[str, Any] = field(default_factory=dict)
    detail: WindowDetail | None = None
    """The answer window's pass, kept only when a full ``Explanation`` is needed (opt-in work, kept ids)."""

    @property
    def window(self) -> Window:
        return self.encoding.windows[self.window_index]


def compute_rows(
    loaded: LoadedModel,
    items: Sequence[DatasetItem],
    settings: RowSettings,
    keep_ids: Collection[str] = (),
    batch_tokens: int = BATCH_TOKENS,
) -> ComputedRows:
    """One row per item (``core.dataset.schema``); problems and examples no model can answer become error rows."""
    rows: list[dict[str, Any] | None] = [None] * len(items)
    pending: list[_Pending] = []
    encode_settings = settings.explain_settings(loaded)
    for position, item in enumerate(items):
        if isinstance(item, ExampleProblem):
            rows[position] = error_row(item, item.message, MALFORMED)
            continue
        began = time.perf_counter()
        try:
            encoding = encode(
                loaded.tokenizer,
                item.question,
                item.context,
                max_length=encode_settings["max_length"],
                stride=settings.stride,
                max_windows=settings.max_windows,
            )
        except ValueError as error:
            rows[position] = error_row(item, str(error))
            continue
        pending.append(_Pending(position, item, encoding, seconds=time.perf_counter() - began))

    with loaded.lock:
        failed = _answer_pass(loaded, [p for p in pending if len(p.encoding.windows) > 1], settings, batch_tokens)
        pending = [p for p in pending if p.position not in failed]
        failed.update(_fused_pass(loaded, pending, settings, keep_ids, batch_tokens))
    for position, message in failed.items():
        rows[position] = error_row(items[position], message)
    explanations: dict[str, Explanation] = {}
    for p in pending:
        if p.position in failed:
            continue
        began = time.perf_counter()
        try:
            explanation = _opt_in_work(loaded, p, settings, encode_settings)
        except ValueError as error:
            rows[p.position] = error_row(p.example, str(error))
            continue
        if explanation is not None and p.example.id in keep_ids:
            explanations[p.example.id] = explanation
        p.seconds += time.perf_counter() - began
        rows[p.position] = _row(p, settings)
    return ComputedRows(rows=[row for row in rows if row is not None], explanations=explanations)


def error_row(item: DatasetItem, message: str, kind: str = FAILED) -> dict[str, Any]:
    """An error row: the input as far as it was read, ``error`` and ``error_kind``, null for everything computed.

    ``kind`` is ``failed`` (a question the model could not run on: it scores 0) or ``malformed`` (a record the
    reader rejected: not a question of the dataset).
    """
    return {
        "id": item.id,
        "title": item.title,
        "question": item.question,
        "context": item.context,
        "gold_answers": list(item.answers) if item.answers is not None else None,
        "gold_starts": list(item.answer_starts) if item.answer_starts is not None else None,
        "is_impossible": item.is_impossible,
        "error": message,
        "error_kind": kind,
    }


def _share_time(elapsed: float, members: Sequence[_Pending], tokens: Sequence[int]) -> None:
    """Split a batch's wall time over its examples in proportion to their tokens."""
    total = max(sum(tokens), 1)
    for member, count in zip(members, tokens, strict=True):
        member.seconds += elapsed * count / total


def _answer_pass(
    loaded: LoadedModel, multi: list[_Pending], settings: RowSettings, batch_tokens: int
) -> dict[int, str]:
    """Spans of examples with several windows, from every window's logits (``core.explain``'s rule)."""
    if not multi:
        return {}
    jobs = [(p, index) for p in multi for index in range(len(p.encoding.windows))]
    windows = [p.encoding.windows[index] for p, index in jobs]
    began = time.perf_counter()
    logits = answer_logits(loaded, windows, batch_tokens=batch_tokens)
    _share_time(time.perf_counter() - began, [p for p, _ in jobs], [window.length for window in windows])
    by_example: dict[int, list[Any]] = {}
    for (p, _index), window_logits in zip(jobs, logits, strict=True):
        by_example.setdefault(p.position, []).append(window_logits)
    failed: dict[int, str] = {}
    limits = {"max_answer_tokens": settings.max_answer_tokens, "top_k": settings.top_k}
    for p in multi:
        try:
            p.spans = answer_spans(p.encoding, by_example[p.position], limits)
        except ValueError as error:
            failed[p.position] = str(error)
            continue
        p.window_index = p.spans[0].window
    return failed


def _fused_pass(
    loaded: LoadedModel,
    pending: list[_Pending],
    settings: RowSettings,
    keep_ids: Collection[str],
    batch_tokens: int,
) -> dict[int, str]:
    """Answers of single-window examples, head statistics and gradient saliency of every answer window."""
    gradients_wanted = [m for m in settings.methods if m in FUSED_METHODS]
    full_explanation = settings.faithfulness or "integrated_gradients" in settings.methods
    limits = {"max_answer_tokens": settings.max_answer_tokens, "top_k": settings.top_k}
    failed: dict[int, str] = {}
    for batch in length_batches([p.window.length for p in pending], batch_tokens):
        began = time.perf_counter()
        members = [pending[j] for j in batch]
        windows = [p.window for p in members]
        detail_pass = DetailPass(loaded, windows, gradients=bool(gradients_wanted))
        answered: list[int] = []
        for row, p in enumerate(members):
            if p.spans is None:
                try:
                    p.spans = answer_spans(p.encoding, [detail_pass.logits(row)], limits)
                except ValueError as error:
                    failed[p.position] = str(error)
                    continue
            answered.append(row)
        gradients = (
            detail_pass.embedding_gradients(
                {
                    "start": [(row, "start", members[row].spans[0].start_token) for row in answered],
                    "end": [(row, "end", members[row].spans[0].end_token - 1) for row in answered],
                }
            )
            if gradients_wanted and answered
            else {}
        )
        for row in answered:
            p, window = members[row], windows[row]
            answer = p.spans[0]
            logits = detail_pass.logits(row)
            null_score = float(logits.start[0]) + float(logits.end[0])
            span_score = float(logits.start[answer.start_token]) + float(logits.end[answer.end_token - 1])
            p.null_margin = null_score - span_score
            attentions = detail_pass.attentions(row)
            statistics = head_statistics(attentions, window.roles, range(answer.start_token, answer.end_token))
            p.values["heads"] = {name: values.astype(np.float32).ravel() for name, values in statistics.items()}
            embeddings = detail_pass.embeddings(row)
            saliency = {method: _method_scores(method, gradients, embeddings, row) for method in gradients_wanted}
            p.values["saliency"] = saliency
            if full_explanation or p.example.id in keep_ids:
                layer_start, layer_end = detail_pass.layer_logits(row)
                p.detail = WindowDetail(detail_pass.logits(row), attentions, layer_start, layer_end)
        del detail_pass, gradients
        _share_time(time.perf_counter() - began, members, [w.length for w in windows])
    return failed


def _method_scores(
    method: Method, gradients: dict[str, torch.Tensor], embeddings: torch.Tensor, row: int
) -> dict[str, TokenScores]:
    """``gradient`` (L2 norm) or ``gradient_x_input`` (summed over the embedding) per target, float32 ``[tokens]``."""
    scores: dict[str, TokenScores] = {}
    length = embeddings.shape[0]
    for target in TARGETS:
        gradient = gradients[target][row, :length]
        values = gradient.norm(dim=-1) if method == "gradient" else (gradient * embeddings).sum(dim=-1)
        scores[target] = values.float().cpu().numpy().astype(np.float32)
    return scores


def _opt_in_work(
    loaded: LoadedModel, p: _Pending, settings: RowSettings, explain_settings: dict[str, Any]
) -> Explanation | None:
    """Integrated gradients and faithfulness on a full Explanation, when asked for; the Explanation if built."""
    if p.detail is None or p.spans is None:
        return None
    explanation = build_explanation(
        loaded,
        p.encoding,
        p.spans,
        p.detail,
        settings=explain_settings,
        timings={"total": p.seconds},
        saliency=p.values.get("saliency", {}),
    )
    p.detail = None
    if "integrated_gradients" in settings.methods:
        explanation = add_saliency(explanation, ["integrated_gradients"], model=loaded, use_cache=False)
        p.values["saliency"]["integrated_gradients"] = dict(explanation.saliency["integrated_gradients"])
        p.values["integrated_gradients"] = {
            "ig_converged": all(explanation.ig_converged.get(target, False) for target in TARGETS),
            "ig_nodes": max(int(explanation.ig_steps.get(target, 0)) for target in TARGETS),
        }
    if settings.faithfulness:
        from core.trust import faithfulness

        report = faithfulness(
            explanation,
            loaded,
            explainers=[*settings.methods, *FAITHFULNESS_ATTENTION],
            fractions=FAITHFULNESS_FRACTIONS,
            eraser_fractions=FAITHFULNESS_ERASER_FRACTIONS,
            random_orders=FAITHFULNESS_RANDOM_ORDERS,
            compute_missing=False,
        )
        p.values["faithfulness"] = {
            f"faithfulness.{name}.{metric}": float(getattr(item, metric))
            for name, item in report.explainers.items()
            for metric in FAITHFULNESS_METRICS
        }
    return explanation


def _row(p: _Pending, settings: RowSettings) -> dict[str, Any]:
    """The finished row of an answered example."""
    assert p.spans is not None
    example, answer, window = p.example, p.spans[0], p.window
    roles = np.asarray(window.roles)
    version = settings.squad_version
    span_em, span_f1 = squad_scores(answer.text, example.answers, is_impossible=example.is_impossible, version=version)
    margin = float(p.null_margin) if p.null_margin is not None else None
    abstains = settings.may_abstain and version == SQUAD_V2 and margin is not None and margin > settings.null_threshold
    em, f1 = (
        squad_scores("", example.answers, is_impossible=example.is_impossible, version=version)
        if abstains
        else (span_em, span_f1)
    )
    row: dict[str, Any] = {
        "id": example.id,
        "title": example.title,
        "question": example.question,
        "context": example.context,
        "gold_answers": list(example.answers),
        "gold_starts": list(example.answer_starts),
        "is_impossible": example.is_impossible,
        "prediction": "" if abstains else answer.text,
        "prediction_start": None if abstains else answer.start_char,
        "prediction_end": None if abstains else answer.end_char,
        "score": answer.score,
        "top_k": [
            {"text": span.text, "score": span.score, "start_char": span.start_char, "end_char": span.end_char}
            for span in p.spans
        ],
        "null_margin": margin,
        "no_answer": abstains,
        "em": em,
        "f1": f1,
        "correct": em == 1.0,
        "span_em": span_em,
        "span_f1": span_f1,
        "windows": len(p.encoding.windows),
        "answer_window": p.window_index,
        "tokens": window.length,
        "question_tokens": int((roles == "question").sum()),
        "context_tokens": int((roles == "context").sum()),
        "seconds": p.seconds,
        "error": None,
        "error_kind": None,
        **p.values.get("integrated_gradients", {}),
    }
    region_tokens = _region_tokens(window, example.region) if settings.region_shares else None
    for method, per_target in p.values.get("saliency", {}).items():
        for target, values in per_target.items():
            question_share, answer_share = saliency_shares(values, roles, answer.start_token, answer.end_token)
            row[f"saliency_question_share.{method}.{target}"] = question_share
            row[f"saliency_answer_share.{method}.{target}"] = answer_share
            if region_tokens is not None:
                row[f"saliency_region_share.{method}.{target}"] = region_share(values, region_tokens)
    for name, values in p.values.get("heads", {}).items():
        row[f"head.{name}"] = values
    row.update(p.values.get("faithfulness", {}))
    return row


def _region_tokens(window: Window, region: tuple[int, int] | None) -> np.ndarray | None:
    """The context tokens of ``window`` overlapping ``region`` (a boolean mask), ``None`` without a region or when
    none of them lies in the window."""
    if region is None:
        return None
    start, end = region
    inside = np.array(
        [
            role == "context" and high > low and low < end and high > start
            for role, (low, high) in zip(window.roles, window.offsets, strict=True)
        ],
        dtype=bool,
    )
    return inside if inside.any() else None


def region_share(values: np.ndarray, tokens: np.ndarray | None) -> float | None:
    """The share of ``sum(|saliency|)`` on ``tokens``; ``None`` when there are none or the saliency is all zero."""
    if tokens is None:
        return None
    magnitude = np.abs(np.asarray(values, dtype=np.float64))
    total = float(magnitude.sum())
    if not np.isfinite(total) or total == 0.0:
        return None
    return float(magnitude[tokens].sum()) / total


def saliency_shares(
    values: np.ndarray, roles: np.ndarray, start_token: int, end_token: int
) -> tuple[float | None, float | None]:
    """Shares of ``sum(|saliency|)`` on the question's tokens and on the span's; ``None`` when it is all zero."""
    magnitude = np.abs(np.asarray(values, dtype=np.float64))
    total = float(magnitude.sum())
    if not np.isfinite(total) or total == 0.0:
        return None, None
    question = float(magnitude[np.asarray(roles) == "question"].sum()) / total
    answer = float(magnitude[start_token:end_token].sum()) / total
    return question, answer


__all__ = [
    "BATCH_TOKENS",
    "FUSED_METHODS",
    "FAITHFULNESS_ERASER_FRACTIONS",
    "FAITHFULNESS_FRACTIONS",
    "ComputedRows",
    "compute_rows",
    "error_row",
    "saliency_shares",
]
