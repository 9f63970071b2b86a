"""Which attention heads does the answer depend on? Head ablation and gradient head importance.

In the evaluation wing because it tests the attention views: a head whose map looks telling may not
matter to the answer at all (Michel et al., 2019; Jain & Wallace, 2019, "Attention is not Explanation").

Both measure the answer's probability ``p = p_start(s) * p_end(e - 1)`` on the explanation's window
(each a softmax over the window, as ``core.answering`` scores a span):

- **ablation**: the drop ``p - p_masked`` when one head is masked (its output set to zero), one row per
  head, many heads per forward pass (a batch of copies of the window, each with its own mask), the layers
  below the masked one computed once per pass: ``1 + layers x heads`` masks cost about
  ``1 + heads x (1 + 2 + ... + layers) / layers`` forward passes (43 for 6 x 12, against 73 one by one);
- **gradient** (Michel et al., 2019, "Are Sixteen Heads Really Better than One?"): ``|d log p / d m_h|``
  at ``m = 1`` for a gate ``m_h`` on every head's output, all heads from one backward pass. It is the
  first-order estimate of what ablation measures, so the two are compared by rank (Spearman). Michel et al.
  average it over a dataset and normalise each layer; here it is one example, unnormalised, so layers
  stay comparable with ablation.

**How a head is masked.** transformers 5 removed the ``head_mask`` argument from every architecture this
project supports (BERT, DistilBERT, RoBERTa, ELECTRA, ALBERT: none of their ``forward`` methods takes it
any more). The same effect is had with a forward pre-hook on each attention layer's output projection
(``attention.output.dense``; DistilBERT ``attention.out_lin``; ALBERT ``attention.dense``), whose input is
the heads' outputs concatenated head by head, ``[batch, tokens, heads * head_dim]``: slice ``h`` is scaled
by ``m[example, layer, h]``. That is exactly what ``head_mask`` did (it scaled head ``h``'s attention
probabilities, and ``(m A) V = m (A V)``), works with any attention implementation (the passes run on SDPA)
and takes a different mask for every example of a batch. ALBERT shares one layer's weights across depth,
so the hook counts calls within a forward to know the layer; every forward checks the count.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.answering import Span
from core.encoding import Window
from core.explain import answer_window
from core.explanation import Explanation
from core.inputs import window_tensors
from core.models import LoadedModel, load_model
from core.passes import HeadGates, fast_attention
from core.progress import ProgressCallback, report_progress
from core.trust.stats import json_float, spearman
from core.types import LayerHeadScores, Target

HEAD_BATCH_SIZE = 12
"""Masked copies of the window per forward pass: one layer's heads of a 12-head model."""


@dataclass(frozen=True)
class MaskedScores:
    """The answer's scores under each of a batch of head masks, ``[masks]`` each."""

    probability: np.ndarray
    start_logit: np.ndarray
    end_logit: np.ndarray


def masked_answer_scores(
    loaded: LoadedModel,
    window: Window,
    start_token: int,
    end_token: int,
    head_masks: torch.Tensor,
    *,
    num_layers: int | None = None,
    batch_size: int = HEAD_BATCH_SIZE,
    progress: ProgressCallback | None = None,
) -> MaskedScores:
    """The span ``[start_token, end_token)``'s probability and logits under each ``[layers, heads]`` mask.

    ``head_masks`` is ``[masks, layers, heads]`` (1 keeps a head, 0 masks it). Masks are grouped by their
    first layer with a gate below 1 and run up to ``batch_size`` per forward pass (``HeadGates``: the layers
    before it run once per pass), under SDPA attention and ``torch.inference_mode``; ``progress`` hears
    ``ablation`` after each pass.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    tensors = window_tensors(loaded, window)
    inputs = {"input_ids": tensors.input_ids, **tensors.extra(1)}
    total = int(head_masks.shape[0])
    depth = head_masks.shape[1]
    changed = (head_masks != 1).any(dim=2)
    first_changed = torch.where(changed.any(dim=1), changed.float().argmax(dim=1), torch.full((total,), depth))
    order = torch.argsort(first_changed, stable=True)
    batches = [
        chunk
        for layer in torch.unique(first_changed).tolist()
        for chunk in torch.split(order[first_changed[order] == layer], batch_size)
    ]
    probability = np.empty(total)
    start_logit = np.empty(total)
    end_logit = np.empty(total)
    done = 0
    with fast_attention(loaded), HeadGates(loaded, num_layers) as gates, torch.inference_mode():
        for rows in batches:
            output = gates.forward(inputs, head_masks[rows].to(loaded.device))
            starts = output.start_logits.double().expand(len(rows), -1)
            ends = output.end_logits.double().expand(len(rows), -1)
            p_start = torch.softmax(starts, dim=-1)[:, start_token]
            p_end = torch.softmax(ends, dim=-1)[:, end_token - 1]
            index = rows.numpy()
            probability[index] = (p_start * p_end).cpu().numpy()
            start_logit[index] = starts[:, start_token].cpu().numpy()
            end_logit[index] = ends[:, end_token - 1].cpu().numpy()
            done += len(rows)
            report_progress(progress, "ablation", done / total)
    return MaskedScores(probability=probability, start_logit=start_logit, end_logit=end_logit)


def head_gradients(
    loaded: LoadedModel, window: Window, start_token: int, end_token: int, *, num_layers: int | None = None
) -> np.ndarray:
    """``d log p / d m`` at ``m = 1``, ``[layers, heads]`` (signed), from one forward and one backward pass.

    ``log p = log p_start(s) + log p_end(e - 1)``, log-softmaxes over the window. Because a gate scales its
    head's output, each entry equals the sum over positions of that head's output times the gradient there
    (the attention x gradient view of Michel et al., 2019).
    """
    tensors = window_tensors(loaded, window)
    inputs = {"input_ids": tensors.input_ids, **tensors.extra(1)}
    with fast_attention(loaded), HeadGates(loaded, num_layers) as gates, torch.enable_grad():
        gate = torch.ones(1, gates.num_layers, gates.num_heads, device=loaded.device, requires_grad=True)
        output = gates.forward(inputs, gate)
        log_p = (
            torch.log_softmax(output.start_logits[0].double(), dim=-1)[start_token]
            + torch.log_softmax(output.end_logits[0].double(), dim=-1)[end_token - 1]
        )
        (gradient,) = torch.autograd.grad(log_p, gate)
    return gradient[0].double().cpu().numpy()


@dataclass(frozen=True, eq=False)
class HeadImportance:
    """How much the explanation's answer depends on each attention head, ``[layers, heads]`` arrays."""

    model: str
    question: str
    answer: Span
    probability: float
    """The answer's ``p_start * p_end`` with no head masked (in the same passes as the ablation)."""
    ablation: LayerHeadScores
    """``probability - p`` with that head masked: positive where the head helps the answer."""
    ablation_logits: dict[Target, LayerHeadScores]
    """Drop in the answer's start logit (at its start token) and end logit (at its last token)."""
    gradient: LayerHeadScores
    """``|d log p / d m_h|`` at ``m = 1`` (Michel et al., 2019)."""
    gradient_signed: LayerHeadScores
    """``d log p / d m_h``: to first order, masking the head changes ``log p`` by ``-gradient_signed``."""
    spearman: float
    """Rank correlation of ``|ablation|`` with ``gradient`` over all heads (NaN when either is constant)."""
    spearman_pvalue: float
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for values in (self.ablation, self.gradient, self.gradient_signed, *self.ablation_logits.values()):
            values.setflags(write=False)

    @property
    def num_layers(self) -> int:
        return int(self.ablation.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.ablation.shape[1])

    def top_heads(self, count: int = 5, by: str = "ablation") -> list[tuple[int, int, float]]:
        """``(layer, head, value)`` of the ``count`` heads with the largest ``ablation`` or ``gradient``."""
        if by not in ("ablation", "gradient"):
            raise ValueError(f"Rank heads by 'ablation' or 'gradient', not {by!r}.")
        values = getattr(self, by)
        order = np.argsort(-values, axis=None, kind="stable")[:count]
        return [(int(i // self.num_heads), int(i % self.num_heads), float(values.flat[i])) for i in order]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: arrays as nested lists ``[layers][heads]``, NaN as ``None``."""
        return {
            "model": self.model,
            "question": self.question,
            "answer": self.answer.to_dict(),
            "probability": self.probability,
            "ablation": self.ablation.tolist(),
            "ablation_logits": {target: values.tolist() for target, values in self.ablation_logits.items()},
            "gradient": self.gradient.tolist(),
            "gradient_signed": self.gradient_signed.tolist(),
            "spearman": json_float(self.spearman),
            "spearman_pvalue": json_float(self.spearman_pvalue),
            "settings": dict(self.settings),
            "seconds": dict(self.seconds),
        }


def ablation_masks(num_layers: int, num_heads: int) -> torch.Tensor:
    """``[1 + layers * heads, layers, heads]``: all ones, then each head masked alone (row ``1 + l * heads + h``)."""
    masks = torch.ones(1 + num_layers * num_heads, num_layers, num_heads)
    heads = torch.arange(num_layers * num_heads)
    masks[1 + heads, heads // num_heads, heads % num_heads] = 0.0
    return masks


def head_importance(
    explanation: Explanation,
    model: str | LoadedModel | None = None,
    *,
    progress: ProgressCallback | None = None,
    batch_size: int = HEAD_BATCH_SIZE,
) -> HeadImportance:
    """Ablation and gradient importance of every head for the explanation's answer, on its window.

    ``1 + layers * heads`` masked copies of the window run ``batch_size`` per forward pass (``progress``
    hears ``ablation`` after each), then one forward and backward pass give the gradients.
    """
    began = time.perf_counter()
    loaded = model if isinstance(model, LoadedModel) else load_model(model or explanation.model)
    window = answer_window(loaded, explanation)
    layers, heads = explanation.num_layers, explanation.num_heads
    if heads != loaded.num_heads:
        raise ValueError(f"The explanation has {heads} heads per layer, the model {loaded.num_heads}.")
    start, end = explanation.answer.start_token, explanation.answer.end_token
    report_progress(progress, "ablation", 0.0)
    with fast_attention(loaded):
        attention = str(loaded.model.config._attn_implementation)
        scores = masked_answer_scores(
            loaded,
            window,
            start,
            end,
            ablation_masks(layers, heads),
            num_layers=layers,
            batch_size=batch_size,
            progress=progress,
        )
        ablated = time.perf_counter()
        report_progress(progress, "gradient", 0.0)
        signed = head_gradients(loaded, window, start, end, num_layers=layers)
    finished = time.perf_counter()
    ablation = scores.probability[0] - scores.probability[1:].reshape(layers, heads)
    gradient = np.abs(signed)
    rho, pvalue = spearman(np.abs(ablation).ravel(), gradient.ravel())
    report_progress(progress, "done", 1.0)
    return HeadImportance(
        model=explanation.model,
        question=explanation.question,
        answer=explanation.answer,
        probability=float(scores.probability[0]),
        ablation=ablation,
        ablation_logits={
            "start": scores.start_logit[0] - scores.start_logit[1:].reshape(layers, heads),
            "end": scores.end_logit[0] - scores.end_logit[1:].reshape(layers, heads),
        },
        gradient=gradient,
        gradient_signed=signed,
        spearman=rho,
        spearman_pvalue=pvalue,
        settings={
            "batch_size": batch_size,
            "window_index": explanation.window_index,
            "window_tokens": window.length,
            "ablation_batches": -(-(1 + layers * heads) // batch_size),
            "masking": "output projection pre-hook (head output x 0)",
            "attention": attention,
            "gradient_target": "log p_start + log p_end",
        },
        seconds={"ablation": ablated - began, "gradient": finished - ablated, "total": finished - began},
    )


__all__ = [
    "HEAD_BATCH_SIZE",
    "HeadImportance",
    "MaskedScores",
    "ablation_masks",
    "head_gradients",
    "head_importance",
    "masked_answer_scores",
]
