"""Every saliency method and target against every token: which methods agree on which tokens.

Rows are method x target, columns token positions. Each row is scaled to its largest |score|
(methods have different units) on one diverging scale; rows still being computed are grey. The row
of the method and target on show elsewhere is outlined.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
from bokeh.models import BoxAnnotation

from dashboard.labels import label
from dashboard.theme import SALIENCY_CMAP, SELECTION_COLOR
from dashboard.views.plot_view import PlotView
from dashboard.views.plotting import DEFAULT_TOOLS, label_token_axes, set_selected


class SaliencyHeatmap(PlotView):
    """Tokens against saliency method x target, each row scaled to its largest |score|."""

    title = "Saliency: all methods"
    description = "Each row scaled to its largest |score|; grey: not computed yet. Tap or box-select to select tokens."
    decorations_on = ("selection.tokens", "view.method", "view.target")
    rebuild_on = ("result.result_id", "result.saliency_revision")

    def build(self) -> Any:
        rows = self.state.result.saliency_rows()
        self.cells = self.dynamic(self._cells, "result.saliency_revision", "view.scale_without_special")
        self.selection = hv.streams.Selection1D(source=self.cells)
        self.selection.add_subscriber(self._on_select)
        ticks = [(index + 0.5, self.row_label(method, target)) for index, (method, target) in enumerate(rows)]
        return self.cells.opts(
            color="scaled",
            cmap=SALIENCY_CMAP,
            clim=(-1, 1),
            colorbar=True,
            clipping_colors={"NaN": "#e6e6e6"},
            line_alpha=0,
            selection_line_color="black",
            selection_line_alpha=1,
            nonselection_alpha=0.45,
            tools=["hover", "tap", "box_select"],
            active_tools=["box_select"],
            hover_tooltips=[
                ("token", "@position{custom}"),
                ("method", "@row"),
                ("score", "@score{0.0000}"),
                ("scaled", "@scaled{0.00}"),
            ],
            responsive=True,
            height=70 + 26 * len(rows),
            yticks=ticks,
            invert_yaxis=True,
            xrotation=90,
            xlabel="token",
            ylabel="",
            xlim=(-0.5, self.state.result.num_tokens - 0.5),
            ylim=(0, len(rows)),
            show_grid=False,
            default_tools=DEFAULT_TOOLS,
            hooks=[self.decoration_hook],
        )

    @staticmethod
    def row_label(method: str, target: str) -> str:
        return f"{label(method)} · {label(target).replace('answer ', '')}"

    def _cells(self, saliency_revision: int, scale_without_special: bool) -> hv.Rectangles:
        raw, normalised = self.state.result.saliency_matrix(scale_without_special)
        rows = self.state.result.saliency_rows()
        count = self.state.result.num_tokens
        row_index = np.repeat(np.arange(len(rows)), count)
        positions = np.tile(np.arange(count), len(rows))
        data = {
            "x0": positions - 0.5,
            "y0": row_index.astype(float),
            "x1": positions + 0.5,
            "y1": row_index + 1.0,
            "scaled": normalised.ravel(),
            "score": raw.ravel(),
            "position": positions,
            "row": np.array([self.row_label(*rows[r]) for r in row_index], dtype=object),
        }
        return hv.Rectangles(data, kdims=["x0", "y0", "x1", "y1"], vdims=["scaled", "score", "position", "row"])

    def decorate(self, plot: Any) -> dict[str, Any]:
        label_token_axes(plot, self.state, hover_fields=("@position",), pixels_per_label=11)
        outline = BoxAnnotation(fill_alpha=0, line_color=SELECTION_COLOR, line_width=2, level="overlay")
        plot.state.add_layout(outline)
        return {"source": plot.handles["source"], "outline": outline}

    def update_decorations(self, handles: dict[str, Any], changed: set[str]) -> None:
        count = self.state.result.num_tokens
        rows = self.state.result.saliency_rows()
        if "selection.tokens" in changed:
            selection = self.state.selection.positions()
            set_selected(handles["source"], [row * count + int(p) for row in range(len(rows)) for p in selection])
        if changed & {"view.method", "view.target"}:
            shown = (self.state.view.method, self.state.view.target)
            index = rows.index(shown) if shown in rows else -10  # not computed: no row to outline
            handles["outline"].update(bottom=index, top=index + 1)

    def _on_select(self, index: list[int]) -> None:
        count = self.state.result.num_tokens
        self.state.select({int(i) % count for i in index})
