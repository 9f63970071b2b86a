"""How much the question's tokens attend to each context token, for the chosen layer and head."""

from __future__ import annotations

import html
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


class QuestionAttentionBars(PlotView):
    """Mean attention from the question's tokens to each context token (0 for non-context tokens)."""

    title = "Question → context attention"
    description = "Mean over the question's tokens, scaled to the largest bar (hover for the value)."

    def build(self) -> Any:
        self.bars = self.dynamic(self._bars, "layer", "head")
        self.selection = hv.streams.Selection1D(source=self.bars)
        self.selection.add_subscriber(self._on_select)
        self.follow(("layer", "head"), self._caption)
        return self.bars.opts(
            **position_axis_opts(self.state, ylabel="share of largest", ylim=(0, 1.08)),
            hooks=[self.decoration_hook],
        )

    def _bars(self, layer: int, head: Any) -> hv.Rectangles:
        values = self.state.question_attention()
        peak = float(values.max())
        heights = values / peak if peak > 0 else values
        return token_bars(self.state, values, "attention", heights=heights)

    def _caption(self) -> None:
        peak = float(self.state.question_attention().max())
        self.caption.object = f"<b>{html.escape(self.state.attention_title())}</b> · largest bar {peak:.4f}"

    def decorate(self, plot: Any) -> dict[str, Any]:
        label_token_axes(plot, self.state, hover_fields=("@position",), pixels_per_label=11)
        add_answer_box(plot.state, self.state.answer_positions())
        return {"source": plot.handles["source"]}

    def update_decorations(self, handles: dict[str, Any], changed: set[str]) -> None:
        set_selected(handles["source"], self.state.selection())

    def _on_select(self, index: list[int]) -> None:
        self.state.select(index)
