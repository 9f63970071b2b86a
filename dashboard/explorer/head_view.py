"""The head view: lines from each token (left) to the tokens it attends to (right).

Line opacity and width follow the attention weight. To stay light at 384 tokens, only each
token's strongest links are drawn; with a selection, the selected tokens' outgoing and incoming
links (see ``core.attention.head_links``). Tap or box-select tokens on either column to select.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np

from dashboard.theme import ROLE_PALETTE, SELECTION_COLOR
from dashboard.views.plot_view import PlotView
from dashboard.views.plotting import DEFAULT_TOOLS, label_token_axes, role_codes, set_selected

LINE_COLOR = "#3b6fb6"


class HeadView(PlotView):
    """Attention as lines between two columns of the window's tokens, for the current layer and head."""

    title = "Head view"
    stretch = False
    description = "Left: tokens attending; right: tokens attended to. Tap or box-select tokens to follow them."

    def build(self) -> Any:
        count = self.state.result.num_tokens
        self.lines = self.dynamic(self._lines, "view.layer", "view.head", "selection.tokens")
        self.tokens = self._points()
        self.selection = hv.streams.Selection1D(source=self.tokens)
        self.selection.add_subscriber(self._on_select)
        self.follow(("view.layer", "view.head"), self._caption)
        height = int(min(620, max(240, 16 * count)))
        self.set_width(200 + 240)  # frame, token labels on both sides, toolbar
        return (self.lines * self.tokens).opts(
            hv.opts.Points(
                frame_width=200,
                frame_height=height,
                invert_yaxis=True,
                xaxis=None,
                ylabel="",
                xlim=(-0.15, 1.15),
                ylim=(-0.5, count - 0.5),
                hooks=[self.decoration_hook],
                show_grid=False,
                default_tools=DEFAULT_TOOLS,
                active_tools=["wheel_zoom"],
            ),
        )

    def _lines(self, layer: int, head: Any, tokens: list[int]) -> hv.Segments:
        links = self.state.head_links()
        weight = links["weight"]
        # Relative to the strongest link, but never to less than 0.25: spread-out attention (every
        # weight near 1/tokens) then draws faint lines instead of a wall of thick ones.
        peak = max(float(weight.max()) if len(weight) else 0.0, 0.25)
        scaled = weight / peak
        data = {
            "x0": np.zeros(len(weight)),
            "y0": links["source"].astype(float),
            "x1": np.ones(len(weight)),
            "y1": links["target"].astype(float),
            "weight": weight,
            "alpha": 0.05 + 0.8 * scaled**1.5,
            "width": 0.5 + 3.0 * scaled,
            "highlight": links["selected"].astype(np.float64),
        }
        segments = hv.Segments(data, kdims=["x0", "y0", "x1", "y1"], vdims=["weight", "alpha", "width", "highlight"])
        return segments.opts(
            color="highlight",
            cmap=[LINE_COLOR, SELECTION_COLOR],
            color_levels=2,
            clim=(-0.5, 1.5),
            colorbar=False,
            alpha="alpha",
            line_width="width",
            tools=["hover"],
            hover_tooltips=[("from", "@y0{custom}"), ("to", "@y1{custom}"), ("attention", "@weight{0.0000}")],
        )

    def _caption(self) -> None:
        self.set_caption(self.state.view.attention_title())

    def decorate(self, plot: Any) -> dict[str, Any]:
        label_token_axes(
            plot,
            self.state,
            axes=("y",),
            hover_fields=("@y0", "@y1", "@position"),
            right_axis=True,
            pixels_per_label=13,
        )
        return {"source": plot.handles["source"]}

    def update_decorations(self, handles: dict[str, Any], changed: set[str]) -> None:
        selection = self.state.selection.positions()
        set_selected(handles["source"], [*selection, *(selection + self.state.result.num_tokens)])

    def _points(self) -> hv.Points:
        count = self.state.result.num_tokens
        position = np.arange(count)
        codes = role_codes(self.state).astype(np.float64)
        data = {
            "x": np.r_[np.zeros(count), np.ones(count)],
            "y": np.r_[position, position].astype(float),
            "position": np.r_[position, position],
            "kind": np.r_[codes, codes],
        }
        points = hv.Points(data, kdims=["x", "y"], vdims=["position", "kind"])
        return points.opts(
            color="kind",
            cmap=ROLE_PALETTE,
            color_levels=len(ROLE_PALETTE),
            clim=(-0.5, len(ROLE_PALETTE) - 0.5),
            colorbar=False,
            size=7,
            line_color="white",
            selection_color=SELECTION_COLOR,
            selection_line_color="black",
            nonselection_alpha=0.35,
            tools=["hover", "tap", "box_select"],
            hover_tooltips=[("token", "@position{custom}")],
        )

    def _on_select(self, index: list[int]) -> None:
        count = self.state.result.num_tokens
        self.state.select({int(i) % count for i in index})
