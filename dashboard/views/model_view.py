"""The model view: every layer x head as a small thumbnail; click one to look at it everywhere.

Why one image: 72 heads x 384 x 384 tokens is 10.6 million weights (bertviz's model view HTML
for that case is 479 MB). Each head's map is block-averaged to at most 32 x 32
(``core.attention.head_thumbnails``) and scaled to its own maximum, and all thumbnails are laid out
as one float32 image with a thin gap between them. The hover shows per-head figures, not pixels.
The current layer and head are outlined (the whole layer for "mean" and "rollout") and selected
tokens are marked as row and column bands inside every thumbnail; both are Bokeh annotations moved
in place, so a head switch or a selection sends a few numbers, never the image again.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
from bokeh.models import BoxAnnotation

from core import THUMBNAIL_SIZE, thumbnail_edges
from dashboard.labels import label
from dashboard.theme import ATTENTION_CMAP, SELECTION_COLOR
from dashboard.views.base import PlotView
from dashboard.views.plotting import add_strips, runs, set_strips

GAP_PIXELS = 2
HOVER_STATISTICS = {"to_special": "0.0%", "question_to_answer": "0.0%", "previous": "0.0%", "entropy": "0.00"}
"""Head statistics (``core.HEAD_STATISTICS``) the hover shows, and the format of each."""


def thumbnail_grid(thumbnails: np.ndarray, gap: int = GAP_PIXELS) -> np.ndarray:
    """``[layers, heads, n, n]`` thumbnails as one ``[layers*(n+gap), heads*(n+gap)]`` float32 image.

    Each thumbnail is scaled to its own maximum; gaps are NaN (drawn transparent). Layer 0 is the
    top row.
    """
    layers, heads, n, _ = thumbnails.shape
    peaks = thumbnails.max(axis=(2, 3), keepdims=True)
    scaled = np.divide(thumbnails, peaks, out=np.zeros_like(thumbnails), where=peaks > 0)
    grid = np.full((layers, n + gap, heads, n + gap), np.nan, dtype=np.float32)
    grid[:, :n, :, :n] = scaled.transpose(0, 2, 1, 3)
    return grid.reshape(layers * (n + gap), heads * (n + gap))


class ModelView(PlotView):
    """All heads of all layers at a glance; clicking a head selects that layer and head."""

    decorations_on = ("selection.tokens", "view.layer", "view.head")

    title = "Model view"
    stretch = False
    description = "Every layer × head (each scaled to its own maximum). Click a thumbnail to select it."

    def build(self) -> Any:
        explanation = self.state.result.require()
        layers, heads = explanation.num_layers, explanation.num_heads
        thumbnails = self.state.result.head_thumbnails(THUMBNAIL_SIZE)
        n = thumbnails.shape[-1]
        self.pixels_per_cell = n + GAP_PIXELS
        grid = thumbnail_grid(thumbnails)
        image = hv.Image(grid, bounds=(0, 0, heads, layers), kdims=["head", "layer"], vdims=["attention"])
        cell = int(np.clip(520 / heads, 38, 90))
        self.set_width(cell * heads + 110)
        summary = {name: self.state.result.head_statistics()[name] for name in HOVER_STATISTICS}
        cells = hv.Rectangles(
            {
                "x0": np.tile(np.arange(heads), layers).astype(float),
                "y0": np.repeat(layers - 1 - np.arange(layers), heads).astype(float),
                "x1": np.tile(np.arange(heads), layers) + 1.0,
                "y1": np.repeat(layers - np.arange(layers), heads).astype(float),
                "layer": np.repeat(np.arange(layers), heads),
                "head": np.tile(np.arange(heads), layers),
                **{name: values.ravel() for name, values in summary.items()},
            },
            kdims=["x0", "y0", "x1", "y1"],
            vdims=["layer", "head", *summary],
        ).opts(
            fill_alpha=0,
            line_alpha=0,
            hover_fill_alpha=0.15,
            hover_fill_color=SELECTION_COLOR,
            tools=["hover", "tap"],
            hover_tooltips=[
                ("layer", "@layer"),
                ("head", "@head"),
                *((label(name), f"@{name}{{{HOVER_STATISTICS[name]}}}") for name in HOVER_STATISTICS),
            ],
        )
        self.tap = hv.streams.Tap(source=cells, transient=True)
        self.tap.add_subscriber(self._on_tap)
        self.layers, self.heads = layers, heads
        self.image = image.opts(
            cmap=ATTENTION_CMAP,
            frame_width=cell * heads,
            frame_height=cell * layers,
            xticks=[(h + 0.5, str(h)) for h in range(heads)],
            yticks=[(layers - row - 0.5, str(row)) for row in range(layers)],
            xlabel="head",
            ylabel="layer",
            clipping_colors={"NaN": (0, 0, 0, 0)},
            show_grid=False,
            tools=[],
            default_tools=["save"],
            toolbar="right",
            title="",
            hooks=[self.decoration_hook],
        )
        return self.image * cells

    def decorate(self, plot: Any) -> dict[str, Any]:
        figure = plot.state
        current = BoxAnnotation(fill_alpha=0, line_color=SELECTION_COLOR, line_width=3, level="overlay")
        figure.add_layout(current)
        return {
            "current": current,
            "rows": add_strips(figure, "h", (0, self.heads), alpha=0.35),
            "columns": add_strips(figure, "v", (0, self.layers), alpha=0.35),
        }

    def update_decorations(self, handles: dict[str, Any], changed: set[str]) -> None:
        if changed & {"view.layer", "view.head"}:
            handles["current"].update(**self.current_box())
        if "selection.tokens" in changed:
            rows, columns = self.selection_bands()
            set_strips(handles["rows"], rows)
            set_strips(handles["columns"], columns)

    def current_box(self) -> dict[str, float]:
        """The outline of the current head (the whole layer row for "mean" and "rollout")."""
        top = float(self.layers - self.state.view.layer)
        head = self.state.view.head
        left, right = (0.0, float(self.heads)) if head in ("mean", "rollout") else (float(head), float(head) + 1)
        return {"left": left, "right": right, "bottom": top - 1, "top": top}

    def selection_bands(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Where the selected tokens' rows and columns fall inside every thumbnail (y and x extents)."""
        count = self.state.result.num_tokens
        edges = thumbnail_edges(count, THUMBNAIL_SIZE)
        rows, columns = [], []
        for first, last in runs(self.state.selection.positions()):
            # The thumbnail pixels whose blocks hold these tokens.
            start = (np.searchsorted(edges, first, side="right") - 1) / self.pixels_per_cell
            end = np.searchsorted(edges, last, side="right") / self.pixels_per_cell
            columns += [(h + start, h + end) for h in range(self.heads)]
            rows += [(self.layers - row - end, self.layers - row - start) for row in range(self.layers)]
        return rows, columns

    def _on_tap(self, x: float | None, y: float | None) -> None:
        if x is None or y is None:
            return
        layers, heads = self.layers, self.heads
        head, layer = int(np.floor(x)), layers - 1 - int(np.floor(y))
        if 0 <= head < heads and 0 <= layer < layers:
            self.state.view.param.update(layer=layer, head=head)
