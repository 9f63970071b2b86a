"""Integrated gradients (Sundararajan et al., 2017), refined level by level until each map has converged.

Signed, summed over the embedding dimension; the values add up to ``F(input) - F(baseline)`` up to the
reported convergence delta. Baselines: ``core.attribution.baselines``; the rule and its error estimate:
``core.attribution.quadrature``.

**Why not captum's ``IntegratedGradients``.** On trained weights the integrand along the straight path is
rough (mid-path it is several times the size of the final map), so a fixed rule either wastes steps or misses
the 1% mark. This module refines instead, without throwing work away: each level adds only the midpoints of
the previous one, and the two ends are nodes, so ``F(input)`` and ``F(baseline)`` come with the gradients. One
forward pass per node serves every target (all targets' gradients from one batched backward), and a
``contrast`` or ``null`` target, a difference of logits, is integrated like any other scalar. captum computes
one target per call and cannot add nodes to an earlier call's, so this is a dozen lines of autograd instead.
Measured on the fine-tuned MiniLM-L6 and on the probe (``core.fixtures.build_minilm_probe``):
bench/bench_core.py gives the speed against captum's tutorial recipe at 50 steps, bench/bench_ig_levels.py
every level's true error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.attribution.baselines import distinct_baselines
from core.attribution.quadrature import (
    IG_TOLERANCE,
    completeness_met,
    gregory_weights,
    level_error,
    relative_change,
)
from core.attribution.targets import TargetOutput, answer_outputs, target_forward
from core.encoding import Window
from core.inputs import input_embeddings
from core.models import LoadedModel
from core.passes import TargetForward, fast_attention
from core.progress import ProgressCallback, report_progress, sub_progress
from core.types import Baseline, Target, TokenScores

IG_METHOD = "nested trapezoid, Gregory end corrections (5, 10, 20, 40, 80 intervals)"
IG_START_STEPS = 6
"""Nodes of the first level (5 intervals); each further level doubles the intervals: 6, 11, 21, 41, 81 nodes.
On trained weights 11 nodes left 1-31% map error and 21 nodes 0.05-2.4% (bench/bench_ig_levels.py)."""
IG_MAX_STEPS = 81
"""Most nodes spent on one window (levels beyond this are not started); a target still outside the tolerance
then ends with ``converged`` false."""
IG_INTERNAL_BATCH = 16
"""Path points per forward pass (each gives both targets' gradients)."""

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
    forward = target_forward(loaded, window, outputs)
    with fast_attention(loaded):
        pieces = [_node_maps(forward, origin, difference, points[i : i + batch]) for i in range(0, len(points), batch)]
    return np.concatenate([piece[0] for piece in pieces]), np.concatenate([piece[1] for piece in pieces])


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
    forward = target_forward(loaded, window, outputs)
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
                errors = [level_error(relative_change(estimate[i], previous[i]), level) for i in range(count)]
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


__all__ = [
    "IG_INTERNAL_BATCH",
    "IG_MAX_STEPS",
    "IG_METHOD",
    "IG_START_STEPS",
    "IntegratedGradientsResult",
    "LevelCallback",
    "integrated_gradients",
    "integrated_gradients_both",
    "path_integrand",
]
