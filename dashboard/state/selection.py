"""The token selection every view shares: token positions in the explained window.

A token is identified by its position, never by its string (``the`` and ``[SEP]`` occur many
times). Any view may change the selection; every view highlights it.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import param

MODES = ("replace", "add", "remove", "toggle")


class Selection(param.Parameterized):
    """Selected token positions, kept sorted, unique and inside the window."""

    tokens = param.List(
        default=[],
        item_type=int,
        doc="Selected token positions (in the explained window). Every view highlights these; any view may set them.",
    )
    count = param.Integer(default=0, bounds=(0, None), doc="Tokens in the explained window (positions are below it).")

    def select(self, positions: Iterable[int], mode: str = "replace") -> None:
        """Change the selection: ``mode`` is ``replace``, ``add``, ``remove`` or ``toggle``."""
        new = {int(p) for p in positions if 0 <= int(p) < self.count}
        old = set(self.tokens)
        if mode == "replace":
            result = new
        elif mode == "add":
            result = old | new
        elif mode == "remove":
            result = old - new
        elif mode == "toggle":
            result = old ^ new
        else:
            raise ValueError(f"Unknown selection mode {mode!r}; use one of {', '.join(MODES)}.")
        self.tokens = sorted(result)

    def toggle(self, position: int) -> None:
        """Add a token to the selection, or remove it if it is selected."""
        self.select([position], mode="toggle")

    def select_between(self, low: float, high: float, mode: str = "replace") -> None:
        """Select the tokens whose centre lies in ``[low, high]`` on a position axis (a box select)."""
        self.select(positions_between(low, high, self.count), mode=mode)

    def clear(self) -> None:
        self.tokens = []

    def reset(self, count: int) -> None:
        """A new window is on show: ``count`` tokens, nothing selected."""
        self.param.update(tokens=[], count=count)

    def positions(self) -> np.ndarray:
        """The selected positions that exist in the current window, sorted, as an int array."""
        return np.array(sorted({p for p in self.tokens if 0 <= p < self.count}), dtype=np.int64)

    def mask(self) -> np.ndarray:
        """``[tokens]`` booleans, true at the selected positions."""
        mask = np.zeros(self.count, dtype=bool)
        mask[self.positions()] = True
        return mask


def positions_between(low: float, high: float, count: int) -> range:
    """Positions whose centre lies in ``[low, high]``; the nearest one when the interval falls
    inside a single token's cell."""
    low, high = sorted((float(low), float(high)))
    first, last = int(np.ceil(low)), int(np.floor(high))
    if first > last:
        first = last = int(np.floor((low + high) / 2 + 0.5))
    return range(max(first, 0), min(last, count - 1) + 1)


__all__ = ["MODES", "Selection", "positions_between"]
