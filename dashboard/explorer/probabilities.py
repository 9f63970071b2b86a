"""Start and end probabilities per token, as two bar charts sharing the token axis."""

from __future__ import annotations

from typing import Any

import holoviews as hv

from dashboard.views.plot_view import TokenBarsView
from dashboard.views.plotting import position_axis_opts, token_bars


class ProbabilityBars(TokenBarsView):
    """P(answer starts here) and P(answer ends here) for every token of the window."""

    title = "Start and end probabilities"
    description = "Softmax over the window. Green band: the answer. Tap or box-select bars to select tokens."

    def build(self) -> Any:
        explanation = self.state.result.require()
        self.selections: dict[str, hv.streams.Selection1D] = {}
        self.charts: dict[str, hv.Rectangles] = {}
        for which, values in (("start", explanation.start_probs), ("end", explanation.end_probs)):
            bars = token_bars(self.state, values, f"P({which})").opts(
                **position_axis_opts(self.state, height=190, ylabel=f"P({which})", title=f"P(answer {which}s here)"),
                yformatter="%.2g",
                hooks=[self.decoration_hook],
            )
            stream = hv.streams.Selection1D(source=bars)
            stream.add_subscriber(self._on_select)
            self.selections[which] = stream
            self.charts[which] = bars
        return hv.Layout(list(self.charts.values())).cols(1).opts(shared_axes=True)
