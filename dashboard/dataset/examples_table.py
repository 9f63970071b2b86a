"""The run's examples, filtered, sortable and paged; clicking one opens it in the explorer."""

from __future__ import annotations

from typing import Any

import pandas as pd
import panel as pn

from dashboard.views.state_view import StateView

COLUMNS = ["id", "title", "question", "prediction", "gold", "em", "f1", "score", "error"]


def table_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """The columns the table shows (the gold answer is the first of the gold answers)."""
    if rows.empty:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.DataFrame(
        {
            "id": rows["id"].astype(str),
            "title": rows["title"].fillna("").astype(str),
            "question": rows["question"].fillna("").astype(str),
            "prediction": rows["prediction"].fillna("").astype(str),
            "gold": rows["gold"].astype(str) if "gold" in rows else "",
            "em": rows["em"],
            "f1": rows["f1"],
            "score": rows["score"],
            "error": rows["error"].fillna("") if "error" in rows else "",
        }
    )
    return frame.reset_index(drop=True)


class ExamplesTable(StateView):
    """A Tabulator over the filtered examples; a click on a row opens that example in the explorer."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.table = pn.widgets.Tabulator(
            table_frame(self.state.dataset.filtered()),
            disabled=True,
            show_index=False,
            pagination="remote",
            page_size=20,
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
            formatters={"question": {"type": "textarea"}, "f1": {"type": "progress", "max": 1}},
            widths={"question": 320, "prediction": 180, "gold": 180},
            titles={"em": "EM", "f1": "F1"},
        )
        self.table.on_click(self._on_click)
        self.on(("dataset.revision",), self._redraw)

    def _redraw(self) -> None:
        self.table.value = table_frame(self.state.dataset.filtered())

    def _on_click(self, event: Any) -> None:
        frame = self.table.value
        if event.row is None or not 0 <= event.row < len(frame):
            return
        example_id = str(frame.iloc[event.row]["id"])
        if frame.iloc[event.row]["error"]:
            return  # an error row has no answer to explore
        try:
            self.state.open_dataset_example(example_id)
        except (KeyError, ValueError, OSError) as error:  # the run changed on disk, or the row cannot be opened
            self.state.dataset.problem = f"Example {example_id} cannot be opened: {error}"
            return
        self.state.dataset.param.update(opened=example_id, look=True)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "#### Examples\n<small>Click a row to open the example in the explorer.</small>", margin=(0, 10)
            ),
            self.table,
            sizing_mode="stretch_width",
        )
