"""One row per example, for many examples at once: answers, head statistics and gradient saliency in batches.

The answers are ``core.explain``'s: the same windows (``core.encoding``), the same tensors
(``core.inputs.batch_inputs``), the same span rule (``core.answering.best_spans``) on logits from the same
eager attention. Per batch of examples:

1. **Answer pass** (only examples whose context needs several windows): every window of every such example,
   padded batches without gradients; ``best_spans`` picks each example's answer window and span.
2. **One fused pass** over each example's answer window (the only window of most examples): a forward
   with attentions and gradients on the word embeddings, then ``best_spans`` on its logits (single-window
   examples), ``core.attention.head_statistics`` on each example's ``[layers, heads, tokens, tokens]``
   slice (dropped right after: never stored), and two backward passes, one for the start logits of all
   examples' answers and one for their end logits, that differentiate only the embeddings.
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

from core.answering import DEFAULT_MAX_ANSWER_TOKENS, DEFAULT_TOP_K, Span, best_spans, softmax
from core.attention import head_statistics
from core.dataset.metrics import squad_scores
from core.dataset.reading import SQUAD_V1, DatasetExample, DatasetItem, ExampleProblem
from core.dataset.schema import FAITHFULNESS_ATTENTION, FAITHFULNESS_METRICS
from core.encoding import DEFAULT_MAX_LENGTH, DEFAULT_STRIDE, MAX_WINDOWS, Encoding, Window, encode
from core.explain import add_saliency
from core.explanation import Explanation
from core.inputs import batch_inputs
from core.models import LoadedModel
from core.types import METHODS, TARGETS, Method, TokenScores

BATCH_TOKENS = 2048
"""Padded tokens per batch. Batches only need to be big enough to amortise per-call overhead (speed was flat
from 4 to 16 windows of ~160 tokens); the fused pass keeps every layer's attention for its backward pass, so
a cap in tokens keeps memory bounded at 384-token windows (about 400 MB for MiniLM-L6)."""

GRADIENT_METHODS: tuple[Method, ...] = ("gradient", "gradient_x_input")

FAITHFULNESS_FRACTIONS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.5, 1.0)
FAITHFULNESS_ERASER_FRACTIONS: tuple[float, ...] = (0.1, 0.2)
FAITHFULNESS_RANDOM_ORDERS = 1

EXPLAIN_OPTIONS: tuple[str, ...] = (
    "max_answer_tokens",
    "max_length",
    "stride",
    "max_windows",
    "ig_steps",
    "ig_max_steps",
)
"""Options of ``core.explain`` a dataset run passes through."""


@dataclass(frozen=True)
class RowSettings:
    """Everything that decides a row's values; a run's manifest records it and a resume must match it."""

    methods: tuple[Method, ...] = ("gradient_x_input",)
    top_k: int = DEFAULT_TOP_K
    max_answer_tokens: int = DEFAULT_MAX_ANSWER_TOKENS
    max_length: int = DEFAULT_MAX_LENGTH
    stride: int = DEFAULT_STRIDE
    max_windows: int = MAX_WINDOWS
    ig_steps: int | None = None
    ig_max_steps: int | None = None
    faithfulness: bool = False
    squad_version: str = SQUAD_V1

    def __post_init__(self) -> None:
        unknown = [method for method in self.methods if method not in METHODS]
        if unknown:
            raise ValueError(f"Unknown saliency method(s) {unknown}; choose from {list(METHODS)}.")
        if len(set(self.methods)) != len(self.methods):
            raise ValueError(f"Saliency methods are listed twice: {list(self.methods)}.")
        if self.top_k < 1:
            raise ValueError("top_k must be at least 1.")
        if self.max_answer_tokens < 1:
            raise ValueError("max_answer_tokens must be at least 1.")

    @classmethod
    def from_options(
        cls, methods: Sequence[str], top_k: int, faithfulness: bool, squad_version: str, options: dict[str, Any]
    ) -> RowSettings:
        """Settings from ``explain_dataset``'s arguments; unknown ``core.explain`` options are refused."""
        unknown = sorted(set(options) - set(EXPLAIN_OPTIONS))
        if unknown:
            raise ValueError(f"Unknown option(s) {unknown}; a dataset run accepts {list(EXPLAIN_OPTIONS)}.")
        return cls(
            methods=tuple(methods),  # type: ignore[arg-type]
            top_k=top_k,
            faithfulness=faithfulness,
            squad_version=squad_version,
            **{name: int(value) for name, value in options.items()},
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "methods": list(self.methods),
            "top_k": self.top_k,
            "max_answer_tokens": self.max_answer_tokens,
            "max_length": self.max_length,
            "stride": self.stride,
            "max_windows": self.max_windows,
            "ig_steps": self.ig_steps,
            "ig_max_steps": self.ig_max_steps,
            "faithfulness": self.faithfulness,
            "squad_version": self.squad_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RowSettings:
        return cls(**{**data, "methods": tuple(data["methods"])})

    def explain_settings(self, loaded: LoadedModel) -> dict[str, Any]:
        """The ``Explanation.settings`` ``core.explain`` would record, so ``answer_window`` re-creates the window."""
        settings: dict[str, Any] = {
            "top_k": self.top_k,
            "max_answer_tokens": self.max_answer_tokens,
            "max_length": min(self.max_length, loaded.max_length),
            "stride": self.stride,
            "max_windows": self.max_windows,
        }
        if self.ig_steps is not None:
            settings["ig_steps"] = self.ig_steps
        if self.ig_max_steps is not None:
            settings["ig_max_steps"] = self.ig_max_steps
        return settings


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
    values: dict[str, Any] = field(default_factory=dict)
    explanation_parts: dict[str, Any] | None = None

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
            rows[position] = error_row(item, item.message)
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


def error_row(item: DatasetItem, message: str) -> dict[str, Any]:
    """An error row: the input as far as it was read, ``error``, and null for everything computed."""
    return {
        "id": item.id,
        "title": item.title,
        "question": item.question,
        "context": item.context,
        "gold_answers": list(item.answers) if item.answers is not None else None,
        "gold_starts": list(item.answer_starts) if item.answer_starts is not None else None,
        "is_impossible": item.is_impossible,
        "error": message,
    }


def length_batches(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Indices grouped into padded batches of at most ``budget`` tokens, shortest first (little padding)."""
    batches: list[list[int]] = []
    current: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: lengths[i]):
        if current and lengths[index] * (len(current) + 1) > budget:
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def _share_time(elapsed: float, members: Sequence[_Pending], tokens: Sequence[int]) -> None:
    """Split a batch's wall time over its examples in proportion to their tokens."""
    total = max(sum(tokens), 1)
    for member, count in zip(members, tokens, strict=True):
        member.seconds += elapsed * count / total


def _answer_pass(
    loaded: LoadedModel, multi: list[_Pending], settings: RowSettings, batch_tokens: int
) -> dict[int, str]:
    """Spans of examples with several windows, from every window's logits (``core.explain.run_windows``' rule)."""
    jobs = [(p, index) for p in multi for index in range(len(p.encoding.windows))]
    starts: dict[tuple[int, int], np.ndarray] = {}
    ends: dict[tuple[int, int], np.ndarray] = {}
    for batch in length_batches([p.encoding.windows[i].length for p, i in jobs], batch_tokens):
        began = time.perf_counter()
        members = [jobs[j] for j in batch]
        windows = [p.encoding.windows[i] for p, i in members]
        with torch.no_grad():
            output = loaded.model(**batch_inputs(loaded, windows))
        for row, ((p, index), window) in enumerate(zip(members, windows, strict=True)):
            starts[(p.position, index)] = output.start_logits[row, : window.length].float().cpu().numpy()
            ends[(p.position, index)] = output.end_logits[row, : window.length].float().cpu().numpy()
        _share_time(time.perf_counter() - began, [p for p, _ in members], [w.length for w in windows])
    failed: dict[int, str] = {}
    for p in multi:
        count = len(p.encoding.windows)
        try:
            p.spans = best_spans(
                p.encoding,
                [starts[(p.position, i)] for i in range(count)],
                [ends[(p.position, i)] for i in range(count)],
                max_answer_tokens=settings.max_answer_tokens,
                top_k=settings.top_k,
            )
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
    gradients_wanted = [m for m in settings.methods if m in GRADIENT_METHODS]
    full_explanation = settings.faithfulness or "integrated_gradients" in settings.methods
    failed: dict[int, str] = {}
    embedding_layer = loaded.model.get_input_embeddings()
    for batch in length_batches([p.window.length for p in pending], batch_tokens):
        began = time.perf_counter()
        members = [pending[j] for j in batch]
        windows = [p.window for p in members]
        inputs = batch_inputs(loaded, windows)
        with torch.no_grad():
            embeddings = embedding_layer(inputs.pop("input_ids")).detach()
        with torch.set_grad_enabled(bool(gradients_wanted)):
            embeddings.requires_grad_(bool(gradients_wanted))
            output = loaded.model(inputs_embeds=embeddings, output_attentions=True, output_hidden_states=True, **inputs)
            start_logits = output.start_logits.detach().float().cpu().numpy()
            end_logits = output.end_logits.detach().float().cpu().numpy()
            answered: list[int] = []
            for row, (p, window) in enumerate(zip(members, windows, strict=True)):
                if p.spans is None:
                    try:
                        p.spans = best_spans(
                            p.encoding,
                            [start_logits[row, : window.length]],
                            [end_logits[row, : window.length]],
                            max_answer_tokens=settings.max_answer_tokens,
                            top_k=settings.top_k,
                        )
                    except ValueError as error:
                        failed[p.position] = str(error)
                        continue
                answered.append(row)
            gradients = _answer_gradients(output, embeddings, members, answered) if gradients_wanted else {}
        attentions = [layer.detach() for layer in output.attentions]
        for row in answered:
            p, window = members[row], windows[row]
            length = window.length
            answer = p.spans[0]
            layer_maps = torch.stack([layer[row, :, :length, :length] for layer in attentions]).float().cpu().numpy()
            statistics = head_statistics(layer_maps, window.roles, range(answer.start_token, answer.end_token))
            p.values["heads"] = {name: values.astype(np.float32).ravel() for name, values in statistics.items()}
            saliency = {
                method: _method_scores(method, gradients, embeddings, row, length) for method in gradients_wanted
            }
            p.values["saliency"] = saliency
            if full_explanation or p.example.id in keep_ids:
                hidden = torch.stack([state[row, :length] for state in output.hidden_states]).detach()
                with torch.no_grad():
                    layer_logits = loaded.model.qa_outputs(hidden).float().cpu().numpy()
                p.explanation_parts = {
                    "start_logits": start_logits[row, :length].copy(),
                    "end_logits": end_logits[row, :length].copy(),
                    "attentions": layer_maps,
                    "layer_start_logits": layer_logits[..., 0],
                    "layer_end_logits": layer_logits[..., 1],
                    "saliency": saliency,
                }
        del output, attentions, gradients
        _share_time(time.perf_counter() - began, members, [w.length for w in windows])
    return failed


def _answer_gradients(
    output: Any, embeddings: torch.Tensor, members: Sequence[_Pending], answered: Sequence[int]
) -> dict[str, torch.Tensor]:
    """d logit / d word embedding for each answered example's start and end token, ``[batch, tokens, dim]`` each.

    Examples in a batch are independent, so the gradient of the sum of their target logits is every
    example's own gradient at once: one backward pass per target.
    """
    if not answered:
        return {}
    rows = torch.tensor(list(answered), dtype=torch.long)
    start_tokens = torch.tensor([members[r].spans[0].start_token for r in answered], dtype=torch.long)
    last_tokens = torch.tensor([members[r].spans[0].end_token - 1 for r in answered], dtype=torch.long)
    (start,) = torch.autograd.grad(output.start_logits[rows, start_tokens].sum(), embeddings, retain_graph=True)
    (end,) = torch.autograd.grad(output.end_logits[rows, last_tokens].sum(), embeddings)
    return {"start": start.detach(), "end": end.detach()}


def _method_scores(
    method: Method, gradients: dict[str, torch.Tensor], embeddings: torch.Tensor, row: int, length: int
) -> dict[str, TokenScores]:
    """``gradient`` (L2 norm) or ``gradient_x_input`` (summed over the embedding) per target, float32 ``[tokens]``."""
    scores: dict[str, TokenScores] = {}
    for target in TARGETS:
        gradient = gradients[target][row, :length]
        if method == "gradient":
            values = gradient.norm(dim=-1)
        else:
            values = (gradient * embeddings[row, :length].detach()).sum(dim=-1)
        scores[target] = values.float().cpu().numpy().astype(np.float32)
    return scores


def _opt_in_work(
    loaded: LoadedModel, p: _Pending, settings: RowSettings, explain_settings: dict[str, Any]
) -> Explanation | None:
    """Integrated gradients and faithfulness on a full Explanation, when asked for; the Explanation if built."""
    if p.explanation_parts is None:
        return None
    explanation = _explanation(loaded, p, explain_settings)
    p.explanation_parts = None
    if "integrated_gradients" in settings.methods:
        explanation = add_saliency(explanation, ["integrated_gradients"], model=loaded, use_cache=False)
        p.values["saliency"]["integrated_gradients"] = dict(explanation.saliency["integrated_gradients"])
    if settings.faithfulness:
        from core.trust.faithfulness import faithfulness

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


def _explanation(loaded: LoadedModel, p: _Pending, explain_settings: dict[str, Any]) -> Explanation:
    """The ``core.Explanation`` of one example, from this module's passes instead of ``core.explain``'s."""
    parts = p.explanation_parts or {}
    window = p.window
    assert p.spans is not None
    return Explanation(
        model=loaded.name,
        model_type=loaded.model_type,
        question=p.encoding.question,
        context=p.example.context,
        tokens=list(window.tokens),
        roles=list(window.roles),
        offsets=list(window.offsets),
        word_ids=list(window.word_ids),
        answer=p.spans[0],
        top_k=list(p.spans),
        start_logits=parts["start_logits"],
        end_logits=parts["end_logits"],
        start_probs=softmax(parts["start_logits"]),
        end_probs=softmax(parts["end_logits"]),
        attentions=parts["attentions"],
        layer_start_logits=parts["layer_start_logits"],
        layer_end_logits=parts["layer_end_logits"],
        saliency={method: dict(values) for method, values in parts["saliency"].items()},
        window_index=p.window_index,
        num_windows=len(p.encoding.windows),
        settings=dict(explain_settings),
        timings={"total": p.seconds},
    )


def _row(p: _Pending, settings: RowSettings) -> dict[str, Any]:
    """The finished row of an answered example."""
    assert p.spans is not None
    example, answer, window = p.example, p.spans[0], p.window
    roles = np.asarray(window.roles)
    em, f1 = squad_scores(
        answer.text, example.answers, is_impossible=example.is_impossible, version=settings.squad_version
    )
    row: dict[str, Any] = {
        "id": example.id,
        "title": example.title,
        "question": example.question,
        "context": example.context,
        "gold_answers": list(example.answers),
        "gold_starts": list(example.answer_starts),
        "is_impossible": example.is_impossible,
        "prediction": answer.text,
        "prediction_start": answer.start_char,
        "prediction_end": answer.end_char,
        "score": answer.score,
        "top_k": [
            {"text": span.text, "score": span.score, "start_char": span.start_char, "end_char": span.end_char}
            for span in p.spans
        ],
        "em": em,
        "f1": f1,
        "correct": em == 1.0,
        "windows": len(p.encoding.windows),
        "answer_window": p.window_index,
        "tokens": window.length,
        "question_tokens": int((roles == "question").sum()),
        "context_tokens": int((roles == "context").sum()),
        "seconds": p.seconds,
        "error": None,
    }
    for method, per_target in p.values.get("saliency", {}).items():
        for target, values in per_target.items():
            question_share, answer_share = saliency_shares(values, roles, answer.start_token, answer.end_token)
            row[f"saliency_question_share.{method}.{target}"] = question_share
            row[f"saliency_answer_share.{method}.{target}"] = answer_share
    for name, values in p.values.get("heads", {}).items():
        row[f"head.{name}"] = values
    row.update(p.values.get("faithfulness", {}))
    return row


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
    "length_batches",
    "EXPLAIN_OPTIONS",
    "FAITHFULNESS_ERASER_FRACTIONS",
    "FAITHFULNESS_FRACTIONS",
    "ComputedRows",
    "RowSettings",
    "compute_rows",
    "error_row",
    "saliency_shares",
]
