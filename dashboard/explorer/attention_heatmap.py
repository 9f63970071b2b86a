"""Token-to-token attention for the chosen layer and head, as one image keyed by position.

An ``hv.Image`` (not a HeatMap of rectangles): a layer or head switch sends one ``[T, T]`` float32
array and nothing else, and the figure, its zoom and its axes stay as they are. Rows are the
tokens attending (query, top to bottom), columns the tokens attended to (key). Selected tokens
are shaded as row and column bands (Bokeh strips changed in place). Tap a cell to select its two
tokens; box-select to select the tokens the box spans on either axis.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np

from dashboard.state import positions_between
from dashboard.theme import ATTENTION_CMAP
from dashboard.views.plot_view import PlotView
from dashboard.views.plotting import DEFAULT_TOOLS, add_strips, label_token_axes, set_strips, token_spans

SIZE = 380


class AttentionHeatmap(PlotView):
    """Attention from each token (rows) to each token (columns) for the current layer and head."""

    title = "Attention"
    stretch = False
    description = "Rows attend to columns. Tap a cell or box-select to select tokens; scroll to zoom."
    rebuild_on = ("result.result_id", "view.color_scale")

    def build(self) -> Any:
        count = self.state.result.num_tokens
        self.set_width(SIZE + 215)  # frame, token labels, colour bar, toolbar
        self.image = self.dynamic(self._image, "view.layer", "view.head")
        self.tap = hv.streams.Tap(source=self.image, transient=True)
        self.tap.add_subscriber(self._on_tap)
        self.box = hv.streams.BoundsXY(source=self.image, transient=True)
        self.box.add_subscriber(self._on_box)
        self.follow(("view.layer", "view.head"), self._caption)
        return self.image.opts(
            cmap=ATTENTION_CMAP,
            cnorm=self.state.view.color_scale,
            colorbar=True,
            frame_width=SIZE,
            frame_height=SIZE,
            invert_yaxis=True,
            xrotation=90,
            xlabel="attended to (key)",
            ylabel="attending (query)",
            title="",
            tools=["hover", "tap", "box_select"],
            default_tools=DEFAULT_TOOLS,
            active_tools=["wheel_zoom"],
            hover_tooltips=[("from", "$y{custom}"), ("to", "$x{custom}"), ("attention", "@image{0.0000}")],
            hooks=[self.decoration_hook],
            xlim=(-0.5, count - 0.5),
            ylim=(-0.5, count - 0.5),
        )

    def _image(self, layer: int, head: Any) -> hv.Image:
        attention = self.state.attention_map()
        count = attention.shape[0]
        high = float(attention.max()) or 1.0
        low = 0.0
        if self.state.view.color_scale == "log":
            positive = attention[attention > 0]
            low = max(float(positive.min()), high * 1e-6) if positive.size else high * 1e-6
        # Gridded (xs, ys, z): row i sits at y = i, shown at the top by the inverted y axis. The value
        # dimension's range is the colour range, so each head uses its full colour scale.
        return hv.Image(
            (np.arange(count), np.arange(count), attention),
            kdims=["key", "query"],
            vdims=[hv.Dimension("attention", range=(low, high))],
        )

    def _caption(self) -> None:
        self.set_caption(self.state.view.attention_title())

    def decorate(self, plot: Any) -> dict[str, Any]:
        label_token_axes(plot, self.state, axes=("x", "y"), hover_fields=("$x", "$y"), pixels_per_label=12)
        across = (-0.5, self.state.result.num_tokens - 0.5)
        return {"rows": add_strips(plot.state, "h", across), "columns": add_strips(plot.state, "v", across)}

    def update_decorations(self, handles: dict[str, Any], changed: set[str]) -> None:
        spans = token_spans(self.state.selection.positions())
        set_strips(handles["rows"], spans)
        set_strips(handles["columns"], spans)

    def _on_tap(self, x: float | None, y: float | None) -> None:
        if x is None or y is None:
            return
        self.state.select({int(round(x)), int(round(y))})

    def _on_box(self, bounds: tuple[float, float, float, float] | None) -> None:
        if bounds is None:
            return
        left, bottom, right, top = bounds
        count = self.state.result.num_tokens
        columns = positions_between(left, right, count)
        rows = positions_between(bottom, top, count)
        self.state.select(set(columns) | set(rows))
