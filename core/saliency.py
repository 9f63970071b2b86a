"""Gradient saliency with captum, on the word embeddings of one window.

Why the word embeddings: they are the model's real input. Position and token-type embeddings are
added inside the model after them, so a baseline that swaps words for ``[PAD]`` keeps the
sequence's shape and positions (as in captum's BERT SQuAD tutorial).

Each method gives one value per token and per target (answer start, answer end, and ``core.targets``' others):

- ``gradient`` (Simonyan et al., 2014, captum ``Saliency``): the L2 norm of d logit / d embedding.
- ``gradient_x_input`` (Shrikumar et al., 2016, captum ``InputXGradient``): the sum over the
  embedding dimension of gradient * embedding; signed.
- ``integrated_gradients`` (Sundararajan et al., 2017): signed, summed over the embedding dimension;
  the values add up to ``F(input) - F(baseline)`` up to the reported convergence delta.
- ``smoothgrad`` (Smilkov et al., 2017, captum ``NoiseTunnel`` over ``Saliency``): the gradient averaged
  over noisy copies of the word embeddings, then its L2 norm per token like ``gradient``.

Targets are any of ``core.targets``' scalars (start, end, contrast, null): each is a weighted sum of
``QAForward``'s columns, so one batch of copies serves several targets. The perturbation methods
(occlusion, LIME, Kernel SHAP) live in ``core.perturbation``.

**SmoothGrad: why over ``Saliency`` and not ``InputXGradient``.** SmoothGrad is defined on the gradient
(Smilkov et al. average the sensitivity map ``dS/dx``), and ``NoiseTunnel(InputXGradient)`` would multiply
each noisy gradient by its own noisy input, so the noise would enter the map twice. Averaging the raw
gradient (``abs=False``) and then taking the per-token L2 norm, exactly as ``gradient`` reduces captum's
``Saliency``, makes ``smoothgrad`` the smoothed version of ``gradient``: with zero noise they are equal.
The noise is Gaussian, added to every token's word embedding (never to token ids), with a standard
deviation of ``noise`` (default 0.15; the paper recommends 10-20 % of the input's range) times the standard
deviation of the window's word embeddings, drawn from torch's generator seeded with ``seed`` inside
``torch.random.fork_rng``, so the caller's random state is left as it was.

**Integrated-gradients baselines** (``baseline_embeddings``): ``pad`` (the default: question and context
words replaced by ``[PAD]``), ``mask`` (by the mask token, ``[PAD]`` when the tokenizer has none), ``zero``
(their word embeddings set to zero) and ``average``: the mean of the maps over the *distinct* baselines
among pad, mask and zero (Sturmfels et al., 2020, "Visualizing the impact of feature attribution
baselines", Distill), each integrated to its own tolerance, so it costs one integral per distinct
baseline (three at most; a model whose ``[PAD]`` embedding is the zero vector, like this project's tiny
test models with their zero-initialised padding row, has two). Its completeness is
``sum(map) = F(input) - mean_b F(b)``. Special tokens always keep their embeddings. An input whose every
question and context embedding equals the baseline's would get an all-zero map without a word
(captum#873), so ``integrated_gradients`` raises ``ValueError`` instead.

**How integrated gradients is integrated, and why not with captum's ``IntegratedGradients``.** On
trained weights the integrand along the straight path is rough (mid-path it is several times the
size of the final map), so a fixed rule either wastes steps or misses the 1% mark. This module
refines instead, without throwing work away: nodes ``j / n`` on the path, ``n`` = 5, 10, 20, 40, 80
intervals (6, 11, 21, 41, 81 nodes), each level adding only the midpoints of the previous one; the
trapezoid rule with Gregory end corrections (exact for cubics); the two ends are nodes, so
``F(input)`` and ``F(baseline)`` come with the gradients. One forward pass per node serves every
target (all targets' gradients from one batched backward), and a ``contrast`` or ``null`` target, a
difference of logits, is integrated like any other scalar. A level's error is
estimated on the map itself from ``c_k``, the relative L2 change from the previous level: from the third
level on, ``c_k / 6``. For a rule of order 4 Richardson's estimate of the finer level's error is
``c_k / 15``; the factor 2.5 covers levels not yet in the asymptotic regime (measured on the fine-tuned
MiniLM-L6 at 21 nodes, three bundled inputs and twelve SQuAD dev questions: true error up to 2.19x
``c_k / 15``, bench/bench_ig_levels.py; a factor of 1.5 would have let one SQuAD question's start map
stop at 1.2%). At the second level the integrand is still under-resolved, so its estimate is ``c_2``
itself (there the true error measured 0.05-0.4x ``c_2``). A target has converged when that estimate is
within the tolerance (1%) AND its completeness delta is within 1% of ``|F(input) - F(baseline)|`` (or the float32 floor
of the outputs, never a fixed absolute amount, so a small difference cannot hide a large relative
error). captum computes one target per call and cannot add nodes to an earlier call's, so this is a
dozen lines of autograd instead. Measured on the fine-tuned MiniLM-L6 and on the probe
(``core.fixtures.build_minilm_probe``): bench/bench_core.py gives the speed against captum's tutorial
recipe at 50 steps, bench/bench_ig_levels.py every level's true error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from captum.attr import NoiseTunnel, Saliency

from core.compute import fast_attention
from core.encoding import Window
from core.inputs import input_embeddings, window_tensors
from core.models import LoadedModel
from core.progress import ProgressCallback, report_progress, sub_progress
from core.targets import TargetOutput, weight_matrix
from core.types import IG_BASELINES, Baseline, Method, Target, TokenScores

IG_METHOD = "nested trapezoid, Gregory end corrections (5, 10, 20, 40, 80 intervals)"
IG_START_STEPS = 6
"""Nodes of the first level (5 intervals); each further level doubles the intervals: 6, 11, 21, 41, 81 nodes.
On trained weights 11 nodes left 1-31% map error and 21 nodes 0.05-2.4% (bench/bench_ig_levels.py)."""
IG_MAX_STEPS = 81
"""Most nodes spent on one window (levels beyond this are not started); a target still outside the tolerance
then ends with ``converged`` false."""
IG_TOLERANCE = 0.01
"""Relative error allowed on each map (estimated) and on completeness (of ``|F(input) - F(baseline)|``)."""
IG_RULE_ORDER = 4
"""The order of the trapezoid rule with Gregory end corrections: halving the intervals divides its error by 2^4."""
IG_SAFETY = 2.5
"""Factor on Richardson's error estimate ``c_k / (2^4 - 1)``, for levels not yet in the asymptotic regime
(needed: 2.19 on one SQuAD dev question at 21 nodes, bench/bench_ig_levels.py --squad 12)."""
IG_RICHARDSON_LEVEL = 3
"""The first level estimated by Richardson (level 2's change compares 6 with 11 nodes: both under-resolved)."""


def level_error(change: float, level: int) -> float:
    """Estimated relative L2 error of level ``level``'s map (1-based), from ``change``, ``c_k``, since the level before.

    Level 1 has nothing to compare with (infinite); level 2 is estimated by its change itself; from
    level 3 on by Richardson for the rule's order, with ``IG_SAFETY``.
    """
    if level < 2:
        return float("inf")
    if level < IG_RICHARDSON_LEVEL:
        return change
    return IG_SAFETY * change / (2**IG_RULE_ORDER - 1)


IG_INTERNAL_BATCH = 16
"""Path points per forward pass (each gives both targets' gradients)."""
GREGORY_POINTS = 2
"""End corrections on the two nodes nearest each end of the path: order 4, exact for cubics."""
FLOAT32_FLOOR = 32 * float(np.finfo(np.float32).eps)
"""Completeness cannot be resolved below this share of the outputs' size: float32 rounding."""
BASELINE_DESCRIPTION = "question and context word embeddings replaced by the [PAD] embedding; special tokens kept"
BASELINE_DESCRIPTIONS: dict[str, str] = {
    "pad": BASELINE_DESCRIPTION,
    "mask": "question and context word embeddings replaced by the mask token's embedding ([PAD]'s without a mask "
    "token); special tokens kept",
    "zero": "question and context word embeddings set to zero; special tokens kept",
    "average": "mean of the integrated-gradients maps over the distinct baselines among pad, mask and zero",
}
"""What ``Explanation.baseline`` says for each integrated-gradients baseline (pad's text is the historical one)."""

SMOOTHGRAD_SAMPLES = 50
"""Noisy copies averaged per target (Smilkov et al., 2017, saw little change beyond 50)."""
SMOOTHGRAD_NOISE = 0.15
"""Noise standard deviation as a share of the word embeddings' standard deviation (the paper: 10-20 %)."""
GRADIENT_BATCH = 16
"""Sequences per forward and backward pass of SmoothGrad (copies times targets)."""

LevelCallback = Callable[[dict[Target, "IntegratedGradientsResult"]], None]


@dataclass(frozen=True)
class IntegratedGradientsResult:
    """Per-token attributions for one target, how well they met completeness, and whether they converged."""

    scores: TokenScores
    convergence_delta: float
    """``sum(scores) - (F(input) - F(baseline))``."""
    n_steps: int
    """Nodes of the rule the scores come from."""
    output_difference: float
    """``F(input) - F(baseline)`` for the target logit."""
    converged: bool = False
    """Both the estimated map error and the completeness delta are within the tolerance."""
    estimated_error: float = float("inf")
    """Estimated relative L2 error of ``scores`` (``inf`` before a second level exists)."""
    evaluations: int = 0
    """Forward passes spent on this window so far (each one served every target)."""
    components: dict[str, dict[str, Any]] = field(default_factory=dict)
    """``average`` baseline only: per single baseline, its ``n_steps``, ``convergence_delta``, ``output_difference``
    and ``converged``."""


class QAForward:
    """``embeddings [batch, tokens, dim] -> [batch, 2 * tokens]``: start logits, then end logits.

    One output row per example lets captum pick the start or the end logit by target index.
    """

    def __init__(self, loaded: LoadedModel, window: Window) -> None:
        self.model = loaded.model
        self.tensors = window_tensors(loaded, window)

    def __call__(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        output = self.model(inputs_embeds=inputs_embeds, **self.tensors.extra(inputs_embeds.shape[0]))
        return torch.cat([output.start_logits, output.end_logits], dim=-1)


class TargetForward:
    """``embeddings [batch, tokens, dim] -> [batch, targets]``: every target's scalar (``core.targets``).

    captum picks one column per example by target index, so a batch of copies explains several targets.
    """

    def __init__(self, loaded: LoadedModel, window: Window, outputs: Mapping[Target, TargetOutput]) -> None:
        self.logits = QAForward(loaded, window)
        self.weights = weight_matrix(outputs, window.length, loaded.model.dtype, loaded.device)

    def __call__(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        return self.logits(inputs_embeds) @ self.weights


def target_index(window: Window, target: Target, start_token: int, end_token: int) -> int:
    """Column of ``QAForward``'s output for the answer's start or its last token."""
    return start_token if target == "start" else window.length + end_token - 1


def answer_outputs(window: Window, start_token: int, end_token: int) -> dict[Target, TargetOutput]:
    """The ``start`` and ``end`` targets of the span ``[start_token, end_token)``."""
    return {
        target: TargetOutput(target, ((target_index(window, target, start_token, end_token), 1.0),))
        for target in ("start", "end")
    }


def replacement_token(loaded: LoadedModel, prefer_mask: bool) -> tuple[int, str]:
    """The id and string standing in for a removed word: the mask token (when preferred), else pad, else unk."""
    tokenizer = loaded.tokenizer
    candidates = [(tokenizer.mask_token_id, tokenizer.mask_token)] if prefer_mask else []
    candidates += [(tokenizer.pad_token_id, tokenizer.pad_token), (tokenizer.unk_token_id, tokenizer.unk_token)]
    for token_id, token in candidates:
        if token_id is not None:
            return int(token_id), str(token)
    raise ValueError(f"The tokenizer of {loaded.name!r} has no mask, pad or unknown token to stand for a word.")


def baseline_ids(loaded: LoadedModel, window: Window, token: Baseline = "pad") -> list[int]:
    """The baseline sequence: every question and context token replaced by ``[PAD]`` (or the mask token)."""
    replacement = replacement_token(loaded, prefer_mask=token == "mask")[0]
    return [
        token_id if role == "special" else replacement
        for token_id, role in zip(window.input_ids, window.roles, strict=True)
    ]


def baseline_embeddings(loaded: LoadedModel, window: Window, baseline: Baseline) -> torch.Tensor:
    """Word embeddings ``[1, tokens, dim]`` of a single baseline (``pad``, ``mask`` or ``zero``); specials kept."""
    if baseline in ("pad", "mask"):
        return input_embeddings(loaded, baseline_ids(loaded, window, baseline))
    if baseline == "zero":
        embeddings = input_embeddings(loaded, window.input_ids).clone()
        kept = torch.tensor([role == "special" for role in window.roles], device=embeddings.device)
        return torch.where(kept.view(1, -1, 1), embeddings, torch.zeros_like(embeddings))
    raise ValueError(f"Unknown baseline {baseline!r}; choose from {list(IG_BASELINES)}.")


def distinct_baselines(loaded: LoadedModel, window: Window, baseline: Baseline) -> dict[str, torch.Tensor]:
    """The single baselines ``baseline`` stands for: itself, or for ``average`` the distinct ones of pad, mask, zero.

    Raises ``ValueError`` when the input's question and context embeddings all equal a baseline's: every
    attribution would be zero (captum#873), which says nothing about the model.
    """
    if baseline not in IG_BASELINES:
        raise ValueError(f"Unknown integrated-gradients baseline {baseline!r}; choose from {list(IG_BASELINES)}.")
    names = ("pad", "mask", "zero") if baseline == "average" else (baseline,)
    embeddings = input_embeddings(loaded, window.input_ids)
    words = torch.tensor([role != "special" for role in window.roles], device=embeddings.device)
    chosen: dict[str, torch.Tensor] = {}
    for name in names:
        candidate = baseline_embeddings(loaded, window, name)
        if torch.equal(candidate[:, words], embeddings[:, words]):
            others = [other for other in IG_BASELINES if other not in (name, "average")]
            raise ValueError(
                f"Every question and context token's embedding equals the {name!r} baseline's, so integrated "
                f"gradients would be zero everywhere (the input is its own baseline). Choose another baseline "
                f"({' or '.join(repr(other) for other in others)})."
            )
        if not any(torch.equal(candidate, seen) for seen in chosen.values()):
            chosen[name] = candidate
    return chosen


def gradient_saliency(
    loaded: LoadedModel,
    window: Window,
    start_token: int,
    end_token: int,
    *,
    outputs: Mapping[Target, TargetOutput] | None = None,
) -> dict[Method, dict[Target, TokenScores]]:
    """``gradient`` and ``gradient_x_input`` for every target from one captum ``Saliency`` call.

    The targets (default: the span's start and end) go in one batch of copies of the input, one copy
    per target. ``gradient_x_input`` is the gradient times the input, exactly captum's ``InputXGradient``,
    without paying for the gradient twice.
    """
    outputs = dict(outputs) if outputs is not None else answer_outputs(window, start_token, end_token)
    embeddings = input_embeddings(loaded, window.input_ids)
    forward = TargetForward(loaded, window, outputs)
    # The copies already require gradients, so captum has nothing to switch on and no warning to print.
    copies = embeddings.expand(len(outputs), -1, -1).clone().requires_grad_()
    with fast_attention(loaded):
        gradients = Saliency(forward).attribute(copies, target=list(range(len(outputs))), abs=False)
    gradients = gradients.detach()
    norms = gradients.norm(dim=-1).cpu().numpy().astype(np.float32)
    times_input = (gradients * embeddings).sum(dim=-1).cpu().numpy().astype(np.float32)
    return {
        "gradient": {target: norms[row] for row, target in enumerate(outputs)},
        "gradient_x_input": {target: times_input[row] for row, target in enumerate(outputs)},
    }


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's generator for the block only: the caller's random state is restored afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def smoothgrad(
    loaded: LoadedModel,
    window: Window,
    outputs: Mapping[Target, TargetOutput],
    *,
    n_samples: int = SMOOTHGRAD_SAMPLES,
    noise: float = SMOOTHGRAD_NOISE,
    seed: int = 0,
    batch_size: int = GRADIENT_BATCH,
) -> tuple[dict[Target, TokenScores], dict[str, Any]]:
    """SmoothGrad (Smilkov et al., 2017): captum ``NoiseTunnel(Saliency)``, the L2 norm of the mean noisy gradient.

    Returns the maps per target and the settings used (see the module docstring). ``noise`` is the noise's
    standard deviation as a share of the word embeddings' standard deviation; 0 gives ``gradient``'s map.
    """
    if n_samples < 1:
        raise ValueError("SmoothGrad needs at least one sample.")
    if noise < 0:
        raise ValueError("SmoothGrad's noise must not be negative.")
    embeddings = input_embeddings(loaded, window.input_ids)
    embedding_std = float(embeddings.float().std())
    stdev = float(noise * embedding_std)
    forward = TargetForward(loaded, window, outputs)
    copies = embeddings.expand(len(outputs), -1, -1).clone()
    per_batch = max(1, batch_size // len(outputs))
    with fast_attention(loaded), seeded(seed, loaded.device):
        gradients = NoiseTunnel(Saliency(forward)).attribute(
            copies,
            nt_type="smoothgrad",
            nt_samples=n_samples,
            nt_samples_batch_size=per_batch,
            stdevs=stdev,
            target=list(range(len(outputs))),
            abs=False,
        )
    norms = gradients.detach().norm(dim=-1).cpu().numpy().astype(np.float32)
    settings = {
        "captum": "NoiseTunnel(Saliency), nt_type='smoothgrad', abs=False; L2 norm over the embedding dimension",
        "n_samples": n_samples,
        "noise": noise,
        "noise_std": stdev,
        "embedding_std": embedding_std,
        "noise_on": "word embeddings of every token",
        "seed": seed,
        "samples_per_batch": per_batch,
    }
    return {target: norms[row] for row, target in enumerate(outputs)}, settings


def gregory_weights(intervals: int, corrections: int = GREGORY_POINTS) -> np.ndarray:
    """Weights of the ``intervals + 1`` nodes ``j / intervals`` on [0, 1]: the trapezoid rule plus symmetric
    corrections on the ``corrections`` nodes nearest each end, so polynomials up to degree ``2 corrections - 1``
    integrate exactly."""
    nodes = np.linspace(0.0, 1.0, intervals + 1)
    weights = np.full(intervals + 1, 1.0 / intervals)
    weights[[0, -1]] = 0.5 / intervals
    corrections = min(corrections, (intervals + 1) // 2)
    if corrections == 0:
        return weights
    centred = nodes - 0.5
    system = np.zeros((corrections, corrections))
    rhs = np.zeros(corrections)
    for row in range(corrections):
        power = 2 * row
        rhs[row] = (0.5 ** (power + 1) - (-0.5) ** (power + 1)) / (power + 1) - (weights * centred**power).sum()
        for column in range(corrections):
            mirror = intervals - column
            system[row, column] = centred[column] ** power + (centred[mirror] ** power if mirror != column else 0.0)
    solution = np.linalg.solve(system, rhs)
    for column in range(corrections):
        weights[column] += solution[column]
        if intervals - column != column:
            weights[intervals - column] += solution[column]
    return weights


def _node_maps(
    forward: TargetForward, baseline: torch.Tensor, difference: torch.Tensor, alphas: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Integrand maps ``[nodes, targets, tokens]`` and outputs ``F [nodes, targets]`` of every target, from one
    forward pass.

    All targets' gradients come from one backward over one-hot output vectors (``is_grads_batched``).
    """
    steps = torch.tensor(alphas, dtype=baseline.dtype, device=baseline.device).view(-1, 1, 1)
    points = (baseline + steps * difference).requires_grad_()
    outputs = forward(points)
    count = outputs.shape[1]
    one_hot = (
        torch.eye(count, dtype=outputs.dtype, device=outputs.device).view(count, 1, count).expand(-1, len(alphas), -1)
    )
    (gradients,) = torch.autograd.grad(outputs, points, grad_outputs=one_hot, is_grads_batched=True)
    maps = (gradients * difference).sum(-1).transpose(0, 1)
    return maps.detach().double().cpu().numpy(), outputs.detach().double().cpu().numpy()


def path_integrand(
    loaded: LoadedModel,
    window: Window,
    outputs: Mapping[Target, TargetOutput],
    alphas: np.ndarray,
    *,
    baseline: Baseline = "pad",
    batch: int = IG_INTERNAL_BATCH,
) -> tuple[np.ndarray, np.ndarray]:
    """The integrand at path points ``alphas``: maps ``[points, targets, tokens]`` and outputs ``F [points, targets]``.

    What ``integrated_gradients`` samples, exposed so a quadrature rule can be judged on a real integrand
    (bench/bench_ig_bound.py). A single baseline only (``average`` is a mean of integrals, not one integrand).
    """
    if baseline == "average":
        raise ValueError("path_integrand takes a single baseline (pad, mask or zero), not 'average'.")
    points = np.asarray(alphas, dtype=np.float64).reshape(-1)
    if len(points) == 0:
        raise ValueError("path_integrand needs at least one path point.")
    origin = next(iter(distinct_baselines(loaded, window, baseline).values()))
    difference = input_embeddings(loaded, window.input_ids) - origin
    forward = TargetForward(loaded, window, outputs)
    with fast_attention(loaded):
        pieces = [_node_maps(forward, origin, difference, points[i : i + batch]) for i in range(0, len(points), batch)]
    return np.concatenate([piece[0] for piece in pieces]), np.concatenate([piece[1] for piece in pieces])


def completeness_met(
    delta: float, output_difference: float, outputs: tuple[float, float], tolerance: float = IG_TOLERANCE
) -> bool:
    """Whether ``sum(map) - (F(x) - F(x'))`` is within ``tolerance`` of ``|F(x) - F(x')|``.

    Relative, never a fixed absolute amount (a small difference must not hide a large relative error),
    down to float32's own resolution of the two outputs, below which a delta is rounding.
    """
    floor = FLOAT32_FLOOR * max(abs(outputs[0]), abs(outputs[1]))
    return abs(delta) <= max(tolerance * abs(output_difference), floor)


def _relative_change(new: np.ndarray, old: np.ndarray) -> float:
    scale = float(np.linalg.norm(new))
    change = float(np.linalg.norm(new - old))
    return 0.0 if change == 0.0 else change / max(scale, np.finfo(np.float64).tiny)


def integrated_gradients_both(
    loaded: LoadedModel,
    window: Window,
    start_token: int,
    end_token: int,
    **options: Any,
) -> dict[Target, IntegratedGradientsResult]:
    """Integrated gradients of the span's start and end logits (``integrated_gradients`` with those two targets)."""
    return integrated_gradients(loaded, window, answer_outputs(window, start_token, end_token), **options)


def integrated_gradients(
    loaded: LoadedModel,
    window: Window,
    outputs: Mapping[Target, TargetOutput],
    *,
    baseline: Baseline = "pad",
    n_steps: int = IG_START_STEPS,
    max_steps: int = IG_MAX_STEPS,
    tolerance: float = IG_TOLERANCE,
    internal_batch_size: int = IG_INTERNAL_BATCH,
    progress: ProgressCallback | None = None,
    on_level: LevelCallback | None = None,
) -> dict[Target, IntegratedGradientsResult]:
    """Integrated gradients of every target in ``outputs`` on one window (see the module docstring).

    Starts with ``n_steps`` nodes and refines until every target converges or the next level would pass
    ``max_steps`` nodes (``n_steps == max_steps``: exactly one level, a fixed rule). ``progress`` hears
    every batch of nodes (raising from it stops the work there); ``on_level`` gets the results after
    each level, so a page can show the map before it is final (single baselines only: an ``average`` is
    published once, complete). Raises ``ValueError`` for bad settings and for an input equal to its baseline.
    """
    if n_steps < 2 or max_steps < n_steps:
        raise ValueError("Integrated gradients needs 2 <= n_steps <= max_steps (the path's two ends are nodes).")
    if not 0 < tolerance < 1:
        raise ValueError("The integrated-gradients tolerance must lie between 0 and 1.")
    baselines = distinct_baselines(loaded, window, baseline)
    forward = TargetForward(loaded, window, outputs)
    options = {"n_steps": n_steps, "max_steps": max_steps, "tolerance": tolerance, "batch": internal_batch_size}
    if len(baselines) == 1 and baseline != "average":
        return _integrate(
            loaded, window, forward, list(outputs), next(iter(baselines.values())), progress, on_level, **options
        )
    parts: dict[str, dict[Target, IntegratedGradientsResult]] = {}
    for index, (name, embeddings) in enumerate(baselines.items()):
        within = sub_progress(progress, f"{name} baseline: ", index / len(baselines), (index + 1) / len(baselines))
        parts[name] = _integrate(loaded, window, forward, list(outputs), embeddings, within, None, **options)
    return {target: _average(target, parts) for target in outputs}


def _average(
    target: Target, parts: Mapping[str, Mapping[Target, IntegratedGradientsResult]]
) -> IntegratedGradientsResult:
    """One target's map averaged over baselines: ``sum(map) = F(input) - mean F(baseline)`` up to the mean delta."""
    results = [per_target[target] for per_target in parts.values()]
    return IntegratedGradientsResult(
        scores=np.mean([r.scores.astype(np.float64) for r in results], axis=0).astype(np.float32),
        convergence_delta=float(np.mean([r.convergence_delta for r in results])),
        n_steps=sum(r.n_steps for r in results),
        output_difference=float(np.mean([r.output_difference for r in results])),
        converged=all(r.converged for r in results),
        estimated_error=max(r.estimated_error for r in results),
        evaluations=sum(r.evaluations for r in results),
        components={
            name: {
                "n_steps": per_target[target].n_steps,
                "convergence_delta": per_target[target].convergence_delta,
                "output_difference": per_target[target].output_difference,
                "converged": per_target[target].converged,
            }
            for name, per_target in parts.items()
        },
    )


def _integrate(
    loaded: LoadedModel,
    window: Window,
    forward: TargetForward,
    targets: list[Target],
    baseline: torch.Tensor,
    progress: ProgressCallback | None,
    on_level: LevelCallback | None,
    *,
    n_steps: int,
    max_steps: int,
    tolerance: float,
    batch: int,
) -> dict[Target, IntegratedGradientsResult]:
    """The nested refinement of the module docstring, from one baseline, for every target at once."""
    embeddings = input_embeddings(loaded, window.input_ids)
    difference = embeddings - baseline
    count = len(targets)
    intervals = n_steps - 1
    maps = np.zeros((0, count, window.length))
    outputs = np.zeros((0, count))
    level = 0
    previous: np.ndarray | None = None
    results: dict[Target, IntegratedGradientsResult] = {}
    with fast_attention(loaded):
        while True:
            new_alphas = (
                np.linspace(0.0, 1.0, intervals + 1)
                if len(maps) == 0
                else (2 * np.arange(intervals // 2) + 1) / intervals  # the midpoints of the previous level
            )
            pieces = []
            for first in range(0, len(new_alphas), batch):
                done = len(maps) + first
                report_progress(
                    progress, f"integrated_gradients: {done} of at most {max_steps} path points", done / max_steps
                )
                pieces.append(_node_maps(forward, baseline, difference, new_alphas[first : first + batch]))
            new_maps = np.concatenate([piece[0] for piece in pieces])
            new_outputs = np.concatenate([piece[1] for piece in pieces])
            if len(maps) == 0:
                maps, outputs = new_maps, new_outputs
            else:  # old nodes at the even positions of the finer grid, new ones at the odd positions
                merged_maps = np.empty((intervals + 1, count, window.length))
                merged_outputs = np.empty((intervals + 1, count))
                merged_maps[0::2], merged_maps[1::2] = maps, new_maps
                merged_outputs[0::2], merged_outputs[1::2] = outputs, new_outputs
                maps, outputs = merged_maps, merged_outputs
            estimate = np.tensordot(gregory_weights(intervals), maps, axes=(0, 0))
            level += 1
            if previous is None:
                errors = [float("inf")] * count
            else:
                errors = [level_error(_relative_change(estimate[i], previous[i]), level) for i in range(count)]
            results = {}
            for index, target in enumerate(targets):
                output_difference = float(outputs[-1, index] - outputs[0, index])
                delta = float(estimate[index].sum() - output_difference)
                ends = (float(outputs[0, index]), float(outputs[-1, index]))
                complete = completeness_met(delta, output_difference, ends, tolerance)
                results[target] = IntegratedGradientsResult(
                    scores=estimate[index].astype(np.float32),
                    convergence_delta=delta,
                    n_steps=len(maps),
                    output_difference=output_difference,
                    converged=bool(errors[index] <= tolerance and complete),
                    estimated_error=float(errors[index]),
                    evaluations=len(maps),
                )
            previous = estimate
            if on_level is not None:
                on_level(results)
            if all(result.converged for result in results.values()) or 2 * intervals + 1 > max_steps:
                break
            intervals *= 2
    return results
