"""Where B lost against A: the regressed groups first, then every saved slice; each one a click from the slice.

The regressions are ``RunComparison.regressions``: the failure-group finder run on each question's drop in F1 (A's
F1 minus B's), so each group is a set of questions where B lost more than on the rest. The saved slices are those
of either run's ``slices.json`` with their ΔEM and ΔF1. Clicking either makes its expression the page's slice;
the flip filter and a typed expression narrow the page too.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from dashboard.escaping import html_text
from dashboard.views.job_button import ERROR_COLOR
from dashboard.views.state_view import StateView
from dashboard.views.widgets import TextLine

REGRESSION_COLUMNS = ["group", "questions", "F1 drop inside", "F1 drop outside", "adjusted p", "expression"]
SLICE_COLUMNS = ["slice", "questions", "EM A", "EM B", "ΔEM", "ΔF1", "ΔF1 95%", "expression"]


def _points(value: float | None) -> str:
    return "–" if value is None else f"{value:+.1f}"


def regressions_frame(comparison: Any) -> pd.DataFrame:
    """One row per regressed group (mean F1 drop B vs A, in points, inside and outside it)."""
    if comparison is None or not comparison.regressions.groups:
        return pd.DataFrame(columns=REGRESSION_COLUMNS)
    return pd.DataFrame(
        [
            {
                "group": group.description,
                "questions": group.count,
                "F1 drop inside": f"{100 * group.rate:.1f}",
                "F1 drop outside": f"{100 * group.rest_rate:.1f}",
                "adjusted p": f"{group.adjusted_p_value:.2g}",
                "expression": group.expression,
            }
            for group in comparison.regressions.groups
        ],
        columns=REGRESSION_COLUMNS,
    )


def slices_frame(comparison: Any) -> pd.DataFrame:
    """One row per saved slice of either run, regressions (lowest ΔF1) first."""
    if comparison is None or not comparison.slices:
        return pd.DataFrame(columns=SLICE_COLUMNS)
    rows = []
    for item in comparison.slices:
        interval = "–" if item.delta_f1_low is None else f"[{item.delta_f1_low:+.1f}, {item.delta_f1_high:+.1f}]"
        rows.append(
            {
                "slice": item.name,
                "questions": item.count,
                "EM A": "–" if item.em_a is None else f"{item.em_a:.1f}",
                "EM B": "–" if item.em_b is None else f"{item.em_b:.1f}",
                "ΔEM": _points(item.delta_em),
                "ΔF1": _points(item.delta_f1),
                "ΔF1 95%": interval,
                "expression": item.expression,
            }
        )
    return pd.DataFrame(rows, columns=SLICE_COLUMNS)


def _table(frame: pd.DataFrame) -> pn.widgets.Tabulator:
    return pn.widgets.Tabulator(
        frame,
        disabled=True,
        show_index=False,
        layout="fit_data_stretch",
        sizing_mode="stretch_width",
        widths={"group": 300, "slice": 200, "expression": 320},
    )


class CompareSlices(StateView):
    """The flip filter and a slice of the questions; the regressed groups and the saved slices to click."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        compare = self.state.compare
        self.flip = pn.widgets.Select.from_param(compare.param.flip, label="Flip", width=180)
        self.expression = TextLine.from_param(
            compare.param.expression, label="Slice of the questions", sizing_mode="stretch_width"
        )
        self.clear = pn.widgets.Button(label="Every question", width=140, margin=(28, 10, 10, 10))
        self.clear.on_click(lambda _event: compare.clear())
        self.error = pn.pane.HTML("", margin=(0, 10), sizing_mode="stretch_width")
        self.regressions = _table(regressions_frame(None))
        self.regressions.on_click(self._on_regression)
        self.saved = _table(slices_frame(None))
        self.saved.on_click(self._on_saved)
        self.on(("compare.comparison",), self._redraw)
        self.on(("compare.expression_error",), self._show_error)
        self._redraw()
        self._show_error()

    def _redraw(self) -> None:
        comparison = self.state.compare.comparison
        self.regressions.value = regressions_frame(comparison)
        self.saved.value = slices_frame(comparison)

    def _show_error(self) -> None:
        error = self.state.compare.expression_error
        self.error.object = f'<div style="color:{ERROR_COLOR}">{html_text(error)}</div>' if error else ""

    def _on_regression(self, event: Any) -> None:
        comparison = self.state.compare.comparison
        if comparison is None or event.row is None or not 0 <= event.row < len(comparison.regressions.groups):
            return
        self.state.compare.use_slice(comparison.regressions.groups[int(event.row)].expression)

    def _on_saved(self, event: Any) -> None:
        comparison = self.state.compare.comparison
        if comparison is None or event.row is None or not 0 <= event.row < len(comparison.slices):
            return
        self.state.compare.use_slice(comparison.slices[int(event.row)].expression)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "#### Where B lost\n<small>Groups of questions where B's F1 dropped more than on the rest "
                "(Holm-adjusted), then the runs' saved slices. Click one to narrow the page to it.</small>",
                margin=(0, 10),
            ),
            self.regressions,
            pn.pane.Markdown("#### Saved slices\n<small>Slices saved in either run, B - A.</small>", margin=(0, 10)),
            self.saved,
            pn.FlexBox(self.flip, self.expression, self.clear, sizing_mode="stretch_width"),
            self.error,
            sizing_mode="stretch_width",
        )


__all__ = ["REGRESSION_COLUMNS", "SLICE_COLUMNS", "CompareSlices", "regressions_frame", "slices_frame"]
