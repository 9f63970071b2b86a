"""The family table: one row per perturbation family with its flip, failure and capture rates and its F1 drop.

Clicking a family lists its pairs (the pair list below narrows to it).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from dashboard.robustness.summary import rate_text
from dashboard.views.state_view import StateView

COLUMNS = [
    "family",
    "kind",
    "expectation",
    "pairs",
    "flip rate",
    "failure rate",
    "capture",
    "F1 drop",
    "saliency on inserted text",
    "not made",
]


def _drop(entry: dict[str, Any] | None) -> str:
    if not entry or entry.get("mean") is None:
        return "–"
    return f"{entry['mean']:+.1f} [{entry['low']:+.1f}, {entry['high']:+.1f}]"


def _skipped(figures: dict[str, Any]) -> str:
    if not figures.get("skipped"):
        return "0"
    reasons = figures.get("skip_reasons") or {}
    top = next(iter(reasons), "")
    return f"{figures['skipped']}" + (f" ({top})" if top else "")


def families_frame(families: list[dict[str, Any]]) -> pd.DataFrame:
    """The table's rows (``summary.json``'s ``families``), rates as text with their intervals and counts."""
    rows = [
        {
            "family": figures["family"],
            "kind": figures.get("kind", ""),
            "expectation": figures.get("expectation", ""),
            "pairs": f"{figures.get('applied', 0) - figures.get('errors', 0)} of {figures.get('tried', 0)}",
            "flip rate": rate_text(figures.get("flip")),
            "failure rate": rate_text(figures.get("failure")),
            "capture": rate_text(figures.get("capture")),
            "F1 drop": _drop(figures.get("f1_drop")),
            "saliency on inserted text": "–"
            if figures.get("region_share") is None
            else f"{100 * figures['region_share']:.0f}%",
            "not made": _skipped(figures),
        }
        for figures in families
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


class FamilyTable(StateView):
    """The suite's families; a click on one lists its pairs."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.table = pn.widgets.Tabulator(
            families_frame([]),
            disabled=True,
            show_index=False,
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
            widths={"expectation": 220, "not made": 260},
        )
        self.table.on_click(self._on_click)
        self.on(("robustness.suite", "robustness.suites"), self._redraw)
        self._redraw()

    def _redraw(self) -> None:
        self.table.value = families_frame(self.state.robustness.families())

    def _on_click(self, event: Any) -> None:
        frame = self.table.value
        if event.row is None or not 0 <= event.row < len(frame):
            return
        self.state.robustness.narrow(family=str(frame.iloc[event.row]["family"]))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "#### Families\n<small>Pairs: those that ran, of those tried. F1 drop: the original's F1 minus "
                "the copy's, in points (families that keep the gold answer). Click a family to list its "
                "pairs.</small>",
                margin=(0, 10),
            ),
            self.table,
            sizing_mode="stretch_width",
        )


__all__ = ["COLUMNS", "FamilyTable", "families_frame"]
