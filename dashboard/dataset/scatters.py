"""Two scatter plots over the run's examples whose box selection filters the example table.

Score against F1 shows confident mistakes (high score, F1 0); the saliency shares show how much of
a method's attribution falls on the question and on the predicted span, wrong answers in orange.
Drawn with hvPlot over the run's scalar columns; beyond ``RASTERIZE_ABOVE`` points Datashader
rasterizes them, so a 100k-example run sends an image, not 100k glyphs.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers DataFrame.hvplot)
import pandas as pd
import panel as pn

from dashboard.theme import ANSWER_COLOR, OUTSIDE_COLOR, SELECTION_COLOR
from dashboard.views.plotting import DEFAULT_TOOLS
from dashboard.views.state_view import StateView

RASTERIZE_ABOVE = 20_000
"""Examples beyond which the scatters are rasterized (Datashader) instead of drawn point by point."""


OUTCOME_COLORS = {"right": ANSWER_COLOR, "wrong": SELECTION_COLOR, "failed": OUTSIDE_COLOR}
"""The same colour for an outcome whichever outcomes the run has."""


def _outcome(rows: pd.DataFrame) -> pd.Series:
    return rows["correct"].map({True: "right", False: "wrong"}).fillna("failed")


class RunScatters(StateView):
    """Score vs F1 and saliency on question vs on the predicted span; a box drawn on either filters the table."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.score_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width")
        self.share_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width")
        self.streams: dict[str, hv.streams.BoundsXY] = {}
        self.on(("dataset.run", "dataset.share_method"), self._rebuild)
        self._rebuild()

    def _scatter(self, rows: pd.DataFrame, x: str, y: str, xlabel: str, ylabel: str) -> Any:
        frame = rows.assign(outcome=_outcome(rows))[[x, y, "outcome", "id"]].dropna(subset=[x, y])
        options = {
            "x": x,
            "y": y,
            "xlabel": xlabel,
            "ylabel": ylabel,
            "height": 300,
            "responsive": True,
            "tools": ["box_select"],
            "active_tools": ["box_select"],
        }
        if len(frame) > RASTERIZE_ABOVE:
            plot = frame.hvplot.points(rasterize=True, cmap="Blues", **options)
        else:
            plot = frame.hvplot.scatter(
                c="outcome",
                cmap=OUTCOME_COLORS,
                alpha=0.6,
                size=18,
                hover_cols=["id"],
                **options,
            )
        return plot.opts(default_tools=DEFAULT_TOOLS) if isinstance(plot, hv.Element) else plot

    def _rebuild(self) -> None:
        dataset = self.state.dataset
        rows = dataset.rows
        self.streams = {}
        if dataset.run is None or rows.empty:
            self.score_pane.object = None
            self.share_pane.object = None
            return
        score = self._scatter(rows, "score", "f1", "score (P(start) × P(end))", "F1")
        self.score_pane.object = self._boxed(score, "score", "f1")
        if dataset.share_method:
            question = f"saliency_question_share.{dataset.share_method}"
            answer = f"saliency_answer_share.{dataset.share_method}"
            shares = self._scatter(rows, question, answer, "share on the question", "share on the predicted span")
            self.share_pane.object = self._boxed(shares, question, answer)
        else:
            self.share_pane.object = None

    def _boxed(self, plot: Any, x: str, y: str) -> Any:
        stream = hv.streams.BoundsXY(source=plot, transient=True)
        stream.add_subscriber(lambda bounds=None, x=x, y=y: self._on_box(x, y, bounds))
        self.streams[f"{x}|{y}"] = stream
        return plot

    def _on_box(self, x: str, y: str, bounds: tuple[float, float, float, float] | None) -> None:
        if bounds is not None:
            self.state.dataset.box = {"x": x, "y": y, "bounds": tuple(float(b) for b in bounds)}

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "#### Where the model fails\n<small>Box-select points to filter the table "
                "(green: right, orange: wrong, grey: failed to run).</small>",
                margin=(0, 10),
            ),
            pn.GridBox(self.score_pane, self.share_pane, ncols=2, sizing_mode="stretch_width"),
            pn.widgets.Select.from_param(self.state.dataset.param.share_method, label="Saliency shares of", width=300),
            sizing_mode="stretch_width",
        )
