"""``DatasetPage``: the run's headline, filters and slice, its statistics, scatters, failure groups, example table
and head atlas, on one page.

The page hands its fan-out to its views (``wiring``): in the app, the explorer's, so one fan-out follows the
session's state for every view of every page. The active slice (the filters and-ed with a typed or saved
expression) is computed once by the state, and every view reads the same filtered frame.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from dashboard.dataset.examples_table import ExamplesTable
from dashboard.dataset.failure_groups import FailureGroups
from dashboard.dataset.head_atlas import HeadAtlas
from dashboard.dataset.scatters import RunScatters
from dashboard.dataset.slice_statistics import SliceStatistics
from dashboard.dataset.slices_panel import SlicesPanel
from dashboard.dataset.summary import RunSummary
from dashboard.views.state_view import StateView
from dashboard.views.widgets import Checkbox, TextLine


class DatasetPage(StateView):
    """Every view of the session's dataset run; usable on its own in a notebook (``DatasetPage(state=state)``)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        dataset = self.state.dataset
        self.summary = RunSummary(**self.wiring)
        self.slices = SlicesPanel(**self.wiring)
        self.statistics = SliceStatistics(**self.wiring)
        self.scatters = RunScatters(**self.wiring)
        self.groups = FailureGroups(**self.wiring)
        self.examples = ExamplesTable(**self.wiring)
        self.atlas = HeadAtlas(**self.wiring)
        self.clear = pn.widgets.Button(label="Clear filters", width=140)
        self.clear.on_click(lambda _event: dataset.clear_filters())
        self.unconverged = Checkbox.from_param(
            dataset.param.unconverged_only,
            label="Integrated gradients unconverged",
            width=240,
            margin=(30, 10),
            visible=dataset.has_unconverged_column(),
        )
        self.filters = pn.FlexBox(
            pn.widgets.Select.from_param(dataset.param.run_dir, label="Run", width=260),
            Checkbox.from_param(dataset.param.wrong_only, label="Wrong answers only", width=170, margin=(30, 10)),
            self.unconverged,
            pn.widgets.Select.from_param(dataset.param.title, label="Title", width=220),
            pn.widgets.RangeSlider.from_param(dataset.param.f1_range, label="F1", step=0.05, width=180),
            pn.widgets.RangeSlider.from_param(dataset.param.score_range, label="Score", step=0.01, width=180),
            TextLine.from_param(dataset.param.search, label="Search", width=200),
            pn.Column(pn.Spacer(height=18), self.clear),
            sizing_mode="stretch_width",
        )
        self.on(("dataset.run",), self._offer_filters)

    def _offer_filters(self) -> None:
        """The unconverged filter only for runs that computed integrated gradients."""
        self.unconverged.visible = self.state.dataset.has_unconverged_column()

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self.summary,
            self.filters,
            self.slices,
            self.statistics,
            self.scatters,
            self.groups,
            self.examples,
            self.atlas,
            sizing_mode="stretch_width",
        )


__all__ = ["DatasetPage"]
