"""Where the answer forms: start or end probabilities per layer and token, with each layer's picked span.

Rows are depths (0: the embeddings, then each transformer layer), columns the window's token
positions; colour is the probability the QA head gives each token as the answer's start (or end)
when applied to that depth's hidden states (van Aken et al., 2019). A black box marks the span the
head would pick at each depth; the dashed green box is the model's final answer, orange boxes the
selection. A line below shows how much probability the final answer already has at each depth.
Tap a cell or box-select to select tokens.

This view is cheap (the logits are in the ``Explanation`` already): it needs no button.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
import panel as pn

from dashboard.escaping import markdown_text
from dashboard.theme import ANSWER_COLOR, SELECTION_COLOR
from dashboard.views.plotting import DEFAULT_TOOLS, clean_positions, label_axis_hook, runs, select_positions_between
from dashboard.views.state_view import StateView


class LayerwiseView(StateView):
    """Layer x token heatmap of start/end probabilities, each layer's picked span outlined."""

    title = "Where the answer forms: the QA head on every layer"
    description = (
        "The model's QA head applied to each layer's hidden states (van Aken et al., 2019). Black boxes: the span it "
        "would pick at that depth; dashed green: the final answer; orange: the selection. Tap or box-select to "
        "select tokens."
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.heatmap_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width", linked_axes=False)
        self.line_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width", linked_axes=False)
        self.summary = pn.pane.Markdown("", margin=(0, 10), styles={"color": "#444"})
        self.on(("trust.layers.report",), self.redraw)
        self.redraw()

    @property
    def result(self) -> Any:
        return self.state.trust.layers

    @property
    def labels(self) -> list[str]:
        if self.state.result.explanation is not None:
            return self.state.result.token_labels()
        count = 0 if self.result.report is None else self.result.report.start_probs.shape[1]
        return [str(i) for i in range(count)]

    # ---------------------------------------------------------------- drawing

    def redraw(self) -> None:
        """Drop what the last drawing followed, then draw the report on show."""
        self.release_drawing()
        report = self.result.report
        if report is None:
            self.heatmap_pane.object = None
            self.line_pane.object = None
            self.summary.object = "Run a question first."
            return
        forms = report.answer_forms_at
        final = report.spans[-1]
        tokens = f"tokens {final.start_token}–{final.end_token - 1}"
        self.summary.object = f"Final answer “{markdown_text(final.text)}” ({tokens}). " + (
            f"Every layer from **{'the embeddings' if forms == 0 else f'layer {forms}'}** on picks it."
            if forms is not None
            else "Not even the last layer's head picks it (it lies in a span the decoder skipped)."
        )
        count = report.start_probs.shape[1]
        layers = report.start_probs.shape[0]
        self.image = self.dynamic(self._image, "trust.layers.target")
        self.bands = self.dynamic(self._bands, "selection.tokens")
        self.tap = hv.streams.Tap(source=self.image, transient=True)
        self.tap.add_subscriber(self._on_tap)
        self.box = hv.streams.BoundsXY(source=self.image, transient=True)
        self.box.add_subscriber(self._on_box)
        hook = label_axis_hook(self.labels, hover_fields=("$x",))
        answer = hv.Rectangles([(final.start_token - 0.5, -0.5, final.end_token - 0.5, layers - 0.5)]).opts(
            fill_alpha=0, line_color=ANSWER_COLOR, line_width=3, line_dash="dashed"
        )
        self.heatmap_pane.object = (self.image * answer * self._spans() * self.bands).opts(
            hv.opts.Image(
                cmap="Blues",
                colorbar=True,
                responsive=True,
                height=80 + 34 * layers,
                xlabel="token",
                ylabel="layer (0 = embeddings)",
                yticks=[(i, "emb" if i == 0 else str(i)) for i in range(layers)],
                xrotation=90,
                tools=["hover", "tap", "box_select"],
                active_tools=["box_select"],
                default_tools=DEFAULT_TOOLS,
                hover_tooltips=[("token", "$x{custom}"), ("layer", "$y{0}"), ("probability", "@image{0.0000}")],
                hooks=[hook],
                xlim=(-0.5, count - 0.5),
                ylim=(-0.5, layers - 0.5),
            )
        )
        probability = hv.Curve(
            ([s.layer for s in report.spans], [s.answer_probability for s in report.spans]),
            "layer",
            "P(final answer)",
            label="final answer's span",
        ).opts(color=ANSWER_COLOR, line_width=2)
        picked = hv.Curve(
            ([s.layer for s in report.spans], [s.score for s in report.spans]),
            "layer",
            "P(final answer)",
            label="picked span",
        ).opts(color="black", line_dash="dashed")
        self.line_pane.object = (probability * picked * hv.Scatter(probability).opts(color=ANSWER_COLOR, size=6)).opts(
            title="Probability of the final answer's span at each depth",
            height=200,
            responsive=True,
            xticks=[(i, "emb" if i == 0 else str(i)) for i in range(layers)],
            ylabel="P(start) × P(end)",
            legend_position="right",
            tools=["hover"],
            show_grid=True,
        )

    def _image(self, target: str) -> hv.Image:
        report = self.result.report
        values = report.start_probs if target == "start" else report.end_probs
        count = values.shape[1]
        return hv.Image(
            (np.arange(count), np.arange(values.shape[0]), values.astype(np.float32)),
            kdims=["token", "layer"],
            vdims=["probability"],
        ).opts(title=f"P(answer {target}) per layer and token")

    def _spans(self) -> hv.Rectangles:
        spans = self.result.report.spans
        boxes = [(s.start_token - 0.5, s.layer - 0.45, s.end_token - 0.5, s.layer + 0.45) for s in spans]
        return hv.Rectangles(boxes).opts(fill_alpha=0, line_color="black", line_width=2)

    def _bands(self, tokens: list[int]) -> hv.Rectangles:
        """The selected tokens outlined over every layer (a fill would change the heatmap's colours)."""
        report = self.result.report
        count, layers = report.start_probs.shape[1], report.start_probs.shape[0]
        positions = clean_positions(tokens, count)
        boxes = [(first - 0.5, -0.5, last + 0.5, layers - 0.5) for first, last in runs(positions)]
        return hv.Rectangles(boxes).opts(
            fill_color=SELECTION_COLOR, fill_alpha=0.12, line_color=SELECTION_COLOR, line_width=3
        )

    # ---------------------------------------------------------------- interaction

    def _on_tap(self, x: float | None = None, y: float | None = None) -> None:
        report = self.result.report
        if x is None or report is None:
            return
        position = int(round(x))
        if 0 <= position < report.start_probs.shape[1]:
            self.state.select([position])

    def _on_box(self, bounds: tuple[float, float, float, float] | None = None) -> None:
        report = self.result.report
        if bounds is None or report is None:
            return
        left, _bottom, right, _top = bounds
        self.state.select(select_positions_between(left, right, range(report.start_probs.shape[1])))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(f"#### {self.title}\n<small>{self.description}</small>", margin=(0, 10)),
            pn.widgets.RadioButtonGroup.from_param(self.result.param.target),
            self.summary,
            self.heatmap_pane,
            self.line_pane,
            sizing_mode="stretch_width",
        )


__all__ = ["LayerwiseView"]
