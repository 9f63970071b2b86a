"""The Robustness page: a run's perturbation suites (``python -m core dataset perturb RUN``).

Every view is built on the view kit (``dashboard.views``) and reads the session's ``state.robustness``
(``dashboard/state/robustness.py``): the suite and how to read it (``summary``), one row per family with its flip,
failure and capture rates and F1 drop (``families``), each family's rate by slice (``slices``), the flipped pairs
(``pairs``), and one pair side by side with the edit highlighted and both answers' saliency (``pair_view``, its
HTML in ``pair_text``), each side one click from the explorer.
"""

from dashboard.robustness.page import RobustnessPage

__all__ = ["RobustnessPage"]
