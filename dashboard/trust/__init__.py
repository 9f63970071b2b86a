"""Can I trust this explanation? Views over ``core``'s faithfulness, sanity check, layer-wise answers and comparisons.

Each view is a ``pn.viewable.Viewer`` over plain data from ``core`` plus a ``selected_tokens`` (or,
for the comparison, ``selected_words``) parameter; ``TrustPanel`` links all four to the app's
``ExplorerState``::

    from dashboard.trust import TrustPanel
    trust = TrustPanel(state=app.state)      # a tabbed viewer: put it in the app as a tab

Or on their own, e.g. in a notebook::

    view = FaithfulnessView(explanation=core.explain(question, context, model))
    view.compute()                             # or press its button
    view
"""

from dashboard.trust.compare_view import CompareView
from dashboard.trust.faithfulness_view import FaithfulnessView
from dashboard.trust.layerwise_view import LayerwiseView
from dashboard.trust.panel import TrustPanel
from dashboard.trust.sanity_view import SanityView

__all__ = ["CompareView", "FaithfulnessView", "LayerwiseView", "SanityView", "TrustPanel"]
