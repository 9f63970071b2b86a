"""``TrustPanel``: the four trust views wired to the app's ``ExplorerState``, as one tabbed viewer.

What it links (and nothing else):

- ``state.explanation`` -> every view's ``explanation`` (a new answer clears their results; the
  same answer with integrated gradients filled in keeps them);
- ``state.selected_tokens`` <-> each token view's ``selected_tokens``, both ways;
- the comparison's ``selected_words`` <-> ``state.selected_tokens`` through the word alignment of
  the state's model, when that model is among the compared ones;
- ``state.models`` -> the models offered for comparison (the state's model and the next one are
  pre-chosen);
- the views compute on ``state.saliency_runner`` (a worker thread in the served app).

Add it to the app as a tab: ``("Trust", TrustPanel(state=app.state))``.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from dashboard.state import ExplorerState
from dashboard.trust.compare_view import CompareView
from dashboard.trust.faithfulness_view import FaithfulnessView
from dashboard.trust.layerwise_view import LayerwiseView
from dashboard.trust.sanity_view import SanityView


class TrustPanel(pn.viewable.Viewer):
    """Faithfulness, sanity check, layer-wise answers and models side by side, linked to one ``ExplorerState``."""

    state = param.ClassSelector(class_=ExplorerState, doc="The shared dashboard state the views follow and select in.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        state = self.state
        runner = state.saliency_runner
        self.faithfulness = FaithfulnessView(explanation=state.explanation, runner=runner)
        self.sanity = SanityView(explanation=state.explanation, runner=runner)
        self.layers = LayerwiseView(explanation=state.explanation)
        self.compare = CompareView(explanation=state.explanation, runner=runner)
        self._syncing = False
        self._offer_models()
        state.param.watch(self._on_explanation, ["explanation"])
        state.param.watch(self._on_state_selection, ["selected_tokens"])
        state.param.watch(lambda _event: self._offer_models(), ["models", "model"])
        state.param.watch(self._on_runner, ["saliency_runner"])
        for view in self.token_views:
            view.param.watch(self._on_view_selection, ["selected_tokens"])
        self.compare.param.watch(self._on_words, ["selected_words"])
        self.tabs = pn.Tabs(
            ("Faithfulness", self.faithfulness),
            ("Sanity check", self.sanity),
            ("Layers", self.layers),
            ("Models side by side", self.compare),
            dynamic=True,
            sizing_mode="stretch_width",
        )

    @property
    def token_views(self) -> list[Any]:
        return [self.faithfulness, self.sanity, self.layers]

    @property
    def views(self) -> dict[str, pn.viewable.Viewer]:
        return {
            "faithfulness": self.faithfulness,
            "sanity": self.sanity,
            "layers": self.layers,
            "compare": self.compare,
        }

    def _on_runner(self, event: param.parameterized.Event) -> None:
        for view in (self.faithfulness, self.sanity, self.compare):
            view.runner = event.new

    def _offer_models(self) -> None:
        models = list(self.state.models)
        self.compare.available_models = models
        if not self.compare.models and len(models) >= 2:
            first = self.state.model
            second = next(m for m in models if m != first)
            self.compare.models = [first, second]

    def _on_explanation(self, event: param.parameterized.Event) -> None:
        explanation = event.new
        for view in (*self.token_views, self.compare):
            view.explanation = explanation

    def _on_state_selection(self, event: param.parameterized.Event) -> None:
        if self._syncing:
            return
        self._syncing = True
        try:
            for view in self.token_views:
                view.selected_tokens = list(event.new)
            model = self.state.model
            if self.compare.comparison is not None and model in self.compare.comparison.models:
                self.compare.selected_words = self.compare.words_of(model, event.new)
        finally:
            self._syncing = False

    def _on_view_selection(self, event: param.parameterized.Event) -> None:
        if self._syncing:
            return
        self.state.select(event.new)

    def _on_words(self, event: param.parameterized.Event) -> None:
        if self._syncing:
            return
        model = self.state.model
        explanation = self.state.explanation
        comparison = self.compare.comparison
        if explanation is None or comparison is None or model not in comparison.models:
            return
        # Only when the comparison's run of the state's model is the explanation on show (same window).
        side = comparison.models[model]
        if side.answer.window != explanation.window_index:
            return
        self.state.select(self.compare.tokens_of(model, event.new))

    def __panel__(self) -> pn.viewable.Viewable:
        return self.tabs


__all__ = ["TrustPanel"]
