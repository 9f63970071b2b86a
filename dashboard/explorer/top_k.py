"""The top-k candidate answers as a table; clicking a row selects its tokens."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn
import param

from dashboard.state import ExplorerState
from dashboard.views.state_view import StateView

COLUMNS = ["#", "answer", "score", "tokens"]


def top_k_frame(state: ExplorerState) -> pd.DataFrame:
    explanation = state.result.explanation
    if explanation is None:
        return pd.DataFrame(columns=COLUMNS)
    rows = []
    for rank, span in enumerate(explanation.top_k, start=1):
        here = span.window == explanation.window_index
        rows.append(
            {
                "#": rank,
                "answer": span.text,
                "score": f"{span.score:.3g}",
                "tokens": f"{span.start_token}–{span.end_token - 1}" if here else f"window {span.window + 1}",
            }
        )
    return pd.DataFrame(rows, columns=COLUMNS)


class TopKTable(StateView):
    """Candidate answers, best first. A row's tokens become the selection (when in the window shown)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.table = pn.widgets.Tabulator(
            top_k_frame(self.state),
            disabled=True,
            selectable=1,
            show_index=False,
            layout="fit_columns",
            sizing_mode="stretch_width",
            max_height=230,
            widths={"#": 36, "score": 92, "tokens": 84},
            formatters={"answer": {"type": "textarea"}},
            configuration={"columnDefaults": {"headerSort": False}},
        )
        self.table.param.watch(self._on_rows, ["selection"])
        self.on(("result.result_id",), self._redraw)

    def _redraw(self) -> None:
        self.table.selection = []
        self.table.value = top_k_frame(self.state)

    def _on_rows(self, event: param.parameterized.Event) -> None:
        explanation = self.state.result.explanation
        if explanation is None or not event.new:
            return
        row = event.new[0]
        if row >= len(explanation.top_k):
            return
        span = explanation.top_k[row]
        if span.window != explanation.window_index:
            return  # its tokens are in another window than the one explained
        self.state.select(range(span.start_token, span.end_token))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown("#### Top answers", margin=(0, 10)),
            pn.pane.Markdown(
                "<small>Click a row to select its tokens in every plot.</small>",
                margin=(0, 10),
                styles={"color": "#666"},
            ),
            self.table,
            sizing_mode="stretch_width",
        )
