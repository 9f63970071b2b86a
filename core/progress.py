"""How long-running core work reports progress, and how a caller stops it.

Every slow function in core (integrated gradients, faithfulness, the sanity check, comparisons,
reports, dataset runs) takes ``progress: ProgressCallback | None`` and calls it between units of
work with a stage name and the fraction done. A caller that no longer wants the result raises from
the callback (the dashboard raises ``Cancelled`` when a newer question supersedes the work); the
exception propagates out of core unchanged, so work stops at the next unit instead of running on.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[str, float], None]
"""``progress(stage, fraction)``: ``stage`` names the step under way, ``fraction`` is 0 to 1."""


class Cancelled(Exception):
    """Raised from a progress callback to stop work nobody waits for any more."""


def report_progress(progress: ProgressCallback | None, stage: str, fraction: float) -> None:
    """Call ``progress`` if there is one (the one place that checks for ``None``)."""
    if progress is not None:
        progress(stage, fraction)


def sub_progress(progress: ProgressCallback | None, prefix: str, start: float, end: float) -> ProgressCallback | None:
    """A callback for one part of a larger job: stages get ``prefix``, fractions map into ``[start, end]``.

    The caller's callback still hears every report, so raising from it stops the part as well.
    """
    if progress is None:
        return None

    def within(stage: str, fraction: float) -> None:
        progress(f"{prefix}{stage}", start + (end - start) * min(max(float(fraction), 0.0), 1.0))

    return within


__all__ = ["Cancelled", "ProgressCallback", "report_progress", "sub_progress"]
