"""``RobustnessPage``: a run's robustness suites: the families, the rates by slice, the pairs, one pair side by side.

The page hands its fan-out to its views (``wiring``): in the app, the explorer's, so one fan-out follows the
session's state for every view of every page. Its state is the session's ``state.robustness``
(``dashboard/state/robustness.py``), which follows the Dataset page's run.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from dashboard.robustness.families import FamilyTable
from dashboard.robustness.pair_view import PairView
from dashboard.robustness.pairs import PairList
from dashboard.robustness.slices import SliceFlips
from dashboard.robustness.summary import SuiteSummary
from dashboard.state.robustness import robustness_part
from dashboard.views.state_view import StateView


class RobustnessPage(StateView):
    """Every view of the run's suites; usable on its own in a notebook (``RobustnessPage(state=state)``)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        robustness_part(self.state)
        self.summary = SuiteSummary(**self.wiring)
        self.families = FamilyTable(**self.wiring)
        self.slices = SliceFlips(**self.wiring)
        self.pairs = PairList(**self.wiring)
        self.pair = PairView(**self.wiring)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.summary, self.families, self.slices, self.pairs, self.pair, sizing_mode="stretch_width")


__all__ = ["RobustnessPage"]
