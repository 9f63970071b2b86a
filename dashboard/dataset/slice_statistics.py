"""How the active slice does: its size, EM and F1 with 95% bootstrap intervals, error rate against the rest.

The figures are ``core.dataset.slice_statistics`` of the slice (1,000 resamples), computed by the state's
``slice_statistics`` job on the background runner each time the slice changes, so typing a slice never waits
for them; the line says when they are being computed.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from dashboard.escaping import html_text
from dashboard.state import ExplorerState
from dashboard.views.job_button import ERROR_COLOR
from dashboard.views.state_view import StateView


def _interval(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.1f} [{low:.1f}, {high:.1f}]"


def _share(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f}%"


def statistics_html(state: ExplorerState) -> str:
    """Escaped HTML of the slice's figures (or what is happening to them)."""
    dataset = state.dataset
    job = state.jobs.slice_statistics
    if dataset.run is None:
        return ""
    if job.error:
        return f'<span style="color:{ERROR_COLOR}">{html_text(job.error)}</span>'
    statistics = dataset.statistics
    if statistics is None:
        return '<span style="color:#777">Computing the slice\'s statistics…</span>' if job.running else ""
    what = "This slice" if dataset.slice_active() else "The whole run"
    parts = [
        f"<b>{what}</b>: {statistics.count:,} questions",
        f"EM {_interval(statistics.em, statistics.em_low, statistics.em_high)}",
        f"F1 {_interval(statistics.f1, statistics.f1_low, statistics.f1_high)}",
    ]
    if statistics.rest_count:
        p_value = "–" if statistics.p_value is None else f"{statistics.p_value:.2g}"
        parts.append(
            f"error rate {_share(statistics.error_rate)} against {_share(statistics.rest_error_rate)} for the other "
            f"{statistics.rest_count:,} (Fisher's exact test p = {p_value})"
        )
    else:
        parts.append(f"error rate {_share(statistics.error_rate)}")
    note = f"95% intervals from {statistics.resamples:,} bootstrap resamples; malformed records are not questions"
    return (
        f'<div class="qa-slice-statistics">{" · ".join(parts)}'
        f'<div style="color:#555; font-size:12px">{html_text(note)}.</div></div>'
    )


class SliceStatistics(StateView):
    """The active slice's figures; asks the state for them each time the slice changes."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.html = pn.pane.HTML("", margin=(0, 10), sizing_mode="stretch_width")
        self.on(("dataset.revision",), self.state.dataset.compute_statistics)
        self.on(
            ("dataset.statistics", "jobs.slice_statistics.running", "jobs.slice_statistics.error", "dataset.run"),
            self._redraw,
        )
        if self.state.dataset.run is not None and self.state.dataset.statistics is None:
            self.state.dataset.compute_statistics()
        self._redraw()

    def _redraw(self) -> None:
        self.html.object = statistics_html(self.state)

    def __panel__(self) -> pn.viewable.Viewable:
        return self.html


__all__ = ["SliceStatistics", "statistics_html"]
