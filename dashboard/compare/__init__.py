"""The Compare page: two dataset runs over the same questions (``--run A --run B``), checkpoint against checkpoint.

Every view is built on the view kit (``dashboard.views``) and reads the session's ``state.compare``
(``dashboard/state/comparison.py``): the flip matrix and ΔEM/ΔF1 (``headline``), the regressed groups and the
saved slices' differences, each a slice that narrows the page (``slices``), and the questions as a scatter of F1
A against F1 B and a table whose rows open in the explorer with both models side by side (``questions``).
"""

from dashboard.compare.page import ComparePage

__all__ = ["ComparePage"]
