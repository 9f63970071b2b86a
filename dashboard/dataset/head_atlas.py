"""The head atlas: one statistic per layer x head over the run, for right answers, wrong ones, or the difference.

Read from the run's per-head aggregates (means over examples), so it is one small grid however big
the run. Clicking a head selects that layer and head in the explorer.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
import param

from core import HEAD_STATISTICS
from dashboard.state import ExplorerState
from dashboard.theme import ATTENTION_CMAP, SALIENCY_CMAP


class HeadAtlas(pn.viewable.Viewer):
    """Layer x head heatmap of a head statistic; a tap chooses that layer and head for the explorer."""

    state = param.ClassSelector(class_=ExplorerState, doc="The session's state (its dataset part is shown).")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        dataset = self.state.dataset
        self.params = hv.streams.Params(dataset, ["statistic", "group", "run"])
        self.grid = hv.DynamicMap(self._image, streams=[self.params], cache_size=1)
        self.tap = hv.streams.Tap(source=self.grid, transient=True)
        self.tap.add_subscriber(self._on_tap)
        self.pane = pn.pane.HoloViews(self.grid, sizing_mode="stretch_width")
        self.caption = pn.pane.Markdown("", margin=(0, 10), styles={"color": "#555"})
        dataset.param.watch(self._caption, ["statistic", "group", "run"])
        self._caption()

    def _image(self, statistic: str, group: str, run: Any) -> hv.Image:
        values = self.state.dataset.head_grid()
        layers, heads = values.shape if values.size else (1, 1)
        values = values if values.size else np.full((1, 1), np.nan)
        finite = values[np.isfinite(values)]
        peak = float(np.abs(finite).max()) if finite.size else 1.0
        difference = group == "difference"
        image = hv.Image(
            np.flipud(values),
            bounds=(0, 0, heads, layers),
            kdims=["head", "layer"],
            vdims=[hv.Dimension("value", range=(-peak, peak) if difference else (0, peak or 1.0))],
        )
        return image.opts(
            cmap=SALIENCY_CMAP if difference else ATTENTION_CMAP,
            colorbar=True,
            tools=["hover", "tap"],
            xticks=[(h + 0.5, str(h)) for h in range(heads)],
            yticks=[(layers - layer - 0.5, str(layer)) for layer in range(layers)],
            height=60 + 40 * layers,
            responsive=True,
            title="",
        )

    def _caption(self, *_events: Any) -> None:
        dataset = self.state.dataset
        what = HEAD_STATISTICS.get(dataset.statistic, dataset.statistic)
        group = "right minus wrong answers" if dataset.group == "difference" else f"{dataset.group} answers"
        note = dataset.group_note()
        self.caption.object = note or f"Mean {what}, over the {group}. Click a head to look at it in the explorer."

    def _on_tap(self, x: float | None = None, y: float | None = None) -> None:
        values = self.state.dataset.head_grid()
        if x is None or y is None or not values.size:
            return
        layers, heads = values.shape
        head, layer = int(np.floor(x)), layers - 1 - int(np.floor(y))
        if 0 <= head < heads and 0 <= layer < layers:
            self.state.update(layer=layer, head=head)
            self.state.dataset.look = True

    def __panel__(self) -> pn.viewable.Viewable:
        dataset = self.state.dataset
        return pn.Column(
            pn.pane.Markdown("#### Head atlas", margin=(0, 10)),
            pn.Row(
                pn.widgets.Select.from_param(dataset.param.statistic, label="Statistic", width=240),
                pn.widgets.RadioButtonGroup.from_param(
                    dataset.param.group, color="default", width=360, margin=(28, 10)
                ),
            ),
            self.caption,
            self.pane,
            sizing_mode="stretch_width",
        )
