"""Failure groups: where the model fails most beyond its average, found on request; a click makes one the slice.

``core.dataset.find_failure_groups(run.rows)`` tries the QA metadata's and the run's features alone and in pairs,
tests each against the rest (Fisher's exact test, Holm-adjusted over every candidate tried) and lists the
significant groups, largest excess first. It takes seconds on a 100k-example run, so it runs as the state's
``failure_groups`` job on the background runner (the button), never on the page's thread.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from dashboard.views.job_button import JobButton
from dashboard.views.state_view import StateView

COLUMNS = ["group", "questions", "error rate", "rest", "adjusted p", "expression"]


def groups_frame(report: Any) -> pd.DataFrame:
    """One row per group: its words, size, error rate inside and outside, adjusted p and expression."""
    if report is None or not report.groups:
        return pd.DataFrame(columns=COLUMNS)
    return pd.DataFrame(
        [
            {
                "group": group.description,
                "questions": group.count,
                "error rate": f"{100 * group.rate:.1f}%",
                "rest": f"{100 * group.rest_rate:.1f}%",
                "adjusted p": f"{group.adjusted_p_value:.2g}",
                "expression": group.expression,
            }
            for group in report.groups
        ],
        columns=COLUMNS,
    )


class FailureGroups(StateView):
    """The finder's button and its groups; clicking a group makes it the active slice (named, ready to save)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        dataset = self.state.dataset
        self.job_button = JobButton(
            **self.wiring,
            job_name="failure_groups",
            label="Find failure groups",
            running_text="Looking for groups that fail more than the rest…",
            action=dataset.find_groups,
            describe=self.describe,
            follows=["dataset.groups"],
        )
        self.table = pn.widgets.Tabulator(
            groups_frame(None),
            disabled=True,
            show_index=False,
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
            widths={"group": 320, "expression": 320},
        )
        self.table.on_click(self._on_click)
        # The table joins the page only once there are groups to list: a table the browser builds, lays out and
        # tears down on every page switch costs the page even while empty.
        self.body = pn.Column(sizing_mode="stretch_width")
        self.on(("dataset.groups",), self._redraw)
        self._redraw()

    def describe(self) -> str:
        report = self.state.dataset.groups
        if report is None:
            return "Which kinds of question does the model fail more than the rest?"
        if not report.groups:
            return (
                f"No group fails significantly more than the rest ({report.tried:,} candidates of at least "
                f"{report.min_support:,} questions tried, Holm-adjusted)."
            )
        groups = "1 group fails" if len(report.groups) == 1 else f"{len(report.groups)} groups fail"
        return (
            f"{groups} significantly more than the rest ({report.tried:,} candidates tried, "
            f"p Holm-adjusted; overall error rate {100 * report.overall_rate:.1f}%). Click one to make it the slice."
        )

    def _redraw(self) -> None:
        frame = groups_frame(self.state.dataset.groups)
        self.table.value = frame
        shown = [self.table] if len(frame) else []
        if self.body.objects != shown:
            self.body.objects = shown

    def _on_click(self, event: Any) -> None:
        report = self.state.dataset.groups
        if report is None or event.row is None or not 0 <= event.row < len(report.groups):
            return
        self.state.dataset.open_group(int(event.row))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "#### Failure groups\n<small>Groups of questions (by the QA metadata and the run's scores) whose "
                "error rate stands out against the rest's.</small>",
                margin=(0, 10),
            ),
            self.job_button,
            self.body,
            sizing_mode="stretch_width",
        )


__all__ = ["COLUMNS", "FailureGroups", "groups_frame"]
