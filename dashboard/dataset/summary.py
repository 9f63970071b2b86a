"""The run's headline: EM and F1, how many examples, failures, model, data and time."""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from dashboard.escaping import html_text
from dashboard.state import ExplorerState


def summary_html(state: ExplorerState) -> str:
    """Escaped HTML of the run's headline (or why there is none)."""
    dataset = state.dataset
    if dataset.problem:
        return f'<div style="color:#b00020">{html_text(dataset.problem)}</div>'
    run = dataset.run
    if run is None:
        return '<div style="color:#777">No dataset run is open. Start the app with <code>--args --run DIR</code>.</div>'
    summary = run.summary
    shown = len(dataset.filtered())
    em = "–" if summary.em is None else f"{summary.em:.1f}"
    f1 = "–" if summary.f1 is None else f"{summary.f1:.1f}"
    return (
        '<div style="font-family: ui-sans-serif, system-ui, sans-serif">'
        f'<span style="font-size:26px; font-weight:600">EM {em}</span>'
        f'<span style="font-size:26px; font-weight:600; margin-left:18px">F1 {f1}</span>'
        f'<span style="margin-left:18px; color:#555">{summary.n:,} examples · '
        f"{summary.failures:,} failed · {shown:,} shown</span>"
        f'<div style="color:#555; margin-top:4px">{html_text(summary.model)} on '
        f"{html_text(summary.data)} (SQuAD {html_text(summary.squad_version)}) · {summary.seconds:.3g} s</div>"
        "</div>"
    )


class RunSummary(pn.viewable.Viewer):
    """EM, F1 and counts of the run on show; follows the filters (the "shown" count)."""

    state = param.ClassSelector(class_=ExplorerState, doc="The session's state (its dataset part is shown).")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.html = pn.pane.HTML(summary_html(self.state), sizing_mode="stretch_width")
        self.state.dataset.param.watch(self._redraw, ["run", "problem", "revision"])

    def _redraw(self, *_events: Any) -> None:
        self.html.object = summary_html(self.state)

    def __panel__(self) -> pn.viewable.Viewable:
        return self.html
