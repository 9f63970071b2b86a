"""The model view: every layer x head as a small thumbnail; click one to look at it everywhere.

Why one image: 72 heads x 384 x 384 tokens is 10.6 million weights (bertviz's model view HTML
for that case is 479 MB). Each head's map is block-averaged to at most 32 x 32
(``core.attention.head_thumbnails``) and scaled to its own maximum, and all thumbnails are laid out
as one float32 image with a thin gap between them. The hover shows per-head figures, not pixels.
The grid, its click and the outline of the current layer and head (the whole layer for "mean" and
"rollout") are ``HeadGrid``'s, as in head importance and the head atlas; selected tokens are marked as
row and column bands inside every thumbnail. Both are Bokeh annotations moved in place, so a head
switch or a selection sends a few numbers, never the image again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from core import THUMBNAIL_SIZE, thumbnail_edges
from dashboard.labels import label
from dashboard.theme import ATTENTION_CMAP, SELECTION_COLOR
from dashboard.views.head_grid import HeadGrid
from dashboard.views.plot_view import PlotView
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
        self.grid = HeadGrid(self.state, explanation.num_layers, explanation.num_heads)
        thumbnails = self.state.result.head_thumbnails(THUMBNAIL_SIZE)
        self.pixels_per_cell = thumbnails.shape[-1] + GAP_PIXELS
        cell = self.grid.cell_pixels(520, 38, 90)
        self.set_width(cell * self.grid.heads + 110)
        statistics = self.state.result.head_statistics()
        cells = self.grid.cells({name: statistics[name] for name in HOVER_STATISTICS}).opts(
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
        self.tap = self.grid.listen(cells)
        self.image = self.grid.image(thumbnail_grid(thumbnails), vdims=["attention"]).opts(
            cmap=ATTENTION_CMAP,
            **self.grid.frame_options(cell),
            **self.grid.axis_options(),
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
        return {
            "current": self.grid.add_outline(figure),
            "rows": add_strips(figure, "h", (0, self.grid.heads), alpha=0.35),
            "columns": add_strips(figure, "v", (0, self.grid.layers), alpha=0.35),
        }

    def update_decorations(self, handles: dict[str, Any], changed: set[str]) -> None:
        if changed & {"view.layer", "view.head"}:
            self.grid.move_outline(handles["current"])
        if "selection.tokens" in changed:
            rows, columns = self.selection_bands()
            set_strips(handles["rows"], rows)
            set_strips(handles["columns"], columns)

    def selection_bands(self) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
        """Where the selected tokens' rows and columns fall inside every thumbnail (y and x extents)."""
        count = self.state.result.num_tokens
        edges = thumbnail_edges(count, THUMBNAIL_SIZE)
        layers, heads = self.grid.layers, self.grid.heads
        rows, columns = [], []
        for first, last in runs(self.state.selection.positions()):
            # The thumbnail pixels whose blocks hold these tokens.
            start = (np.searchsorted(edges, first, side="right") - 1) / self.pixels_per_cell
            end = np.searchsorted(edges, last, side="right") / self.pixels_per_cell
            columns += [(h + start, h + end) for h in range(heads)]
            rows += [(layers - row - end, layers - row - start) for row in range(layers)]
        return rows, columns
