"""Two scatter plots over the active slice's examples; a box drawn on either narrows the slice further.

Score against F1 shows confident mistakes (high score, F1 0); the saliency shares show how much of
a method's attribution falls on the question and on the predicted span, wrong answers in orange.
Drawn with hvPlot over the run's scalar columns. They show the slice without the box drawn on them
(``DatasetState.points``), so the box selects among the points rather than hiding the others.

A new slice redraws the points in the same figure (a DynamicMap following the state's
``points_revision``), never a new figure: replacing both figures of the grid at once left the browser's grid
layout with a child it had not built yet (a page error on every filter change). Up to ``RASTERIZE_ABOVE``
examples the points are drawn one by one, coloured by outcome; beyond it Datashader rasterizes them, so a
100k-example run sends an image, not 100k glyphs.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import hvplot.pandas  # noqa: F401  (registers DataFrame.hvplot)
import numpy as np
import pandas as pd
import panel as pn
from holoviews.operation.datashader import rasterize

from dashboard.theme import ANSWER_COLOR, OUTSIDE_COLOR, SELECTION_COLOR
from dashboard.views.plotting import DEFAULT_TOOLS
from dashboard.views.state_view import StateView

RASTERIZE_ABOVE = 20_000
"""Examples beyond which the scatters are rasterized (Datashader) instead of drawn point by point."""


OUTCOME_COLORS = {"right": ANSWER_COLOR, "wrong": SELECTION_COLOR, "failed": OUTSIDE_COLOR}
"""The same colour for an outcome whichever outcomes the run has."""


def _outcome(rows: pd.DataFrame) -> np.ndarray:
    correct = rows["correct"]
    right = correct.fillna(False).to_numpy(dtype=bool)
    return np.where(correct.isna().to_numpy(), "failed", np.where(right, "right", "wrong")).astype(object)


def points_frame(rows: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """The columns a scatter draws, as NumPy arrays (HoloViews walks Arrow-backed text one Python object at a time)."""
    frame = pd.DataFrame(
        {
            x: rows[x].to_numpy(dtype=float, na_value=np.nan),
            y: rows[y].to_numpy(dtype=float, na_value=np.nan),
            "id": rows["id"].to_numpy(dtype=object),
            "outcome": _outcome(rows),
        }
    )
    return frame.dropna(subset=[x, y])


def _options(x: str, y: str, xlabel: str, ylabel: str) -> dict[str, Any]:
    return {"x": x, "y": y, "xlabel": xlabel, "ylabel": ylabel, "height": 300, "responsive": True}


TOOLS = {"tools": ["box_select"], "active_tools": ["box_select"]}
"""Box select, on from the start. As HoloViews options: hvPlot drops ``active_tools`` with a warning."""


class RunScatters(StateView):
    """Score vs F1 and saliency on question vs on the predicted span; a box drawn on either narrows the slice."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.score_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width")
        self.share_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width")
        self.streams: dict[str, hv.streams.BoundsXY] = {}
        self.rasterized = False
        self.on(("dataset.run", "dataset.share_method"), self._rebuild)
        self._rebuild()

    def _scatter(self, rows: pd.DataFrame, x: str, y: str, xlabel: str, ylabel: str) -> Any:
        """These rows drawn once: point by point, or rasterized beyond ``RASTERIZE_ABOVE``."""
        frame = points_frame(rows, x, y)
        options = _options(x, y, xlabel, ylabel)
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
        plot = plot.opts(**TOOLS)
        return plot.opts(default_tools=DEFAULT_TOOLS) if isinstance(plot, hv.Element) else plot

    def _following(self, x: str, y: str, xlabel: str, ylabel: str) -> Any:
        """A large run's scatter of the slice, re-aggregated in place whenever the slice changes."""

        def points(points_revision: int) -> hv.Points:
            # Two plain arrays: hvPlot's overhead and the ids (no hover on an image) were most of a redraw.
            rows = self.state.dataset.points([x, y])
            xs, ys = (rows[name].to_numpy(dtype=float, na_value=np.nan) for name in (x, y))
            drawn = np.isfinite(xs) & np.isfinite(ys)
            return hv.Points((xs[drawn], ys[drawn]), kdims=[x, y]).opts(xlabel=xlabel, ylabel=ylabel)

        rasterized = rasterize(self.dynamic(points, "dataset.points_revision"))
        return rasterized.opts(
            cmap="Blues", colorbar=True, height=300, responsive=True, default_tools=DEFAULT_TOOLS, **TOOLS
        )

    def _scattered(self, x: str, y: str, xlabel: str, ylabel: str) -> Any:
        """A small run's scatter of the slice, point by point, redrawn in the same figure whenever the slice changes."""

        def points(points_revision: int) -> Any:
            return self._scatter(self.state.dataset.points([x, y, "id", "correct"]), x, y, xlabel, ylabel)

        return self.dynamic(points, "dataset.points_revision")

    def _draw(self, x: str, y: str, xlabel: str, ylabel: str) -> Any:
        drawn = self._following if self.rasterized else self._scattered
        return self._boxed(drawn(x, y, xlabel, ylabel), x, y)

    def _rebuild(self) -> None:
        self.release_drawing()
        dataset = self.state.dataset
        self.streams = {}
        if dataset.run is None or dataset.rows.empty:
            self.score_pane.object = None
            self.share_pane.object = None
            return
        self.rasterized = len(dataset.rows) > RASTERIZE_ABOVE
        self.score_pane.object = self._draw("score", "f1", "score (P(start) × P(end))", "F1")
        if dataset.share_method:
            question = f"saliency_question_share.{dataset.share_method}"
            answer = f"saliency_answer_share.{dataset.share_method}"
            self.share_pane.object = self._draw(
                question, answer, "share on the question", "share on the predicted span"
            )
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
