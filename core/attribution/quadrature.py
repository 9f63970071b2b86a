"""Integrated gradients' quadrature: the rule's weights, its order, and how a level's error is estimated.

The path integral ``∫_0^1 dF/dx(x' + a (x - x')) · (x - x') da`` is sampled at nodes ``j / n`` (``n`` = 5, 10,
20, 40, 80 intervals: 6, 11, 21, 41, 81 nodes, each level adding only the midpoints of the previous one) and
summed with the trapezoid rule plus Gregory end corrections on the ``GREGORY_POINTS`` nodes nearest each end.

**The rule's order.** Symmetric corrections on ``k`` nodes per end integrate polynomials up to degree ``2k - 1``
exactly, but a composite rule's order is set by how well its end corrections cancel the trapezoid's
Euler-Maclaurin terms: with ``k`` nodes the error falls as ``h^(k+1)`` (measured on exp, 1/(1+x) and sin(3x):
``k = 2`` gives order 3, halving the intervals divides the error by ~8; ``k = 3`` order 4, by 9.7, 13, 14.6,
15.3 from 5 to 80 intervals, with errors 100-400x smaller). This module uses ``k = 3`` and claims order 4;
``tests/test_core_saliency.py`` measures the observed order.

A level's error is estimated on the map itself from ``c_k``, the relative L2 change from the previous level:
at the second level by ``c_k`` itself (the integrand is still under-resolved there; the true error measured
0.05-0.4x ``c_2``), from the third level on by Richardson's estimate for a rule of order ``IG_RULE_ORDER``,
``c_k / (2^order - 1)``, times ``IG_SAFETY`` for levels not yet in the asymptotic regime
(bench/bench_ig_levels.py measures every level's true error on trained weights). A target has converged
when that estimate is within the tolerance (1%) AND its completeness delta is within 1% of
``|F(input) - F(baseline)|`` (or the float32 floor of the outputs, never a fixed absolute amount, so a
small difference cannot hide a large relative error).
"""

from __future__ import annotations

import numpy as np

IG_TOLERANCE = 0.01
"""Relative error allowed on each map (estimated) and on completeness (of ``|F(input) - F(baseline)|``)."""
GREGORY_POINTS = 3
"""End corrections on the three nodes nearest each end of the path: order 4 (``h^4``), exact up to degree 5."""
IG_RULE_ORDER = GREGORY_POINTS + 1
"""The order of the trapezoid rule with Gregory end corrections on ``GREGORY_POINTS`` nodes per end (4): halving
the intervals divides its error by 2^4 in the limit (by 13 to 15 at the levels used)."""
IG_SAFETY = 3.0
"""Factor on Richardson's error estimate ``c_k / (2^4 - 1)``, for levels not yet in the asymptotic regime. Measured
on the fine-tuned MiniLM-L6 (bench/bench_ig_levels.py --squad 12: 3 bundled inputs, 12 SQuAD dev questions; the
true error against a 256-step reference): the largest true error / (c_k / 15) among errors above 1e-4 was 2.63
(41 nodes), 1.94 among those above 1e-3, where stopping is decided. 3.0 covers every level measured; on those
15 inputs it stops where 2.5 did (10 at 21 nodes, 5 at 41)."""
IG_RICHARDSON_LEVEL = 3
"""The first level estimated by Richardson (level 2's change compares 6 with 11 nodes: both under-resolved)."""
FLOAT32_FLOOR = 32 * float(np.finfo(np.float32).eps)
"""Completeness cannot be resolved below this share of the outputs' size: float32 rounding."""


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


def completeness_met(
    delta: float, output_difference: float, outputs: tuple[float, float], tolerance: float = IG_TOLERANCE
) -> bool:
    """Whether ``sum(map) - (F(x) - F(x'))`` is within ``tolerance`` of ``|F(x) - F(x')|``.

    Relative, never a fixed absolute amount (a small difference must not hide a large relative error),
    down to float32's own resolution of the two outputs, below which a delta is rounding.
    """
    floor = FLOAT32_FLOOR * max(abs(outputs[0]), abs(outputs[1]))
    return abs(delta) <= max(tolerance * abs(output_difference), floor)


def relative_change(new: np.ndarray, old: np.ndarray) -> float:
    scale = float(np.linalg.norm(new))
    change = float(np.linalg.norm(new - old))
    return 0.0 if change == 0.0 else change / max(scale, np.finfo(np.float64).tiny)


__all__ = [
    "FLOAT32_FLOOR",
    "GREGORY_POINTS",
    "IG_RICHARDSON_LEVEL",
    "IG_RULE_ORDER",
    "IG_SAFETY",
    "IG_TOLERANCE",
    "completeness_met",
    "gregory_weights",
    "level_error",
    "relative_change",
]
