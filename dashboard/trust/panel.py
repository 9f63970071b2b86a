"""``TrustPanel``: the four trust views of one ``ExplorerState``, as one tabbed viewer.

Nothing is linked here: every view reads and writes the state itself (its trust part, its jobs
and the shared selection) through the page's fan-out, so the Trust tab follows model, question and
selection like every other view. Add it to the app as a tab:
``("Trust", TrustPanel(state=app.state, fan_out=app.fan_out))``.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from dashboard.trust.compare_view import CompareView
from dashboard.trust.faithfulness_view import FaithfulnessView
from dashboard.trust.layerwise_view import LayerwiseView
from dashboard.trust.sanity_view import SanityView
from dashboard.views.state_view import StateView


class TrustPanel(StateView):
    """Faithfulness, sanity check, layer-wise answers and models side by side, of one ``ExplorerState``."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.faithfulness = FaithfulnessView(**self.wiring)
        self.sanity = SanityView(**self.wiring)
        self.layers = LayerwiseView(**self.wiring)
        self.compare = CompareView(**self.wiring)
        self.tabs = pn.Tabs(
            ("Faithfulness", self.faithfulness),
            ("Sanity check", self.sanity),
            ("Layers", self.layers),
            ("Models side by side", self.compare),
            dynamic=True,
            sizing_mode="stretch_width",
        )

    @property
    def views(self) -> dict[str, pn.viewable.Viewer]:
        return {
            "faithfulness": self.faithfulness,
            "sanity": self.sanity,
            "layers": self.layers,
            "compare": self.compare,
        }

    def __panel__(self) -> pn.viewable.Viewable:
        return self.tabs


__all__ = ["TrustPanel"]
