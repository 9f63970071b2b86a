"""The one room that runs the model: every forward pass in core happens here, and nowhere else.

Why one room: the answer, the attention, the gradient maps, the what-if re-answer, head importance,
faithfulness and whole dataset runs all read the same model on the same windows. Running it in one
place keeps padding, attention implementation, precision and locking identical everywhere (a mismatch
silently changes the numbers being explained), and gives a dataset-scale analysis one thing to speed up.
A test (tests/test_passes.py) fails if any other core module calls a model's forward.

The passes, from cheapest to richest:

- ``answer_logits``: start and end logits of any number of windows, in padded batches sorted by length,
  on **the fast attention path** (PyTorch's fused SDPA kernel: no attention weights, 1.4-1.8x faster
  than eager on this project's CPU), without gradients. The answer pass of ``explain`` for contexts of
  several windows, of ``core.whatif.reanswer`` and of dataset runs.
- ``DetailPass``: one eager forward over a batch of windows that keeps every layer's attention weights
  and hidden states (``[layers, heads, tokens, tokens]`` per window, the QA head applied to every layer)
  and, when asked, the graph back to the word embeddings, so gradients of any set of target logits come
  from one backward pass each (``embedding_gradients``). ``explain``'s answer window, and dataset rows.
- ``EmbeddingForward`` / ``TargetForward``: word embeddings ``[batch, tokens, dim]`` to logits or to
  weighted sums of logits (targets): the functions captum and integrated gradients differentiate.
- ``ids_logits``: logits for windows whose token ids were changed (perturbation explainers, faithfulness).
- ``HeadGates``: a forward with each attention head's output scaled by a mask (head importance).

Models load with eager attention because only it returns attention weights; ``fast_attention`` switches
a model to SDPA for passes that need none (under the model's lock, so no other thread sees the switch).
Two private names are leaned on here, both checked by tests/test_dependency_canary.py:
``PretrainedConfig._attn_implementation`` (the only way to read the current implementation back) and
``torch.cpu._is_avx512_bf16_supported`` / ``_is_amx_tile_supported`` (the CPU's bfloat16 units).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from core.encoding import Window
from core.inputs import WindowTensors, batch_inputs, window_tensors
from core.models import LoadedModel
from core.types import AttentionArray, LayerTokenScores, TokenScores

ANSWER_BATCH_TOKENS = 2048
"""Padded tokens per batch of the answer pass: enough to amortise per-call overhead (speed is flat from 4 to
16 windows of ~160 tokens), small enough that memory stays bounded at 384-token windows."""

NATIVE_BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""CPU flags (as /proc/cpuinfo names them) of units that compute bfloat16 natively."""

LogitKind = Literal["start", "end"]


@contextmanager
def fast_attention(loaded: LoadedModel) -> Iterator[None]:
    """Use SDPA attention for passes that need no attention weights, then restore the previous one."""
    model = loaded.model
    previous = model.config._attn_implementation
    with loaded.lock:
        switched = False
        try:
            model.set_attn_implementation("sdpa")
            switched = True
        except (ValueError, ImportError, AttributeError):
            switched = False
        try:
            yield
        finally:
            if switched:
                model.set_attn_implementation(previous)


def bfloat16_is_fast() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), so bfloat16 passes pay off.

    AVX512BW alone is not enough: oneDNN then emulates bfloat16 with float32 arithmetic plus
    conversions, which is slower than plain float32 (oneDNN's own ``_is_mkldnn_bf16_supported``
    accepts it, so it is not used here).
    """
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(probe is not None for probe in probes):
        return any(bool(probe()) for probe in probes if probe is not None)
    return bool(cpu_flags() & NATIVE_BFLOAT16_FLAGS)


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags Linux reports (empty where there is no /proc/cpuinfo)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


@dataclass(frozen=True)
class WindowLogits:
    """One window's start and end logits, float32 ``[tokens]`` each (padding removed)."""

    start: TokenScores
    end: TokenScores


@dataclass(frozen=True)
class WindowDetail:
    """Everything one eager pass tells about one window."""

    logits: WindowLogits
    attentions: AttentionArray
    """float32 ``[layers, heads, tokens, tokens]``, rows sum to 1."""
    layer_start_logits: LayerTokenScores
    """The QA head applied to the embedding output and every layer's hidden state, ``[layers + 1, tokens]``."""
    layer_end_logits: LayerTokenScores


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


def answer_logits(
    loaded: LoadedModel, windows: Sequence[Window], *, batch_tokens: int = ANSWER_BATCH_TOKENS
) -> list[WindowLogits]:
    """Start and end logits of every window, in the order given: SDPA attention, no gradients.

    The same windows always meet the same batches (sorted by length, then by position), so two calls on
    the same windows give the same numbers to the bit.
    """
    found: list[WindowLogits | None] = [None] * len(windows)
    with fast_attention(loaded), torch.inference_mode():
        for batch in length_batches([window.length for window in windows], batch_tokens):
            chunk = [windows[index] for index in batch]
            output = loaded.model(**batch_inputs(loaded, chunk))
            starts = output.start_logits.float().cpu().numpy()
            ends = output.end_logits.float().cpu().numpy()
            for row, (index, window) in enumerate(zip(batch, chunk, strict=True)):
                found[index] = WindowLogits(starts[row, : window.length].copy(), ends[row, : window.length].copy())
    return [logits for logits in found if logits is not None]


class DetailPass:
    """One eager forward over a batch of windows, keeping attentions, hidden states and (asked) the gradient graph.

    Built with ``gradients=True`` the word embeddings require gradients, so ``embedding_gradients`` can
    differentiate any set of target logits afterwards; the graph (and every layer's attention) is held
    until the object is dropped, so callers keep batches bounded in tokens. The caller holds
    ``loaded.lock`` (the pass reads the model's current attention implementation, which must be eager).
    """

    def __init__(self, loaded: LoadedModel, windows: Sequence[Window], *, gradients: bool = False) -> None:
        if not windows:
            raise ValueError("A detail pass needs at least one window.")
        self.loaded = loaded
        self.windows = list(windows)
        inputs = batch_inputs(loaded, self.windows)
        with torch.no_grad():
            self._embeddings = loaded.model.get_input_embeddings()(inputs.pop("input_ids")).detach()
        self._gradients = gradients
        with torch.set_grad_enabled(gradients):
            self._embeddings.requires_grad_(gradients)
            self._output = loaded.model(
                inputs_embeds=self._embeddings, output_attentions=True, output_hidden_states=True, **inputs
            )
        self._start = self._output.start_logits.detach().float().cpu().numpy()
        self._end = self._output.end_logits.detach().float().cpu().numpy()

    def logits(self, row: int) -> WindowLogits:
        length = self.windows[row].length
        return WindowLogits(self._start[row, :length].copy(), self._end[row, :length].copy())

    def attentions(self, row: int) -> AttentionArray:
        """Row ``row``'s attention weights, float32 ``[layers, heads, tokens, tokens]`` (padding removed)."""
        length = self.windows[row].length
        layers = [layer[row, :, :length, :length].detach() for layer in self._output.attentions]
        return torch.stack(layers).float().cpu().numpy()

    def layer_logits(self, row: int) -> tuple[LayerTokenScores, LayerTokenScores]:
        """The QA head on every layer's hidden state of row ``row``: start and end, ``[layers + 1, tokens]``."""
        length = self.windows[row].length
        hidden = torch.stack([state[row, :length] for state in self._output.hidden_states]).detach()
        with torch.no_grad():
            logits = self.loaded.model.qa_outputs(hidden).float().cpu().numpy()
        return logits[..., 0], logits[..., 1]

    def detail(self, row: int) -> WindowDetail:
        """Logits, attentions and per-layer logits of row ``row``."""
        layer_start, layer_end = self.layer_logits(row)
        return WindowDetail(self.logits(row), self.attentions(row), layer_start, layer_end)

    def embeddings(self, row: int) -> torch.Tensor:
        """Row ``row``'s word embeddings ``[tokens, dim]`` (detached)."""
        return self._embeddings[row, : self.windows[row].length].detach()

    def embedding_gradients(
        self, targets: Mapping[str, Sequence[tuple[int, LogitKind, int]]]
    ) -> dict[str, torch.Tensor]:
        """d target / d word embeddings ``[batch, tokens, dim]`` for each named target: one backward pass each.

        A target is a list of ``(row, "start" | "end", token)`` logits, summed. Rows of a batch are independent,
        so one target holding one logit per row gives every row's own gradient at once.
        """
        if not self._gradients:
            raise ValueError("This pass was built without gradients (DetailPass(..., gradients=True)).")
        names = [name for name, logits in targets.items() if logits]
        gradients: dict[str, torch.Tensor] = {}
        for position, name in enumerate(names):
            picked = []
            for row, kind, token in targets[name]:
                source = self._output.start_logits if kind == "start" else self._output.end_logits
                picked.append(source[row, token])
            (gradient,) = torch.autograd.grad(
                torch.stack(picked).sum(), self._embeddings, retain_graph=position < len(names) - 1
            )
            gradients[name] = gradient.detach()
        return gradients


def window_detail(loaded: LoadedModel, window: Window) -> WindowDetail:
    """Logits, every attention map and the QA head on every layer, for one window (eager, no gradients)."""
    with loaded.lock:
        return DetailPass(loaded, [window]).detail(0)


class EmbeddingForward:
    """``embeddings [batch, tokens, dim] -> [batch, 2 * tokens]``: start logits, then end logits, of one window.

    One output row per example lets captum pick the start or the end logit by target index.
    """

    def __init__(self, loaded: LoadedModel, window: Window) -> None:
        self.model = loaded.model
        self.tensors = window_tensors(loaded, window)

    def __call__(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        output = self.model(inputs_embeds=inputs_embeds, **self.tensors.extra(inputs_embeds.shape[0]))
        return torch.cat([output.start_logits, output.end_logits], dim=-1)


class TargetForward:
    """``embeddings [batch, tokens, dim] -> [batch, targets]``: weighted sums of one window's logits.

    ``weights`` is ``[2 * tokens, targets]`` (``core.attribution.weight_matrix``); captum picks one column per
    example by target index, so a batch of copies explains several targets.
    """

    def __init__(self, loaded: LoadedModel, window: Window, weights: torch.Tensor) -> None:
        self.logits = EmbeddingForward(loaded, window)
        self.weights = weights

    def __call__(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return self.logits(inputs_embeds) @ self.weights


def ids_logits(
    loaded: LoadedModel, tensors: WindowTensors, input_ids: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and end logits ``[batch, tokens]`` of copies of one window with changed token ids.

    The caller chooses the context (``torch.inference_mode``, ``fast_attention``, autocast): perturbation and
    faithfulness passes run many such batches under one of each.
    """
    output = loaded.model(input_ids=input_ids, **tensors.extra(input_ids.shape[0]))
    return output.start_logits, output.end_logits


OUTPUT_PROJECTIONS: dict[str, str] = {
    "bert": "attention.output.dense",
    "roberta": "attention.output.dense",
    "electra": "attention.output.dense",
    "distilbert": "attention.out_lin",
    "albert": "attention.dense",
}
"""Per model type, the name ending of the module that projects the concatenated heads back to the hidden size.
Other model types are tried with each of these endings."""


class HeadGates:
    """Per-example gates on every head's output, applied through pre-hooks on the output projections.

    transformers 5 removed ``head_mask``; scaling head ``h``'s slice of the concatenated heads is what it did
    (``(m A) V = m (A V)``), with any attention implementation. Use as a context manager (hooks in place, and
    the model's lock held, only inside) and call ``forward`` with one window (batch 1) and a
    ``[batch, layers, heads]`` mask. The batch forms where it first matters: layers whose gates are all 1 run
    once on the single window, and the first layer with a gate below 1 broadcasts its heads' output to the
    mask's batch (the residual stream follows by broadcasting). Masks that differ only from layer ``l`` on
    thus share layers ``0 .. l - 1``, which head ablation, one layer at a time, exploits. ALBERT's shared
    layer is told apart by call order; every forward checks the count.
    """

    def __init__(self, loaded: LoadedModel, num_layers: int | None = None) -> None:
        self.loaded = loaded
        self.num_layers = num_layers or loaded.num_layers
        self.num_heads = loaded.num_heads
        self.projections = output_projections(loaded)
        self._mask: torch.Tensor | None = None
        self._identity_layers: list[bool] = []
        self._calls = 0
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def __enter__(self) -> HeadGates:
        self.loaded.lock.acquire()
        self._handles = [module.register_forward_pre_hook(self._gate) for module in self.projections]
        return self

    def __exit__(self, *exc_info: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self.loaded.lock.release()

    def forward(self, inputs: dict[str, torch.Tensor], mask: torch.Tensor) -> Any:
        """The model's output on ``inputs`` with head ``h`` of layer ``l`` scaled by ``mask[:, l, h]``.

        The output's batch is the mask's, or 1 when every gate is 1 (and no gradient is asked for).
        """
        if mask.dim() != 3 or tuple(mask.shape[1:]) != (self.num_layers, self.num_heads):
            raise ValueError(f"A head mask is [batch, {self.num_layers}, {self.num_heads}]; got {tuple(mask.shape)}.")
        if mask.requires_grad:
            self._identity_layers = [False] * self.num_layers
        else:
            self._identity_layers = [bool(value) for value in (mask == 1).all(dim=2).all(dim=0).tolist()]
        self._mask, self._calls = mask, 0
        try:
            output = self.loaded.model(**inputs)
        finally:
            self._mask = None
        if self._calls != self.num_layers:
            raise NotImplementedError(
                f"Expected {self.num_layers} attention layers, the output projections ran {self._calls} times: "
                f"head masking does not understand this {self.loaded.model_type} model."
            )
        return output

    def _gate(self, module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if self._mask is None:
            return None
        layer = self._calls
        self._calls += 1
        if layer >= self.num_layers or self._identity_layers[layer]:
            return None
        heads = args[0]
        batch, tokens, width = heads.shape
        gates = self._mask[:, layer].to(heads.dtype)[:, None, :, None]
        split = heads.view(batch, tokens, self.num_heads, width // self.num_heads)
        return ((split * gates).reshape(-1, tokens, width), *args[1:])


def output_projections(loaded: LoadedModel) -> list[torch.nn.Module]:
    """Each distinct attention output projection of the model (ALBERT shares one across layers)."""
    known = OUTPUT_PROJECTIONS.get(loaded.model_type)
    endings = [known] if known else list(dict.fromkeys(OUTPUT_PROJECTIONS.values()))
    for ending in endings:
        found = [module for name, module in loaded.model.named_modules() if name.endswith("." + ending)]
        if found:
            width = loaded.num_heads
            if any(getattr(module, "in_features", 0) % width for module in found):
                break
            return found
    raise NotImplementedError(
        f"Cannot find the attention output projections of this {loaded.model_type} model; head masking supports "
        f"{', '.join(sorted(OUTPUT_PROJECTIONS))} and models laid out like them."
    )


def stacked_logits(rows: Sequence[WindowLogits]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Start and end logit lists, as ``core.answering.best_spans`` takes them."""
    return [row.start for row in rows], [row.end for row in rows]


__all__ = [
    "ANSWER_BATCH_TOKENS",
    "NATIVE_BFLOAT16_FLAGS",
    "OUTPUT_PROJECTIONS",
    "DetailPass",
    "EmbeddingForward",
    "HeadGates",
    "TargetForward",
    "WindowDetail",
    "WindowLogits",
    "answer_logits",
    "bfloat16_is_fast",
    "cpu_flags",
    "fast_attention",
    "ids_logits",
    "length_batches",
    "output_projections",
    "stacked_logits",
    "window_detail",
]
