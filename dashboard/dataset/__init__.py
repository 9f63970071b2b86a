"""The Dataset page: a whole-dataset run (``python -m core dataset run``) in the same app as the explorer.

Every view takes the session's ``ExplorerState`` and reads and writes its ``dataset`` part; opening
an example or clicking a head hands it to the explorer through the same state.
"""

from dashboard.dataset.page import DatasetPage

__all__ = ["DatasetPage"]
