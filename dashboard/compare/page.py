"""``ComparePage``: two runs' headline and flips, where B lost, and the questions, on one page.

The page hands its fan-out to its views (``wiring``): in the app, the explorer's, so one fan-out follows the
session's state for every view of every page.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from dashboard.compare.headline import CompareHeadline
from dashboard.compare.questions import CompareQuestions
from dashboard.compare.slices import CompareSlices
from dashboard.views.state_view import StateView


class ComparePage(StateView):
    """Every view of the session's run comparison; usable on its own in a notebook (``ComparePage(state=state)``)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.headline = CompareHeadline(**self.wiring)
        self.slices = CompareSlices(**self.wiring)
        self.questions = CompareQuestions(**self.wiring)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.headline, self.slices, self.questions, sizing_mode="stretch_width")


__all__ = ["ComparePage"]
