"""``HeadGrid``: one layer x head grid for every view that shows a value per head.

The model view (thumbnails), head importance and the dataset page's head atlas all draw one cell
per layer and head, and in all three a click looks at that head everywhere and the current head is
outlined (the whole layer's row for "mean" and "rollout"). This component owns what they share:

- the geometry: cell ``(layer, head)`` spans x in ``[head, head + 1]`` and y in
  ``[layers - 1 - layer, layers - layer]``, so layer 0 is the top row; an image's row 0 is layer 0;
- the tap: a point in the grid -> ``(layer, head)`` -> ``picked(layer, head)`` (by default the
  state's layer and head);
- the outline of the current head: a Bokeh annotation moved in place, never a redraw.

The views give it their values (``image``, ``cells``) and keep their own colours and hovers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import holoviews as hv
import numpy as np
from bokeh.models import BoxAnnotation

from dashboard.state import ExplorerState
from dashboard.state.view import HEAD_MODES
from dashboard.theme import SELECTION_COLOR

Picked = Callable[[int, int], None]


class HeadGrid:
    """Where each of ``layers`` x ``heads`` cells sits, which one a tap hits, and the current head's outline."""

    def __init__(self, state: ExplorerState, layers: int, heads: int, picked: Picked | None = None) -> None:
        self.state = state
        self.layers = int(layers)
        self.heads = int(heads)
        self.picked = picked or self.look_at

    # ------------------------------------------------------------------ geometry

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """``(left, bottom, right, top)`` of the whole grid: one unit per head and per layer."""
        return (0, 0, self.heads, self.layers)

    def image(self, values: np.ndarray, vdims: Any) -> hv.Image:
        """``values`` over the grid; row 0 is layer 0 (the top). A finer array (thumbnail pixels) fills each cell."""
        return hv.Image(np.asarray(values), bounds=self.bounds, kdims=["head", "layer"], vdims=vdims)

    def cells(self, columns: Mapping[str, np.ndarray]) -> hv.Rectangles:
        """One rectangle per cell, with ``layer``, ``head`` and each ``[layers, heads]`` array of ``columns``."""
        layer = np.repeat(np.arange(self.layers), self.heads)
        head = np.tile(np.arange(self.heads), self.layers)
        data = {
            "x0": head.astype(float),
            "y0": (self.layers - 1 - layer).astype(float),
            "x1": head + 1.0,
            "y1": (self.layers - layer).astype(float),
            "layer": layer,
            "head": head,
            **{name: np.asarray(values).ravel() for name, values in columns.items()},
        }
        return hv.Rectangles(data, kdims=["x0", "y0", "x1", "y1"], vdims=["layer", "head", *columns])

    def axis_options(self) -> dict[str, Any]:
        """Ticks at every head and layer (layer 0 at the top), and the axis names."""
        return {
            "xticks": [(head + 0.5, str(head)) for head in range(self.heads)],
            "yticks": [(self.layers - layer - 0.5, str(layer)) for layer in range(self.layers)],
            "xlabel": "head",
            "ylabel": "layer",
        }

    def cell_pixels(self, budget: int, smallest: int, largest: int) -> int:
        """The side of a square cell when ``budget`` pixels are shared by the heads, within ``[smallest, largest]``."""
        return int(np.clip(budget / max(self.heads, 1), smallest, largest))

    def frame_options(self, cell: int) -> dict[str, int]:
        """A frame of square cells ``cell`` pixels wide."""
        return {"frame_width": cell * self.heads, "frame_height": cell * self.layers}

    # ------------------------------------------------------------------ the tap

    def cell_at(self, x: float | None, y: float | None) -> tuple[int, int] | None:
        """``(layer, head)`` of the cell at ``(x, y)``, or None outside the grid."""
        if x is None or y is None:
            return None
        head, layer = int(np.floor(x)), self.layers - 1 - int(np.floor(y))
        if 0 <= head < self.heads and 0 <= layer < self.layers:
            return layer, head
        return None

    def pick(self, x: float | None = None, y: float | None = None) -> None:
        """A tap at ``(x, y)``: hand that cell's layer and head to ``picked``."""
        cell = self.cell_at(x, y)
        if cell is not None:
            self.picked(*cell)

    def listen(self, source: Any) -> hv.streams.Tap:
        """A tap stream on ``source`` (an element or DynamicMap drawn over the grid) that picks the tapped cell."""
        tap = hv.streams.Tap(source=source, transient=True)
        tap.add_subscriber(self.pick)
        return tap

    def look_at(self, layer: int, head: int) -> None:
        """The default pick: that layer and head, for every view of the page."""
        self.state.update(layer=layer, head=head)

    # ------------------------------------------------------------------ the current head

    def current_box(self) -> dict[str, float] | None:
        """The outline of the current head (its layer's whole row for "mean" and "rollout"); None off the grid."""
        layer, head = self.state.view.layer, self.state.view.head
        whole_row = head in HEAD_MODES
        if not 0 <= layer < self.layers or not (whole_row or 0 <= int(head) < self.heads):
            return None
        top = float(self.layers - layer)
        left, right = (0.0, float(self.heads)) if whole_row else (float(head), float(head) + 1)
        return {"left": left, "right": right, "bottom": top - 1, "top": top}

    def add_outline(self, figure: Any) -> BoxAnnotation:
        """Add the current head's outline to a rendered figure (move it with ``move_outline``)."""
        outline = BoxAnnotation(fill_alpha=0, line_color=SELECTION_COLOR, line_width=3, level="overlay")
        figure.add_layout(outline)
        self.move_outline(outline)
        return outline

    def move_outline(self, outline: BoxAnnotation) -> None:
        """Put the outline on the current head, in place (a few numbers to the browser, no redraw)."""
        box = self.current_box()
        if box is None:
            outline.visible = False
            return
        outline.update(visible=True, **box)


__all__ = ["HeadGrid", "Picked"]
