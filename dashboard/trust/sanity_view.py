"""The randomisation sanity check: rank correlation with the original map as the model is randomised top down.

One line per saliency method: Spearman's rho between its map on the trained model and on a copy
whose QA head, then layers from the last to the first, then embeddings are re-initialised
(Adebayo et al., 2018). A method whose line stays high does not depend on what the model learnt;
it is flagged (red, crosses). Tap a step to compare, below, the method's map before and after it.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
import panel as pn

from dashboard.labels import choices, label
from dashboard.theme import FLAG_COLOR, SELECTION_COLOR, explainer_color
from dashboard.trust.base import TrustView
from dashboard.views.plotting import (
    DEFAULT_TOOLS,
    PLOT_HEIGHT,
    clean_positions,
    label_axis_hook,
    position_bars,
    select_positions_between,
    selection_bands,
)


class SanityView(TrustView):
    """Correlation with the original map after each randomisation step, per method; flagged methods marked."""

    part_name = "sanity"
    button_label = "Run the sanity check"
    title = "Sanity check: randomise the model, top down"
    description = (
        "Each step re-initialises one more part of a copy of the model (QA head, then layers from the top, then the "
        "embeddings) and recomputes the maps. A faithful method's map should change: its correlation with the "
        "original should fall. Red crosses: still correlated (≥ threshold) once every layer is random."
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.lines_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width", linked_axes=False)
        # Two panes rather than one hv.Layout: a Bokeh grid of stretch-width plots collapses inside Tabs.
        self.original_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width")
        self.after_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width")
        self.summary = pn.pane.Markdown("", margin=(0, 10), styles={"color": "#444"})
        self.on(("result.result_id",), self._on_new_explanation)
        self.redraw()

    def describe(self) -> str:
        report = self.result.report
        return "" if report is None else f"{len(report.steps)} randomisation steps in {report.seconds:.1f} s."

    @property
    def shown_step(self) -> int:
        report, step = self.result.report, self.result.step
        if report is None:
            return 0
        if step is None or not 0 <= step < len(report.steps):
            return len(report.steps) - 1
        return int(step)

    # ---------------------------------------------------------------- drawing

    def _on_new_explanation(self) -> None:
        if self.result.report is None:
            self.redraw()

    def draw(self) -> None:
        report = self.result.report
        if report is None:
            self.lines_pane.object = None
            self.original_pane.object = None
            self.after_pane.object = None
            self.summary.object = (
                f"Press **{self.button_label}** (it recomputes every method once per layer on a copy of the model)."
                if self.state.result.explanation is not None
                else self.empty_message
            )
            return
        methods = list(report.methods)
        self.result.param.method.objects = choices(methods)
        if self.result.method not in methods:
            self.result.method = methods[-1]
        flagged = ", ".join(label(m) for m in report.flagged) or "none"
        self.summary.object = (
            f"Flagged (ρ ≥ {report.threshold:g} after `{report.flag_step}`): **{flagged}**. {report.mode.capitalize()} "
            f"randomisation, seed {report.seed}; integrated gradients with {report.ig_steps} steps; correlations over "
            f"{len(report.positions)} question and context tokens."
        )
        self.lines = self.dynamic(self._lines, "trust.sanity.correlation", "trust.sanity.step")
        self.tap = hv.streams.Tap(source=self.lines, transient=True)
        self.tap.add_subscriber(self._on_tap)
        self.original_bars = self.dynamic(self._original, "trust.sanity.method")
        self.after_bars = self.dynamic(self._after, "trust.sanity.method", "trust.sanity.step")
        self.bands = self.dynamic(self._bands, "selection.tokens")
        self.original_selection = hv.streams.Selection1D(source=self.original_bars)
        self.after_selection = hv.streams.Selection1D(source=self.after_bars)
        for selection in (self.original_selection, self.after_selection):
            selection.add_subscriber(self._on_select)
        labels = self.state.result.token_labels() if self.state.result.explanation is not None else []
        bar_options = hv.opts.Rectangles(
            height=180,
            responsive=True,
            ylim=(-1.08, 1.08),
            xlim=(min(report.positions, default=0) - 0.5, max(report.positions, default=0) + 0.5),
            xlabel="token",
            ylabel="share of max |value|",
            xrotation=90,
            hooks=[label_axis_hook(labels)] if labels else [],
            default_tools=DEFAULT_TOOLS,
        )
        self.original_map = (self.original_bars * self.bands).opts(bar_options)
        self.after_map = (self.after_bars * self.bands).opts(bar_options)
        self.lines_pane.object = self.lines
        self.original_pane.object = self.original_map
        self.after_pane.object = self.after_map

    def _lines(self, correlation: str, step: int | None) -> hv.Overlay:
        report = self.result.report
        steps = ["original", *report.steps]
        xs = np.arange(len(steps))
        layers: list[Any] = [
            hv.HLine(report.threshold).opts(color=FLAG_COLOR, line_dash="dotted", line_width=1),
            hv.VLine(steps.index(report.flag_step)).opts(color="#999999", line_dash="dotted", line_width=1),
            hv.VLine(self.shown_step + 1).opts(color=SELECTION_COLOR, line_width=2, alpha=0.8),
        ]
        for index, method in enumerate(report.methods):
            values = [1.0, *getattr(report, correlation)[method]]
            values = [np.nan if v is None else float(v) for v in values]
            flagged = method in report.flagged
            name = label(method) + (" (flagged)" if flagged else "")
            color = explainer_color(method, index)
            layers.append(
                hv.Curve((xs, values), "step", "rho", label=name).opts(
                    color=color, line_width=3, line_dash="dashed" if flagged else "solid"
                )
            )
            layers.append(
                hv.Scatter((xs, values), "step", "rho").opts(
                    color=FLAG_COLOR if flagged else color,
                    marker="x" if flagged else "circle",
                    size=12 if flagged else 6,
                    tools=["hover"],
                )
            )
        return hv.Overlay(layers).opts(
            title="Rank correlation with the original map, after each randomisation step",
            xlabel="randomised (cumulative)" if report.mode == "cascading" else "randomised (one at a time)",
            ylabel="Spearman ρ" + (" of |values|" if correlation == "spearman_abs" else ""),
            xticks=list(zip(xs.tolist(), steps, strict=True)),
            xrotation=45,
            ylim=(-1.05, 1.05),
            height=PLOT_HEIGHT,
            responsive=True,
            legend_position="right",
            tools=["tap"],
            show_grid=True,
        )

    def _original(self, method: str) -> hv.Rectangles:
        report = self.result.report
        bars = self._bars(np.array(report.original[method]), method)
        return bars.opts(title=f"{label(method)} · original model")

    def _after(self, method: str, step: int | None) -> hv.Rectangles:
        report = self.result.report
        shown = self.shown_step
        rho = report.spearman[method][shown]
        bars = self._bars(np.array(report.randomised[method][shown]), method)
        return bars.opts(title=f"{label(method)} · after randomising up to {report.steps[shown]} · ρ = {rho:.2f}")

    def _bars(self, values: np.ndarray, method: str) -> hv.Rectangles:
        labels = self.state.result.token_labels() if self.state.result.explanation is not None else []
        return position_bars(self.result.report.positions, values, labels, label(method))

    def _bands(self, tokens: list[int]) -> hv.VSpans:
        count = max(self.result.report.positions, default=-1) + 1
        return selection_bands(clean_positions(tokens, count))

    # ---------------------------------------------------------------- interaction

    def _on_tap(self, x: float | None = None, y: float | None = None) -> None:
        report = self.result.report
        if x is None or report is None:
            return
        self.result.step = min(max(int(round(x)) - 1, 0), len(report.steps) - 1)

    def _on_select(self, index: list[int]) -> None:
        report = self.result.report
        if report is not None:
            self.state.select({report.positions[i] for i in index if 0 <= i < len(report.positions)})

    def select_between(self, low: float, high: float) -> None:
        """Select the compared tokens whose position lies in ``[low, high]`` (a box on the position axis)."""
        if self.result.report is not None:
            self.state.select(select_positions_between(low, high, self.result.report.positions))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self.header(),
            self.controls(),
            pn.Row(
                pn.widgets.RadioButtonGroup.from_param(self.result.param.correlation),
                pn.widgets.Select.from_param(self.result.param.method, label="", width=220),
            ),
            self.summary,
            self.lines_pane,
            self.original_pane,
            self.after_pane,
            sizing_mode="stretch_width",
        )


__all__ = ["SanityView"]
