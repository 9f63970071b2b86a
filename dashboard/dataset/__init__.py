"""The Dataset page: a whole-dataset run (``python -m core dataset run``) in the same app as the explorer.

Every view is built on the view kit (``dashboard.views``): it takes the session's ``ExplorerState``
and reads and writes its ``dataset`` part, following it through the page's fan-out; opening an
example or clicking a head hands it to the explorer through the same state.
"""

from dashboard.dataset.page import DatasetPage

__all__ = ["DatasetPage"]
