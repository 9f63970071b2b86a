"""The head atlas: one statistic per layer x head, for right answers, wrong ones, their difference, all, or the
active slice against the rest of the run.

Without a slice it reads the run's per-head aggregates (means over examples), one small grid however big the
run; with one, the state averages the per-example values over the slice's examples
(``DatasetState.head_grid``). The grid, its click (that layer and head in the explorer) and the current head's
outline are ``HeadGrid``'s, as in the explorer's model view and head importance.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
import panel as pn

from core import HEAD_STATISTICS
from dashboard.escaping import html_text
from dashboard.theme import ATTENTION_CMAP, SALIENCY_CMAP
from dashboard.views.head_grid import HeadGrid
from dashboard.views.plot_view import PlotView


class HeadAtlas(PlotView):
    """Layer x head heatmap of a head statistic; a tap chooses that layer and head for the explorer."""

    title = "Head atlas"
    rebuild_on = ("dataset.run",)
    decorations_on = ("view.layer", "view.head")

    def add_controls(self) -> None:
        dataset = self.state.dataset
        choices = pn.Row(
            pn.widgets.Select.from_param(dataset.param.statistic, label="Statistic", width=240),
            pn.widgets.RadioButtonGroup.from_param(dataset.param.group, color="default", width=460, margin=(28, 10)),
        )
        self.layout.insert(1, choices)

    def has_content(self) -> bool:
        """A run with per-head statistics (a run where no example was answered has none)."""
        run = self.state.dataset.run
        return run is not None and run.heads is not None and not run.heads.empty

    def empty_text(self) -> str:
        dataset = self.state.dataset
        return "No dataset run is open." if dataset.run is None else dataset.group_note()

    def build(self) -> Any:
        self.grid = HeadGrid(self.state, *self.state.dataset.head_grid().shape, picked=self._look_at)
        followed = ("dataset.statistic", "dataset.group", "dataset.revision", "dataset.heads_revision")
        self.image = self.dynamic(self._image, *followed)
        self.tap = self.grid.listen(self.image)
        self.follow(followed, self._caption)
        return self.image.opts(hooks=[self.decoration_hook])

    def _image(self, statistic: str, group: str, revision: int, heads_revision: int) -> hv.Image:
        values = self.state.dataset.head_grid()
        finite = values[np.isfinite(values)]
        peak = float(np.abs(finite).max()) if finite.size else 1.0
        difference = group in ("difference", "slice")
        value = hv.Dimension("value", range=(-peak, peak) if difference else (0, peak or 1.0))
        return self.grid.image(values, vdims=[value]).opts(
            cmap=SALIENCY_CMAP if difference else ATTENTION_CMAP,
            colorbar=True,
            tools=["hover", "tap"],
            **self.grid.axis_options(),
            height=60 + 40 * self.grid.layers,
            responsive=True,
            title="",
        )

    def _caption(self) -> None:
        dataset = self.state.dataset
        what = HEAD_STATISTICS.get(dataset.statistic, dataset.statistic)
        group = {
            "difference": "right minus wrong answers",
            "slice": "slice's answers minus the rest's",
        }.get(dataset.group, f"{dataset.group} answers")
        if dataset.slice_active() and dataset.group != "slice":
            group += " of the slice"
        note = dataset.group_note()
        self.caption.object = html_text(
            note or f"Mean {what}, over the {group}. Click a head to look at it in the explorer."
        )

    def decorate(self, plot: Any) -> dict[str, Any]:
        return {"current": self.grid.add_outline(plot.state)}

    def update_decorations(self, handles: dict[str, Any], changed: set[str]) -> None:
        self.grid.move_outline(handles["current"])

    def _look_at(self, layer: int, head: int) -> None:
        """A tapped head: look at it in the explorer."""
        self.state.update(layer=layer, head=head)
        self.state.dataset.look = True

    def _on_tap(self, x: float | None = None, y: float | None = None) -> None:
        """A tap at ``(x, y)`` on the grid, as its tap stream reports it."""
        self.grid.pick(x, y)


__all__ = ["HeadAtlas"]
