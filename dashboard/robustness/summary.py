"""The suite on show: a chooser when the run has several, what the suite is, and how to read its rates.

Rates are shares of the pairs that ran (both the original and the copy answered), with 95% Wilson score
intervals; a family's F1 drop is the original's F1 minus the copy's, in points, with a bootstrap interval
(``core.dataset.robustness_pairs``). Every string from the suite's files is escaped.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from dashboard.escaping import html_text
from dashboard.labels import short_name
from dashboard.views.job_button import ERROR_COLOR
from dashboard.views.state_view import StateView

HOW_TO_READ = (
    "Flip: the perturbed copy's answer differs from the original's. Failure: the family's expectation broken "
    "(invariance: the answer changed; distractor: answered from the inserted sentence; the answer's sentence "
    "removed: the answer did not move; the answer replaced: the prediction did not follow it). "
    "Brackets: 95% intervals."
)


def rate_text(entry: dict[str, Any] | None) -> str:
    """``62.5% [38.6, 81.5] (10/16)``, or ``–`` over no pairs."""
    if not entry or entry.get("rate") is None:
        return "–"
    return (
        f"{100 * entry['rate']:.1f}% [{100 * entry['low']:.1f}, {100 * entry['high']:.1f}] "
        f"({entry['hits']}/{entry['count']})"
    )


def suite_html(robustness: Any) -> str:
    """Escaped HTML: the suite's options and counts, or why there is none."""
    if robustness.problem:
        return f'<div style="color:{ERROR_COLOR}">{html_text(robustness.problem)}</div>'
    suite = robustness.current()
    if suite is None:
        return (
            '<div style="color:#777">This run has no robustness suite yet: '
            "<code>python -m core dataset perturb RUN</code> makes one.</div>"
        )
    spec = suite.spec
    families = ", ".join(spec.get("families", []))
    facts = (
        f"{spec.get('examples', 0):,} examples × {spec.get('per_example', 1)} per family, seed {spec.get('seed', 0)}; "
        f"{spec.get('perturbed', 0):,} perturbed copies, {spec.get('skipped', 0):,} not made; "
        f"model {short_name(str(spec.get('model', '')))}"
    )
    return (
        '<div style="font-family: ui-sans-serif, system-ui, sans-serif">'
        f'<div style="font-size:18px; font-weight:600">Suite {html_text(suite.name)}</div>'
        f'<div style="color:#555">{html_text(facts)}</div>'
        f'<div style="color:#555">Families: {html_text(families)}</div>'
        f'<div style="color:#777; font-size:12px; margin-top:4px">{html_text(HOW_TO_READ)}</div></div>'
    )


class SuiteSummary(StateView):
    """The suite chooser (shown when the run has several suites) and the suite's headline."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        robustness = self.state.robustness
        self.chooser = pn.widgets.Select.from_param(robustness.param.suite, label="Suite", width=360)
        self.html = pn.pane.HTML("", sizing_mode="stretch_width")
        self.on(("robustness.suites", "robustness.suite", "robustness.problem"), self._redraw)
        self._redraw()

    def _redraw(self) -> None:
        robustness = self.state.robustness
        self.chooser.visible = len(robustness.suites) > 1
        self.html.object = suite_html(robustness)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(self.chooser, self.html, sizing_mode="stretch_width")


__all__ = ["HOW_TO_READ", "SuiteSummary", "rate_text", "suite_html"]
