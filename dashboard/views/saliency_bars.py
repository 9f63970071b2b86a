"""Saliency per token for the chosen method and target, as a bar chart.

Bars are scaled to the largest absolute value (the hover shows the raw score), so the y range stays
put while the target, the selection or the arrival of integrated gradients change the bars.
"""

from __future__ import annotations

import html
from typing import Any

import holoviews as hv
import numpy as np

from dashboard.state import METHOD_LABELS, TARGET_LABELS
from dashboard.views.common import (
    SIGN_PALETTE,
    PlotView,
    add_answer_box,
    label_token_axes,
    position_axis_opts,
    set_selected,
    token_bars,
)

SIGNED_METHODS = ("gradient_x_input", "integrated_gradients")
"""Methods whose scores have a sign (gradient is a norm, never negative)."""


def label(mapping: dict[str, str], value: str) -> str:
    """The display name of a parameter value (``gradient_x_input`` -> ``gradient × input``)."""
    return next((name for name, item in mapping.items() if item == value), value)


class SaliencyBars(PlotView):
    """Saliency of each token for the answer's start or end logit."""

    title = "Saliency"
    description = "Red pushes the logit up, blue down; scaled to the largest |score|. Green band: the answer."
    rebuild_on = ("result_id", "method")

    def build(self) -> Any:
        signed = self.state.method in SIGNED_METHODS
        self.bars = self.dynamic(self._bars, "target", "saliency_revision")
        self.selection = hv.streams.Selection1D(source=self.bars)
        self.selection.add_subscriber(self._on_select)
        self.follow(("target", "saliency_revision", "saliency_pending", "progress"), self._caption)
        return self.bars.opts(
            **position_axis_opts(
                self.state, ylabel="share of largest |score|", ylim=(-1.08, 1.08) if signed else (0, 1.08)
            ),
            hooks=[self.decoration_hook],
        )

    def _bars(self, target: str, saliency_revision: int) -> hv.Rectangles:
        values = self.state.saliency_values(self.state.method, target)
        values = np.zeros(self.state.num_tokens) if values is None else np.asarray(values, dtype=np.float64)
        peak = float(np.abs(values).max()) if len(values) else 0.0
        heights = values / peak if peak > 0 else values
        method = label(METHOD_LABELS, self.state.method)
        return token_bars(self.state, values, method, codes=values >= 0, palette=SIGN_PALETTE, heights=heights)

    def _caption(self) -> None:
        state = self.state
        method = label(METHOD_LABELS, state.method)
        what = f"<b>{html.escape(method)} · {html.escape(label(TARGET_LABELS, state.target))}</b>"
        values = state.saliency_values()
        if values is None and state.saliency_pending:
            self.caption.object = f"{what} · computing… {state.progress:.0%} (the bars fill in when it is done)"
        elif values is None:
            self.caption.object = f"{what} · not computed (turn on integrated gradients in Settings and run again)"
        else:
            self.caption.object = f"{what} · largest |score| {float(np.abs(values).max()):.3g}"

    def decorate(self, plot: Any) -> dict[str, Any]:
        label_token_axes(plot, self.state, hover_fields=("@position",), pixels_per_label=11)
        add_answer_box(plot.state, self.state.answer_positions())
        return {"source": plot.handles["source"]}

    def update_decorations(self, handles: dict[str, Any], changed: set[str]) -> None:
        set_selected(handles["source"], self.state.selection())

    def _on_select(self, index: list[int]) -> None:
        self.state.select(index)
