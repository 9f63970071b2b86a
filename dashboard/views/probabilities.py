"""Start and end probabilities per token, as two bar charts sharing the token axis."""

from __future__ import annotations

from typing import Any

import holoviews as hv

from dashboard.views.common import (
    PlotView,
    add_answer_box,
    label_token_axes,
    position_axis_opts,
    set_selected,
    token_bars,
)


class ProbabilityBars(PlotView):
    """P(answer starts here) and P(answer ends here) for every token of the window."""

    title = "Start and end probabilities"
    description = "Softmax over the window. Green band: the answer. Tap or box-select bars to select tokens."

    def build(self) -> Any:
        explanation = self.state.explanation
        self.selections: dict[str, hv.streams.Selection1D] = {}
        self.bars: dict[str, hv.Rectangles] = {}
        charts = []
        for which, values in (("start", explanation.start_probs), ("end", explanation.end_probs)):
            bars = token_bars(self.state, values, f"P({which})").opts(
                **position_axis_opts(self.state, height=190, ylabel=f"P({which})", title=f"P(answer {which}s here)"),
                yformatter="%.2g",
                hooks=[self.decoration_hook],
            )
            stream = hv.streams.Selection1D(source=bars)
            stream.add_subscriber(self._on_select)
            self.selections[which] = stream
            self.bars[which] = bars
            charts.append(bars)
        return hv.Layout(charts).cols(1).opts(shared_axes=True)

    def decorate(self, plot: Any) -> dict[str, Any]:
        label_token_axes(plot, self.state, hover_fields=("@position",), pixels_per_label=11)
        add_answer_box(plot.state, self.state.answer_positions())
        return {"source": plot.handles["source"]}

    def update_decorations(self, handles: dict[str, Any], changed: set[str]) -> None:
        set_selected(handles["source"], self.state.selection())

    def _on_select(self, index: list[int]) -> None:
        self.state.select(index)
