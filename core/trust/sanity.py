"""Sanity check by model-parameter randomisation (Adebayo et al., 2018, "Sanity Checks for Saliency Maps").

If a saliency map stays the same when the model's learnt weights are replaced by random ones, it
does not explain the model: it explains the input (edges in images; token frequency or embedding
norms in text). The test here:

1. deep-copy the model (``copy.deepcopy``; the process-wide model that ``core.load_model`` caches
   is never touched);
2. recompute every method on the copy first, unchanged (the reference maps, with the same
   settings as every later step, so only the weights differ);
3. **cascading** (default): re-initialise, from the top down, the QA head (``qa_outputs``), then
   each transformer layer from the last to the first, then the embeddings, keeping earlier
   randomisations; or **independent**: re-initialise one of those at a time, the rest intact;
4. after each step recompute each method for the *original* answer's start and end, and report
   Spearman's rank correlation with the reference (``spearman``) and of their absolute values
   (``spearman_abs``, as Adebayo et al. also report), over every question and context token
   (special tokens left out: their gradients dwarf the rest and would dominate the ranks).

Maps are the start and end maps combined as everywhere (``core.trust.importance``: their sum, signed
for the signed methods). Re-initialisation follows BERT's own scheme: linear and embedding
weights ~ N(0, ``initializer_range``), biases 0, LayerNorm weight 1 and bias 0, from a seeded
generator.

**Flag.** A method is flagged when its correlation is still at least ``threshold`` (0.5) once the
QA head and every transformer layer are random (the step ``layer 0``). The embeddings step is
reported but not used for the flag: re-drawing the embedding table changes the input vectors
themselves (gradient x input multiplies by them), which would decorrelate any input-dependent map
whatever the model does.

Integrated gradients runs with a fixed ``ig_steps`` nodes (one level of ``core.attribution``'s rule) at
every step instead of the refining schedule of ``core.explain``: a random model's paths can need many
more nodes to converge, and equal settings keep the steps comparable.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import nn

from core.attribution import gradient_saliency, integrated_gradients_both
from core.encoding import Window
from core.explain import answer_window
from core.explanation import Explanation
from core.models import LoadedModel, load_model
from core.progress import ProgressCallback, report_progress
from core.trust.importance import Combine, combine_targets
from core.trust.stats import json_float, spearman
from core.types import DEFAULT_METHODS, METHODS, TARGETS, Method, Target

SANITY_METHODS: tuple[Method, ...] = DEFAULT_METHODS
"""Methods the randomisation check recomputes on the randomised copies (the default ones)."""

SANITY_THRESHOLD = 0.5
SANITY_IG_STEPS = 8
HEAD_STEP = "qa_outputs"
EMBEDDINGS_STEP = "embeddings"

Mode = Literal["cascading", "independent"]


@dataclass(frozen=True)
class SanityReport:
    """Rank correlation of each method's map with its original after each randomisation step."""

    model: str
    mode: str
    steps: list[str]
    """Randomised parts in order: ``qa_outputs``, ``layer L-1`` ... ``layer 0``, ``embeddings``."""
    methods: list[str]
    spearman: dict[str, list[float]]
    """Per method, Spearman's rho with the original map after each step (NaN when a map is constant)."""
    spearman_abs: dict[str, list[float]]
    """The same on absolute values."""
    flagged: list[str]
    """Methods whose map barely changed (see the module docstring)."""
    flag_step: str
    threshold: float
    seed: int
    ig_steps: int
    positions: list[int]
    """Token positions the correlations are over (question and context tokens)."""
    original: dict[str, list[float]]
    """Per method, the reference map over ``positions``."""
    randomised: dict[str, list[list[float]]]
    """Per method, the map over ``positions`` after each step, ``[steps][positions]``."""
    seconds: float

    def to_dict(self, maps: bool = True) -> dict[str, Any]:
        """JSON-ready; NaN correlations become ``None``. ``maps=False`` leaves out the maps themselves."""
        payload: dict[str, Any] = {
            "model": self.model,
            "mode": self.mode,
            "steps": list(self.steps),
            "methods": list(self.methods),
            "spearman": {m: [json_float(v) for v in values] for m, values in self.spearman.items()},
            "spearman_abs": {m: [json_float(v) for v in values] for m, values in self.spearman_abs.items()},
            "flagged": list(self.flagged),
            "flag_step": self.flag_step,
            "threshold": self.threshold,
            "seed": self.seed,
            "ig_steps": self.ig_steps,
            "seconds": self.seconds,
        }
        if maps:
            payload["positions"] = list(self.positions)
            payload["original"] = {m: list(v) for m, v in self.original.items()}
            payload["randomised"] = {m: [list(row) for row in rows] for m, rows in self.randomised.items()}
        return payload


def randomisation_steps(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The parts to re-initialise, top down: the QA head, each transformer layer (last first), the embeddings.

    Works for BERT, DistilBERT, RoBERTa, ELECTRA and friends (a ``ModuleList`` of layers). A model
    that shares one layer across depth (ALBERT) gets a single ``encoder`` step.
    """
    base = getattr(model, "base_model", model)
    steps: list[tuple[str, nn.Module]] = []
    head = getattr(model, "qa_outputs", None)
    if head is not None:
        steps.append((HEAD_STEP, head))
    layers = _layer_list(base, model)
    if layers is not None:
        steps.extend((f"layer {index}", layers[index]) for index in reversed(range(len(layers))))
    else:
        encoder = getattr(base, "encoder", None) or getattr(base, "transformer", None)
        if encoder is not None:
            steps.append(("encoder", encoder))
    embeddings = getattr(base, "embeddings", None)
    if embeddings is not None:
        steps.append((EMBEDDINGS_STEP, embeddings))
    return steps


def reinitialise(module: nn.Module, std: float, generator: torch.Generator) -> None:
    """Re-draw ``module``'s weights in place: BERT's initialisation, from ``generator``."""
    with torch.no_grad():
        for part in module.modules():
            if isinstance(part, nn.Linear):
                _normal(part.weight, std, generator)
                if part.bias is not None:
                    part.bias.zero_()
            elif isinstance(part, nn.Embedding):
                _normal(part.weight, std, generator)
                if part.padding_idx is not None:
                    part.weight[part.padding_idx].zero_()
            elif isinstance(part, nn.LayerNorm):
                if part.weight is not None:
                    part.weight.fill_(1.0)
                if part.bias is not None:
                    part.bias.zero_()


def sanity_check(
    explanation: Explanation,
    model: str | LoadedModel | None = None,
    methods: Iterable[Method] = SANITY_METHODS,
    *,
    mode: Mode = "cascading",
    threshold: float = SANITY_THRESHOLD,
    seed: int = 0,
    ig_steps: int = SANITY_IG_STEPS,
    combine: Combine = "signed",
    progress: ProgressCallback | None = None,
) -> SanityReport:
    """Randomise the model's parameters step by step and measure how much each method's map changes.

    Works on a deep copy of the model; the original (and ``core.load_model``'s cache) stays as it
    was. See the module docstring for the steps, the correlation and the flag.
    """
    began = time.perf_counter()
    chosen = list(dict.fromkeys(methods))
    unknown = [m for m in chosen if m not in METHODS]
    if unknown:
        raise ValueError(f"Unknown saliency method(s) {unknown}; choose from {list(SANITY_METHODS)}.")
    unsupported = [m for m in chosen if m not in SANITY_METHODS]
    if unsupported:
        raise ValueError(f"The sanity check cannot recompute {unsupported}; choose from {list(SANITY_METHODS)}.")
    if not chosen:
        raise ValueError("Choose at least one saliency method to check.")
    if mode not in ("cascading", "independent"):
        raise ValueError(f"mode must be 'cascading' or 'independent', not {mode!r}.")
    if ig_steps < 1:
        raise ValueError("ig_steps must be at least 1.")
    loaded = model if isinstance(model, LoadedModel) else load_model(model or explanation.model)
    window = answer_window(loaded, explanation)
    with loaded.lock:
        clone = copy.deepcopy(loaded.model)
    clone.eval()
    work = LoadedModel(
        name=f"{loaded.name} (randomised copy)",
        model=clone,
        tokenizer=loaded.tokenizer,
        device=loaded.device,
        max_length=loaded.max_length,
    )
    start, end = explanation.answer.start_token, explanation.answer.end_token
    positions = np.array([i for i, role in enumerate(explanation.roles) if role != "special"], dtype=np.int64)
    steps = randomisation_steps(clone)
    std = float(getattr(clone.config, "initializer_range", 0.02) or 0.02)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    total = len(steps) + 1

    def maps() -> dict[str, np.ndarray]:
        return {
            method: combine_targets(per_target, combine)[positions]
            for method, per_target in _saliency(work, window, chosen, start, end, ig_steps).items()
        }

    report_progress(progress, "original", 0.0)
    original = maps()
    randomised: dict[str, list[np.ndarray]] = {method: [] for method in chosen}
    for index, (_label, module) in enumerate(steps):
        report_progress(progress, _label, (index + 1) / total)
        saved = None if mode == "cascading" else {k: v.clone() for k, v in module.state_dict().items()}
        reinitialise(module, std, generator)
        for method, values in maps().items():
            randomised[method].append(values)
        if saved is not None:
            module.load_state_dict(saved)
    report_progress(progress, "done", 1.0)
    rho = {m: [spearman(original[m], after)[0] for after in randomised[m]] for m in chosen}
    rho_abs = {m: [spearman(np.abs(original[m]), np.abs(after))[0] for after in randomised[m]] for m in chosen}
    labels = [label for label, _module in steps]
    flag_step = _flag_step(labels)
    flag_index = labels.index(flag_step)
    flagged = [m for m in chosen if _at_least(rho[m][flag_index], threshold)]
    return SanityReport(
        model=loaded.name,
        mode=mode,
        steps=labels,
        methods=chosen,
        spearman=rho,
        spearman_abs=rho_abs,
        flagged=flagged,
        flag_step=flag_step,
        threshold=threshold,
        seed=seed,
        ig_steps=ig_steps,
        positions=[int(p) for p in positions],
        original={m: [float(v) for v in original[m]] for m in chosen},
        randomised={m: [[float(v) for v in row] for row in randomised[m]] for m in chosen},
        seconds=time.perf_counter() - began,
    )


def _saliency(
    work: LoadedModel, window: Window, methods: list[str], start: int, end: int, ig_steps: int
) -> dict[str, dict[Target, np.ndarray]]:
    result: dict[str, dict[Target, np.ndarray]] = {}
    if any(m in ("gradient", "gradient_x_input") for m in methods):
        both = gradient_saliency(work, window, start, end)
        result.update({m: both[m] for m in methods if m in both})
    if "integrated_gradients" in methods:
        both = integrated_gradients_both(work, window, start, end, n_steps=ig_steps, max_steps=ig_steps)
        result["integrated_gradients"] = {target: both[target].scores for target in TARGETS}
    return {m: result[m] for m in methods}


def _layer_list(base: nn.Module, model: nn.Module) -> nn.ModuleList | None:
    config = model.config
    count = getattr(config, "num_hidden_layers", None) or getattr(config, "n_layers", None)
    for _name, module in base.named_modules():
        if isinstance(module, nn.ModuleList) and count and len(module) == int(count) and int(count) > 0:
            return module
    return None


def _flag_step(labels: list[str]) -> str:
    """The step after which the head and every transformer layer are random (before the embeddings)."""
    body = [label for label in labels if label != EMBEDDINGS_STEP]
    return body[-1] if body else labels[-1]


def _normal(weight: torch.Tensor, std: float, generator: torch.Generator) -> None:
    drawn = torch.empty(weight.shape, dtype=torch.float32).normal_(0.0, std, generator=generator)
    weight.copy_(drawn.to(device=weight.device, dtype=weight.dtype))


def _at_least(value: float, threshold: float) -> bool:
    return not math.isnan(value) and value >= threshold


__all__ = [
    "SANITY_IG_STEPS",
    "SANITY_METHODS",
    "SANITY_THRESHOLD",
    "SanityReport",
    "randomisation_steps",
    "reinitialise",
    "sanity_check",
]
