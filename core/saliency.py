"""Gradient saliency with captum, on the word embeddings of one window.

Why the word embeddings: they are the model's real input. Position and token-type embeddings are
added inside the model after them, so a baseline that swaps words for ``[PAD]`` keeps the
sequence's shape and positions (as in captum's BERT SQuAD tutorial).

Each method gives one value per token and per target (answer start, answer end):

- ``gradient`` (Simonyan et al., 2014, captum ``Saliency``): the L2 norm of d logit / d embedding.
- ``gradient_x_input`` (Shrikumar et al., 2016, captum ``InputXGradient``): the sum over the
  embedding dimension of gradient * embedding; signed.
- ``integrated_gradients`` (Sundararajan et al., 2017): signed, summed over the embedding dimension;
  the values add up to ``F(input) - F(baseline)`` up to the reported convergence delta.

**How integrated gradients is integrated, and why not with captum's ``IntegratedGradients``.** On
trained weights the integrand along the straight path is rough (mid-path it is several times the
size of the final map), so a fixed rule either wastes steps or misses the 1% mark. This module
refines instead, without throwing work away: nodes ``j / n`` on the path, ``n`` = 5, 10, 20, 40, 80
intervals (6, 11, 21, 41, 81 nodes), each level adding only the midpoints of the previous one; the
trapezoid rule with Gregory end corrections (exact for cubics); the two ends are nodes, so
``F(input)`` and ``F(baseline)`` come with the gradients. One forward pass per node serves both
targets (the start and the end logit's gradients from one batched backward). A level's error is
estimated on the map itself: ``c_k``, the relative L2 change from the previous level, and from the
third level ``2 c_k^2 / c_(k-1)``; a target has converged when that estimate is within the tolerance
(1%) AND its completeness delta is within 1% of ``|F(input) - F(baseline)|`` (or the float32 floor
of the outputs, never a fixed absolute amount, so a small difference cannot hide a large relative
error). captum computes one target per call and cannot add nodes to an earlier call's, so this is a
dozen lines of autograd instead. Measured on real MiniLM-L6 weights with a fitted QA head
(``core.fixtures.build_minilm_probe``): 21 nodes reached maps within 0.06-0.13% of a 256-step
reference where Gauss-Legendre 6 -> 12 -> 24 spent 84 evaluations (bench/bench_core.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import Saliency

from core.compute import fast_attention
from core.encoding import Window
from core.inputs import input_embeddings, window_tensors
from core.models import LoadedModel
from core.progress import ProgressCallback, report_progress
from core.types import TARGETS, Method, Target, TokenScores

IG_METHOD = "nested trapezoid, Gregory end corrections (5, 10, 20, 40, 80 intervals)"
IG_START_STEPS = 6
"""Nodes of the first level (5 intervals); each further level doubles the intervals: 6, 11, 21, 41, 81 nodes.
Starting at 6 stopped at 21 nodes on the trained probe's inputs; starting at 5 (5, 9, 17, 33) or 7 (7, 13, 25)
stopped at 33 or 25 for the same accuracy."""
IG_MAX_STEPS = 81
"""Most nodes spent on one window (levels beyond this are not started); a target still outside the tolerance
then ends with ``converged`` false."""
IG_TOLERANCE = 0.01
"""Relative error allowed on each map (estimated) and on completeness (of ``|F(input) - F(baseline)|``)."""
IG_SAFETY = 2.0
"""Factor on the error estimate ``c_k^2 / c_(k-1)``: for an error falling by a fixed ratio r per level the estimate is
2 (1 - r) times the true error, so at least the true error for r <= 1/2."""
IG_INTERNAL_BATCH = 16
"""Path points per forward pass (each gives both targets' gradients)."""
GREGORY_POINTS = 2
"""End corrections on the two nodes nearest each end of the path: order 4, exact for cubics."""
FLOAT32_FLOOR = 32 * float(np.finfo(np.float32).eps)
"""Completeness cannot be resolved below this share of the outputs' size: float32 rounding."""
BASELINE_DESCRIPTION = "question and context word embeddings replaced by the [PAD] embedding; special tokens kept"

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
    """Forward passes spent on this window so far (each one served both targets)."""


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


def target_index(window: Window, target: Target, start_token: int, end_token: int) -> int:
    """Column of ``QAForward``'s output for the answer's start or its last token."""
    return start_token if target == "start" else window.length + end_token - 1


def baseline_ids(loaded: LoadedModel, window: Window) -> list[int]:
    """The baseline sequence: every question and context token replaced by ``[PAD]``."""
    pad = loaded.tokenizer.pad_token_id
    if pad is None:
        pad = loaded.tokenizer.unk_token_id
    return [token if role == "special" else pad for token, role in zip(window.input_ids, window.roles, strict=True)]


def gradient_saliency(
    loaded: LoadedModel, window: Window, start_token: int, end_token: int
) -> dict[Method, dict[Target, TokenScores]]:
    """``gradient`` and ``gradient_x_input`` for both targets from one captum ``Saliency`` call.

    Both targets go in one batch of two copies of the input. ``gradient_x_input`` is the gradient
    times the input, exactly captum's ``InputXGradient``, without paying for the gradient twice.
    """
    embeddings = input_embeddings(loaded, window.input_ids)
    forward = QAForward(loaded, window)
    targets = [target_index(window, t, start_token, end_token) for t in ("start", "end")]
    # The copies already require gradients, so captum has nothing to switch on and no warning to print.
    both_targets = embeddings.expand(2, -1, -1).clone().requires_grad_()
    with fast_attention(loaded):
        gradients = Saliency(forward).attribute(both_targets, target=targets, abs=False)
    gradients = gradients.detach()
    norms = gradients.norm(dim=-1).cpu().numpy().astype(np.float32)
    times_input = (gradients * embeddings).sum(dim=-1).cpu().numpy().astype(np.float32)
    return {
        "gradient": {"start": norms[0], "end": norms[1]},
        "gradient_x_input": {"start": times_input[0], "end": times_input[1]},
    }


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
    forward: QAForward, baseline: torch.Tensor, difference: torch.Tensor, columns: list[int], alphas: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Integrand maps ``[nodes, 2, tokens]`` and outputs ``F [nodes, 2]`` of both targets, from one forward pass.

    Both gradients come from one backward over two one-hot output vectors (``is_grads_batched``).
    """
    steps = torch.tensor(alphas, dtype=baseline.dtype, device=baseline.device).view(-1, 1, 1)
    points = (baseline + steps * difference).requires_grad_()
    outputs = forward(points)[:, columns]
    one_hot = torch.eye(2, dtype=outputs.dtype, device=outputs.device).view(2, 1, 2).expand(2, len(alphas), 2)
    (gradients,) = torch.autograd.grad(outputs, points, grad_outputs=one_hot, is_grads_batched=True)
    maps = (gradients * difference).sum(-1).transpose(0, 1)
    return maps.detach().double().cpu().numpy(), outputs.detach().double().cpu().numpy()


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
    *,
    n_steps: int = IG_START_STEPS,
    max_steps: int = IG_MAX_STEPS,
    tolerance: float = IG_TOLERANCE,
    internal_batch_size: int = IG_INTERNAL_BATCH,
    progress: ProgressCallback | None = None,
    on_level: LevelCallback | None = None,
) -> dict[Target, IntegratedGradientsResult]:
    """Integrated gradients of the answer's start and end logits on one window (see the module docstring).

    Starts with ``n_steps`` nodes and refines until both targets converge or the next level would pass
    ``max_steps`` nodes (``n_steps == max_steps``: exactly one level, a fixed rule). ``progress`` hears
    every batch of nodes (raising from it stops the work there); ``on_level`` gets the results after
    each level, so a page can show the map before it is final.
    """
    if n_steps < 2 or max_steps < n_steps:
        raise ValueError("Integrated gradients needs 2 <= n_steps <= max_steps (the path's two ends are nodes).")
    if not 0 < tolerance < 1:
        raise ValueError("The integrated-gradients tolerance must lie between 0 and 1.")
    embeddings = input_embeddings(loaded, window.input_ids)
    baseline = input_embeddings(loaded, baseline_ids(loaded, window))
    difference = embeddings - baseline
    forward = QAForward(loaded, window)
    columns = [target_index(window, target, start_token, end_token) for target in TARGETS]
    intervals = n_steps - 1
    maps = np.zeros((0, 2, window.length))
    outputs = np.zeros((0, 2))
    changes: list[list[float]] = []
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
            for first in range(0, len(new_alphas), internal_batch_size):
                done = len(maps) + first
                report_progress(
                    progress, f"integrated_gradients: {done} of at most {max_steps} path points", done / max_steps
                )
                pieces.append(
                    _node_maps(forward, baseline, difference, columns, new_alphas[first : first + internal_batch_size])
                )
            new_maps = np.concatenate([piece[0] for piece in pieces])
            new_outputs = np.concatenate([piece[1] for piece in pieces])
            if len(maps) == 0:
                maps, outputs = new_maps, new_outputs
            else:  # old nodes at the even positions of the finer grid, new ones at the odd positions
                merged_maps = np.empty((intervals + 1, 2, window.length))
                merged_outputs = np.empty((intervals + 1, 2))
                merged_maps[0::2], merged_maps[1::2] = maps, new_maps
                merged_outputs[0::2], merged_outputs[1::2] = outputs, new_outputs
                maps, outputs = merged_maps, merged_outputs
            estimate = np.tensordot(gregory_weights(intervals), maps, axes=(0, 0))
            if previous is None:
                errors = [float("inf"), float("inf")]
            else:
                change = [_relative_change(estimate[i], previous[i]) for i in range(2)]
                errors = (
                    [IG_SAFETY * change[i] ** 2 / max(changes[-1][i], np.finfo(np.float64).tiny) for i in range(2)]
                    if changes
                    else change
                )
                changes.append(change)
            results = {}
            for index, target in enumerate(TARGETS):
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
