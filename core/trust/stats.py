"""Rank correlation that is honest about undefined cases, and numbers that survive JSON.

Spearman's rho is undefined when either map is constant (a map of zeros, one word in common);
scipy then warns and returns NaN. Here the NaN comes without the warning, and JSON gets ``null``
for it (JSON has no NaN).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import spearmanr


def spearman(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Spearman's rho and its p-value, both NaN when either array is constant or shorter than 2."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if len(a) < 2 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan"), float("nan")
    result = spearmanr(a, b)
    return float(result.statistic), float(result.pvalue)


def json_float(value: float) -> float | None:
    """``value`` as a JSON number, ``None`` for NaN."""
    return None if math.isnan(value) else float(value)


__all__ = ["json_float", "spearman"]
