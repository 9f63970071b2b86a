"""How much the question's tokens attend to each context token, for the chosen layer and head."""

from __future__ import annotations

from typing import Any

import holoviews as hv

from dashboard.views.plot_view import TokenBarsView, scaled
from dashboard.views.plotting import position_axis_opts, token_bars


class QuestionAttentionBars(TokenBarsView):
    """Mean attention from the question's tokens to each context token (0 for non-context tokens)."""

    title = "Question → context attention"
    description = "Mean over the question's tokens, scaled to the largest bar (hover for the value)."
    data_on = ("view.layer", "view.head")

    def build(self) -> Any:
        self.follow(self.data_on, self._caption)
        return super().build()

    def bars_for(self, layer: int, head: Any) -> hv.Rectangles:
        values = self.state.question_attention()
        heights, _peak = scaled(values)
        return token_bars(self.state, values, "attention", heights=heights)

    def axis_options(self) -> dict[str, Any]:
        return position_axis_opts(self.state, ylabel="share of largest", ylim=(0, 1.08))

    def _caption(self) -> None:
        peak = float(self.state.question_attention().max())
        self.set_caption(self.state.view.attention_title(), f"largest bar {peak:.4f}")
