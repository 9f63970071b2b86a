"""The comparison's headline: which runs, the flip matrix, ΔEM and ΔF1 with paired intervals, or why not.

Run B is compared against run A (B - A, in points). The flip matrix counts the questions both runs got right,
only A, only B, and neither (right: EM 1); the intervals are 95% paired bootstrap intervals
(``core.dataset.compare_runs``). While a flip or a slice narrows the page, a second line gives the same figures
for the questions on show.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from dashboard.escaping import html_text
from dashboard.labels import short_name
from dashboard.state import ExplorerState
from dashboard.views.job_button import ERROR_COLOR, JobButton
from dashboard.views.state_view import StateView


def _delta(value: float, low: float, high: float) -> str:
    return f"{value:+.1f} [{low:+.1f}, {high:+.1f}]"


def flip_matrix_html(flips: dict[str, int]) -> str:
    """The 2 x 2 table of right and wrong in A against right and wrong in B."""
    cell = 'style="padding:4px 12px; text-align:right; border:1px solid #ddd"'
    head = 'style="padding:4px 12px; border:1px solid #ddd; background:#f5f5f5"'
    return (
        '<table class="qa-flips" style="border-collapse:collapse; margin:6px 0">'
        f"<tr><th {head}></th><th {head}>B right</th><th {head}>B wrong</th></tr>"
        f"<tr><th {head}>A right</th><td {cell} data-flip='both right'>{flips['both right']:,}</td>"
        f"<td {cell} data-flip='A only'>{flips['A only']:,}</td></tr>"
        f"<tr><th {head}>A wrong</th><td {cell} data-flip='B only'>{flips['B only']:,}</td>"
        f"<td {cell} data-flip='both wrong'>{flips['both wrong']:,}</td></tr></table>"
    )


def headline_html(state: ExplorerState) -> str:
    """Escaped HTML of the comparison on show, or why there is none."""
    compare = state.compare
    if compare.problem:
        return f'<div class="qa-compare-problem" style="color:{ERROR_COLOR}">{html_text(compare.problem)}</div>'
    comparison = compare.comparison
    if comparison is None:
        if state.jobs.run_comparison.running:
            return '<div style="color:#777">Comparing the runs…</div>'
        return '<div style="color:#777">Choose runs A and B and press <b>Compare runs</b>.</div>'
    figures = (
        f'<span style="font-size:22px; font-weight:600">ΔEM '
        f"{_delta(comparison.delta_em, comparison.delta_em_low, comparison.delta_em_high)}</span>"
        f'<span style="font-size:22px; font-weight:600; margin-left:18px">ΔF1 '
        f"{_delta(comparison.delta_f1, comparison.delta_f1_low, comparison.delta_f1_high)}</span>"
    )
    scores = (
        f"A ({html_text(short_name(comparison.model_a))}): EM {comparison.em_a:.1f}, F1 {comparison.f1_a:.1f} · "
        f"B ({html_text(short_name(comparison.model_b))}): EM {comparison.em_b:.1f}, F1 {comparison.f1_b:.1f} · "
        f"{comparison.questions:,} questions of {html_text(comparison.data)}"
    )
    note = (
        f"B - A in points; 95% paired bootstrap intervals ({comparison.resamples:,} resamples of the questions, "
        "both runs' scores of the same questions)"
    )
    narrowed = ""
    shown = compare.slice_figures() if compare.narrowed() else None
    if shown is not None:
        narrowed = (
            f'<div class="qa-compare-shown" style="margin-top:4px"><b>Questions on show</b> ({shown["count"]:,}): '
            f"ΔEM {_delta(shown['delta_em'], shown['delta_em_low'], shown['delta_em_high'])} · "
            f"ΔF1 {_delta(shown['delta_f1'], shown['delta_f1_low'], shown['delta_f1_high'])} · "
            + " · ".join(f"{html_text(name)} {count:,}" for name, count in shown["flips"].items())
            + "</div>"
        )
    return (
        '<div style="font-family: ui-sans-serif, system-ui, sans-serif">'
        f"{figures}<div style='color:#555; margin-top:4px'>{scores}</div>"
        f"{flip_matrix_html(comparison.flips)}"
        f"<div style='color:#555; font-size:12px'>{html_text(note)}.</div>{narrowed}</div>"
    )


class CompareHeadline(StateView):
    """Runs A and B, the button that compares them, and the figures."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        compare = self.state.compare
        self.run_a = pn.widgets.Select.from_param(compare.param.run_a, label="Run A", width=320)
        self.run_b = pn.widgets.Select.from_param(compare.param.run_b, label="Run B", width=320)
        self.job_button = JobButton(
            **self.wiring,
            job_name="run_comparison",
            label="Compare runs",
            running_text="Comparing the runs question by question…",
            action=compare.compute,
            describe=self.describe,
            follows=["compare.comparison"],
        )
        self.html = pn.pane.HTML("", sizing_mode="stretch_width")
        self.on(
            ("compare.comparison", "compare.problem", "compare.revision", "jobs.run_comparison.running"), self._redraw
        )
        self._redraw()

    def describe(self) -> str:
        comparison = self.state.compare.comparison
        if comparison is None:
            return ""
        return f"{short_name(comparison.model_b)} (B) against {short_name(comparison.model_a)} (A)."

    def _redraw(self) -> None:
        self.html.object = headline_html(self.state)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.FlexBox(self.run_a, self.run_b, sizing_mode="stretch_width"),
            self.job_button,
            self.html,
            sizing_mode="stretch_width",
        )


__all__ = ["CompareHeadline", "flip_matrix_html", "headline_html"]
