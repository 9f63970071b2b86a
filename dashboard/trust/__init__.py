"""Can I trust this explanation? Views of the state's trust results: faithfulness, sanity, layers, comparison,
and head importance (shown beside the model view).

Each view is built on the view kit (``dashboard.views``), takes the app's ``ExplorerState`` (and,
in the app, its fan-out) and shows one part of ``state.trust``::

    from dashboard.trust import TrustPanel
    trust = TrustPanel(state=app.state)      # a tabbed viewer: put it in the app as a tab

Or one of them, e.g. in a notebook::

    state.show(core.explain(question, context, model))
    view = FaithfulnessView(state=state)
    state.trust.faithfulness.compute()       # or press its button
    view
"""

from dashboard.trust.compare_view import CompareView
from dashboard.trust.faithfulness_view import FaithfulnessView
from dashboard.trust.head_importance import HeadImportanceGrid
from dashboard.trust.layerwise_view import LayerwiseView
from dashboard.trust.panel import TrustPanel
from dashboard.trust.sanity_view import SanityView

__all__ = ["CompareView", "FaithfulnessView", "HeadImportanceGrid", "LayerwiseView", "SanityView", "TrustPanel"]
