"""The questions on show: F1 in A against F1 in B, and a table whose rows open in the explorer with both models.

The scatter is hvPlot over the filtered questions, as the Dataset page's scatters are, rasterized by Datashader
beyond ``RASTERIZE_ABOVE`` points. A click on a row of the table answers that question with run A's model in the
explorer and starts the side-by-side comparison with run B's (``ExplorerState.open_compared_example``).
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers DataFrame.hvplot)
import pandas as pd
import panel as pn

from dashboard.dataset.scatters import RASTERIZE_ABOVE
from dashboard.theme import ANSWER_COLOR, OUTSIDE_COLOR, SELECTION_COLOR
from dashboard.views.plotting import DEFAULT_TOOLS
from dashboard.views.state_view import StateView

COLUMNS = ["id", "flip", "question", "prediction A", "prediction B", "F1 A", "F1 B", "title"]
FLIP_COLORS = {"both right": ANSWER_COLOR, "A only": SELECTION_COLOR, "B only": "#3b6fb6", "both wrong": OUTSIDE_COLOR}
"""A flip has the same colour whichever flips the questions on show have."""


def questions_frame(examples: pd.DataFrame) -> pd.DataFrame:
    """The columns the table shows."""
    if examples.empty:
        return pd.DataFrame(columns=COLUMNS)
    return pd.DataFrame(
        {
            "id": examples["id"].astype(str),
            "flip": examples["flip"].astype(str),
            "question": examples["question"].fillna("").astype(str),
            "prediction A": examples["prediction_a"].fillna("").astype(str),
            "prediction B": examples["prediction_b"].fillna("").astype(str),
            "F1 A": examples["f1_a"],
            "F1 B": examples["f1_b"],
            "title": examples["title"].fillna("").astype(str),
        }
    ).reset_index(drop=True)


def f1_scatter(examples: pd.DataFrame) -> Any:
    """F1 in A (x) against F1 in B (y), one point per question coloured by its flip (an image beyond the limit)."""
    frame = examples[["f1_a", "f1_b", "id"]].assign(flip=examples["flip"].astype(str))
    options = {
        "x": "f1_a",
        "y": "f1_b",
        "xlabel": "F1 in A",
        "ylabel": "F1 in B",
        "height": 320,
        "responsive": True,
        "xlim": (-0.05, 1.05),
        "ylim": (-0.05, 1.05),
    }
    if len(frame) > RASTERIZE_ABOVE:
        plot = frame.hvplot.points(rasterize=True, cmap="Blues", **options)
    else:
        plot = frame.hvplot.scatter(c="flip", cmap=FLIP_COLORS, alpha=0.5, size=20, hover_cols=["id"], **options)
    return plot.opts(default_tools=DEFAULT_TOOLS) if isinstance(plot, hv.Element) else plot


class CompareQuestions(StateView):
    """The scatter of F1 A against F1 B and the table of the questions on show."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.scatter = pn.pane.HoloViews(None, sizing_mode="stretch_width")
        self.table = pn.widgets.Tabulator(
            questions_frame(pd.DataFrame()),
            disabled=True,
            show_index=False,
            pagination="remote",
            page_size=20,
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
            formatters={"question": {"type": "textarea"}},
            widths={"question": 320, "prediction A": 180, "prediction B": 180},
        )
        self.table.on_click(self._on_click)
        self.on(("compare.revision",), self._redraw)
        self._redraw()

    def _redraw(self) -> None:
        shown = self.state.compare.filtered()
        self.table.value = questions_frame(shown)
        self.scatter.object = None if shown.empty else f1_scatter(shown)

    def _on_click(self, event: Any) -> None:
        frame = self.table.value
        if event.row is None or not 0 <= event.row < len(frame):
            return
        example_id = str(frame.iloc[event.row]["id"])
        compare = self.state.compare
        try:
            self.state.open_compared_example(example_id)
        except (KeyError, ValueError, OSError) as error:  # the runs changed on disk, or the row cannot be opened
            compare.problem = f"Question {example_id} cannot be opened: {error}"
            return
        compare.param.update(opened=example_id, look=True)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "#### Questions\n<small>Click a row to answer it in the explorer with model A, model B beside it "
                "(Trust · Models side by side).</small>",
                margin=(0, 10),
            ),
            self.scatter,
            self.table,
            sizing_mode="stretch_width",
        )


__all__ = ["COLUMNS", "FLIP_COLORS", "CompareQuestions", "f1_scatter", "questions_frame"]
