"""The list of pairs: the flipped ones by default, or those that failed, were captured, ran, or were not made.

A family (the family table, or the chooser here) and a slice (a cell of the by-slice view) narrow it. Clicking a
pair opens it side by side below (``robustness.pair``, kept in the page URL).
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from dashboard.escaping import html_text
from dashboard.views.state_view import StateView

COLUMNS = ["id", "family", "original answer", "perturbed answer", "F1 drop", "flipped", "failed", "captured", "edit"]


def _flag(value: Any) -> str:
    return "" if value is None or value is pd.NA else ("yes" if bool(value) else "no")


def _text(column: pd.Series) -> list[str]:
    return ["" if pd.isna(value) else str(value) for value in column]


def pairs_frame(pairs: pd.DataFrame) -> pd.DataFrame:
    """The columns the list shows (a pair not made shows its reason as its edit)."""
    if pairs.empty:
        return pd.DataFrame(columns=COLUMNS)
    drops = pairs["f1_drop"].astype("Float64")
    frame = pd.DataFrame(
        {
            "id": pairs["id"].astype(str),
            "family": pairs["family"].astype(str),
            "original answer": _text(pairs["original_prediction"]),
            "perturbed answer": _text(pairs["prediction"]),
            "F1 drop": [("" if pd.isna(value) else f"{100 * float(value):+.0f}") for value in drops],
            "flipped": [_flag(value) for value in pairs["changed"]],
            "failed": [_flag(value) for value in pairs["failed"]],
            "captured": [_flag(value) for value in pairs["captured"]],
            "edit": _text(pairs["edit"].where(pairs["applied"].fillna(False).astype(bool), pairs["reason"])),
        }
    )
    return frame.reset_index(drop=True)


class PairList(StateView):
    """The pairs on show; a click opens one side by side."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        robustness = self.state.robustness
        self.show = pn.widgets.Select.from_param(robustness.param.show, label="Show", width=240)
        self.family = pn.widgets.Select.from_param(robustness.param.family, label="Family", width=220)
        self.every = pn.widgets.Button(label="Every slice", width=120, margin=(28, 10, 10, 10))
        self.every.on_click(lambda _event: setattr(robustness, "slice", ""))
        self.note = pn.pane.HTML("", margin=(0, 10), styles={"color": "#555"})
        self.table = pn.widgets.Tabulator(
            pairs_frame(pd.DataFrame()),
            disabled=True,
            show_index=False,
            pagination="remote",
            page_size=15,
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
            widths={"edit": 360, "original answer": 160, "perturbed answer": 160},
        )
        self.table.on_click(self._on_click)
        self.on(("robustness.revision",), self._redraw)
        self._redraw()

    def _redraw(self) -> None:
        robustness = self.state.robustness
        shown = robustness.filtered()
        self.table.value = pairs_frame(shown)
        within = f" in the slice <b>{html_text(robustness.slice)}</b>" if robustness.slice else ""
        self.every.visible = bool(robustness.slice)
        self.note.object = f"{len(shown):,} of {len(robustness.pairs()):,} pairs{within}."

    def _on_click(self, event: Any) -> None:
        frame = self.table.value
        if event.row is None or not 0 <= event.row < len(frame):
            return
        self.state.robustness.pair = str(frame.iloc[event.row]["id"])

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "#### Pairs\n<small>Click a pair to see the original and the perturbed copy side by side.</small>",
                margin=(0, 10),
            ),
            pn.FlexBox(self.show, self.family, self.every, sizing_mode="stretch_width"),
            self.note,
            self.table,
            sizing_mode="stretch_width",
        )


__all__ = ["COLUMNS", "PairList", "pairs_frame"]
