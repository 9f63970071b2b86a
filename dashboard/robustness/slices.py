"""The flip rate by slice: one cell per (family, slice of the originals), coloured by the rate, labelled with it.

The slices are the summary's: each value of the question and answer types, and the run's saved slices
(``core.dataset.robustness_pairs.summarize_suite``). A cell over few pairs has a wide interval: the hover gives
it with the counts. Clicking a cell lists that family's pairs within that slice.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn

from dashboard.views.plotting import DEFAULT_TOOLS
from dashboard.views.state_view import StateView


def heatmap_frame(rates: pd.DataFrame) -> pd.DataFrame:
    """Rates in percent, their interval and counts as text, and the label each cell shows."""
    frame = rates.copy()
    known = frame["rate"].notna() & (frame["count"] > 0)
    frame["percent"] = np.where(known, 100 * frame["rate"].astype(float).fillna(0.0), np.nan)
    frame["interval"] = [
        f"[{100 * low:.0f}, {100 * high:.0f}]" if ok else "–"
        for low, high, ok in zip(frame["low"], frame["high"], known, strict=True)
    ]
    frame["pairs"] = [f"{int(hits)}/{int(count)}" for hits, count in zip(frame["hits"], frame["count"], strict=True)]
    cells = list(zip(frame["percent"], known, strict=True))
    frame["text"] = [f"{value:.0f}%" if ok else "–" for value, ok in cells]
    frame["ink"] = ["white" if ok and value > 55 else "black" for value, ok in cells]  # readable on dark red
    # Plain object columns: HoloViews reshapes value columns into a grid, which Arrow-backed strings refuse.
    text = ["family", "slice", "expression", "interval", "pairs", "text", "ink"]
    return frame.astype({column: object for column in text})


class SliceFlips(StateView):
    """Families across, slices down; the measure (flip or failure rate) chosen above the map."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        robustness = self.state.robustness
        self.measure = pn.widgets.RadioButtonGroup.from_param(robustness.param.measure, color="default")
        self.pane = pn.pane.HoloViews(None, sizing_mode="stretch_width")
        self.message = pn.pane.HTML("", styles={"color": "#777"})
        self.tap: hv.streams.Tap | None = None
        self.on(("robustness.suite", "robustness.suites", "robustness.measure"), self._rebuild)
        self._rebuild()

    def plot(self, rates: pd.DataFrame) -> hv.Overlay:
        frame = heatmap_frame(rates)
        slices = list(dict.fromkeys(frame["slice"]))
        measure = "flip rate" if self.state.robustness.measure == "flip" else "failure rate"
        cells = hv.HeatMap(frame, kdims=["family", "slice"], vdims=["percent", "interval", "pairs", "expression"]).opts(
            cmap="Reds",
            clim=(0, 100),
            colorbar=True,
            clabel=f"{measure} (%)",
            tools=["hover", "tap"],
            default_tools=DEFAULT_TOOLS,
            hover_tooltips=[
                ("family", "@family"),
                ("slice", "@slice"),
                (measure, "@percent{0.0}%"),
                ("95% interval", "@interval"),
                ("pairs", "@pairs"),
            ],
            xrotation=30,
            invert_yaxis=True,
            responsive=True,
            height=max(200, 60 + 32 * len(slices)),
            xlabel="",
            ylabel="",
        )
        labels = hv.Labels(frame, kdims=["family", "slice"], vdims=["text", "ink"]).opts(
            text_font_size="9pt", text_color="ink"
        )
        self.tap = hv.streams.Tap(source=cells, x=None, y=None)
        self.tap.add_subscriber(self._on_tap)
        return (cells * labels).opts(responsive=True)

    def _rebuild(self) -> None:
        rates = self.state.robustness.slice_rates()
        self.tap = None
        if rates.empty:
            self.pane.object = None
            self.message.object = "No slice of this suite has pairs to show."
            return
        self.message.object = ""
        self.pane.object = self.plot(rates)

    def _on_tap(self, x: Any = None, y: Any = None) -> None:
        """A cell clicked: list the pairs of that family (x) within that slice (y)."""
        if x is None or y is None:
            return
        robustness = self.state.robustness
        if str(y) in robustness.slice_names():
            robustness.narrow(family=str(x), slice_name=str(y))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "#### By slice\n<small>Each family's rate within each slice of the originals (question and answer "
                "types, and the run's saved slices); hover a cell for its 95% interval and counts, click it to list "
                "those pairs.</small>",
                margin=(0, 10),
            ),
            self.measure,
            self.message,
            self.pane,
            sizing_mode="stretch_width",
        )


__all__ = ["SliceFlips", "heatmap_frame"]
