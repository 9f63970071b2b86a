"""The Dataset page's filters written in the slice language, so one parser and one mask serve them all.

Why: the page's filters (wrong answers only, a title, F1 and score ranges, a search, a box on a scatter, the
unconverged integrated-gradients rows) and a typed slice expression must select the same rows whether they are
applied on the page or saved as a named slice (``core.dataset.save_slice``) and opened after a restart. Writing
the filters as an expression (``quote``, ``column_name``) and applying that one expression
(``core.dataset.slice_mask``) makes them the same by construction.

A bound is written as the shortest decimal within the filter's tolerance on the side that keeps every row at the
bound itself (a lower bound rounds down, an upper one up), so a range that starts at an example's own score keeps
that example. A slider's float noise (``0.35000000000000003``, a few units in the last place off a short decimal)
is written as the short decimal (``0.35``) either way, so a saved slice reads as a person would write it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

F1_TOLERANCE = 1e-9
SCORE_TOLERANCE = 1e-12
SEARCHED_COLUMNS: tuple[str, ...] = ("id", "question", "prediction")
"""What the search box looks in (case-insensitive)."""


@dataclass(frozen=True)
class Filters:
    """The page's filters, as plain values (the state's parameters at one moment)."""

    wrong_only: bool = False
    title: str | None = None
    f1_range: tuple[float, float] = (0.0, 1.0)
    score_range: tuple[float, float] = (0.0, 1.0)
    search: str = ""
    box: dict[str, Any] | None = None
    unconverged_only: bool = False


NOISE_DIGITS = 6
"""A decimal of at most this many significant digits, a few units in the last place away, is a slider's value."""


def bound(value: float, lower: bool, tolerance: float) -> float:
    """The shortest decimal for a bound at ``value``: on the inclusive side within ``tolerance``, or float noise."""
    value = float(value)
    noise = 4 * math.ulp(value)
    for digits in range(1, 18):
        candidate = float(f"{value:.{digits}g}")
        inclusive = value - tolerance <= candidate <= value if lower else value <= candidate <= value + tolerance
        if inclusive or (digits <= NOISE_DIGITS and abs(candidate - value) <= noise):
            return candidate
    return value


def _number(value: float) -> str:
    from core.dataset import quote

    return quote(int(value)) if float(value).is_integer() else quote(float(value))


def _range(column: str, values: Sequence[float], tolerance: float) -> str | None:
    """An F1 or score range; a question the model could not run on has neither, so it passes (as before)."""
    from core.dataset import column_name

    low, high = (float(v) for v in values)
    if low <= 0.0 and high >= 1.0:
        return None
    tests = []
    if low > 0.0:
        tests.append(f"{column_name(column)} >= {_number(bound(low, True, tolerance))}")
    if high < 1.0:
        tests.append(f"{column_name(column)} <= {_number(bound(high, False, tolerance))}")
    return f"(error is not null or {' and '.join(tests)})"


def filters_expression(filters: Filters) -> str:
    """The filters as one slice expression ("" when none is set)."""
    from core.dataset import column_name, quote

    parts: list[str] = []
    if filters.wrong_only:
        parts.append("correct == false and error is null")
    if filters.unconverged_only:
        parts.append("ig_converged == false")
    if filters.title is not None:
        parts.append(f"title == {quote(filters.title)}")
    for column, values, tolerance in (
        ("f1", filters.f1_range, F1_TOLERANCE),
        ("score", filters.score_range, SCORE_TOLERANCE),
    ):
        part = _range(column, values, tolerance)
        if part:
            parts.append(part)
    needle = filters.search.strip()
    if needle:
        parts.append("(" + " or ".join(f"{column} contains {quote(needle)}" for column in SEARCHED_COLUMNS) + ")")
    if filters.box:
        x0, y0, x1, y1 = (float(value) for value in filters.box["bounds"])
        for column, low, high in (
            (filters.box["x"], min(x0, x1), max(x0, x1)),
            (filters.box["y"], min(y0, y1), max(y0, y1)),
        ):
            name = column_name(str(column))
            parts.append(f"{name} >= {_number(low)} and {name} <= {_number(high)}")
    return " and ".join(parts)


def combined(*expressions: str) -> str:
    """Expressions and-ed, each in brackets when it has more than one test ("" when all are empty)."""
    present = [expression.strip() for expression in expressions if expression and expression.strip()]
    if len(present) == 1:
        return present[0]
    return " and ".join(f"({expression})" for expression in present)


__all__ = [
    "F1_TOLERANCE",
    "NOISE_DIGITS",
    "SCORE_TOLERANCE",
    "SEARCHED_COLUMNS",
    "Filters",
    "bound",
    "combined",
    "filters_expression",
]
