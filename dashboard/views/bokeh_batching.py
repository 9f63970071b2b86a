"""Why a head switch does not walk the page's whole Bokeh model graph: one freeze around all plot updates.

HoloViews wraps every plot update in ``Document.models.freeze()``, and when the outermost freeze
ends Bokeh walks every model of the document to find attached and detached ones (~0.1 s for this
page). A head switch updates several plots; holding one freeze around all of them pays that walk at
most once, and not at all when nothing was attached or detached (swapping an image or bars does not).

This leans on private Bokeh names: ``DocumentModelManager._push_freeze``, ``_pop_freeze``,
``_freeze_count`` and the ``invalidate`` method it calls for changes to properties that hold models.
tests/test_dependency_canary.py fails with a clear message if a Bokeh upgrade removes them; without
them this falls back to Bokeh's normal behaviour (correct, just slower).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

PRIVATE_NAMES = ("_push_freeze", "_pop_freeze", "_freeze_count", "invalidate")
"""What ``batched_model_updates`` needs from ``bokeh.document.models.DocumentModelManager``."""


@contextmanager
def batched_model_updates(document: Any) -> Iterator[None]:
    """Hold a Bokeh document's model graph while several plots update; walk it once, if at all.

    Inside this block the graph stays frozen; at the end it is walked only if some property that
    holds other models changed (Bokeh calls ``models.invalidate()`` for exactly those changes).
    """
    models = getattr(document, "models", None)
    if models is None or not all(hasattr(models, name) for name in PRIVATE_NAMES):
        yield
        return
    if "invalidate" in vars(models):
        # Already inside a batch: a view's update changed the state again (it started a job, say), and the fan-out
        # dispatched at once. The outer batch covers this one; a second wrapper would undo the first's on exit.
        yield
        return
    dirty = False
    invalidate = models.invalidate

    def record_invalidation() -> None:
        nonlocal dirty
        dirty = True
        invalidate()

    models.invalidate = record_invalidation
    models._push_freeze()
    try:
        yield
    finally:
        del models.invalidate
        if dirty or models._freeze_count != 1:
            models._pop_freeze()
        else:
            models._freeze_count = 0  # nothing attached or detached: the walk would change nothing


__all__ = ["PRIVATE_NAMES", "batched_model_updates"]
