"""Faithfulness curves of every explainer in one plot, random dashed, and a table ranking the explainers.

Deletion: the answer's probability as the most important context tokens are replaced by the mask
token; insertion: as they are restored into a fully masked context. Lines are explainers, the dashed
grey line and band the random order's mean and spread. Tap the plot at a fraction to select the
tokens the chosen explainer has removed (deletion) or kept (insertion) there; click a table row to
choose the explainer.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn
import param

from core.trust import RANDOM, FaithfulnessReport
from dashboard.labels import label
from dashboard.theme import SELECTION_COLOR, explainer_color
from dashboard.trust.base import TrustView
from dashboard.views.plotting import PLOT_HEIGHT

MEASURES = ("deletion_aopc", "insertion_aopc", "comprehensiveness", "sufficiency")
"""The ranking's measures, in the table's order (their names come from ``dashboard.labels``)."""
TABLE_COLUMNS = ["rank", "explainer", *(label(measure) for measure in MEASURES), label("beats_random"), "name"]


def ranking_frame(report: FaithfulnessReport | None) -> pd.DataFrame:
    """The ranking as a table: one row per explainer and the random order, best first."""
    if report is None:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    rows = []
    for row in report.ranking():
        rows.append(
            {
                "rank": row["rank"],
                "explainer": label(row["name"]),
                **{label(measure): f"{row[measure]:.3g}" for measure in MEASURES},
                label("beats_random"): "—" if row["beats_random"] is None else f"{row['beats_random']}/4",
                "name": row["name"],
            }
        )
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


class FaithfulnessView(TrustView):
    """Deletion or insertion curves of every explainer beside the random order, and their ranking."""

    part_name = "faithfulness"
    button_label = "Compute faithfulness"
    title = "Faithfulness: deletion and insertion"
    description = (
        "Replace the context tokens each explainer ranks highest by the mask token (deletion) or restore them into a "
        "masked context (insertion), and track P(start) × P(end) of the answer. Steeper falls (deletion) and rises "
        "(insertion) than the dashed random order mean a more faithful explainer."
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.plot = pn.pane.HoloViews(None, sizing_mode="stretch_width", linked_axes=False)
        self.summary = pn.pane.Markdown("", margin=(0, 10), styles={"color": "#444"})
        self.table = pn.widgets.Tabulator(
            ranking_frame(None),
            disabled=True,
            selectable=1,
            show_index=False,
            hidden_columns=["name"],
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
            max_height=300,
        )
        self.table.param.watch(self._on_row, ["selection"])
        self.curve_choice = pn.widgets.RadioButtonGroup.from_param(self.result.param.curve, color="default")
        self.precision_choice = pn.widgets.Select.from_param(
            self.result.param.precision,
            name="Precision",
            width=160,
            description="float32: exact. bfloat16: faster where the CPU has it; its curves can differ by tens of %.",
        )
        self.on(("result.result_id",), self._on_new_explanation)
        self.redraw()

    def describe(self) -> str:
        report = self.result.report
        return "" if report is None else f"{report.forward_passes} forward passes in {report.seconds:.1f} s."

    # ---------------------------------------------------------------- drawing

    def _on_new_explanation(self) -> None:
        if self.result.report is None:
            self.redraw()

    def draw(self) -> None:
        report = self.result.report
        self.table.selection = []
        self.table.value = ranking_frame(report)
        if report is None:
            self.plot.object = None
            self.summary.object = (
                f"Press **{self.button_label}** to measure every explainer (about "
                "200 forward passes of the answer's window)."
                if self.state.result.explanation is not None
                else self.empty_message
            )
            return
        self.summary.object = (
            f"P(answer) {report.original_probability:.3g} on the original window, "
            f"{report.empty_probability:.3g} with all {report.num_context_tokens} context tokens replaced by "
            f"`{report.replacement_token}` (positions kept). Fractions {report.fractions[1]:g}…1 of the context; "
            f"ERASER at {', '.join(f'{f:.0%}' for f in report.eraser_fractions)}. Random: mean of "
            f"{report.random_orders} orders. {report.forward_passes} forward passes in {report.precision} "
            f"({report.seconds:.1f} s)."
        )
        self.curves = self.dynamic(
            self._curves, "trust.faithfulness.curve", "trust.faithfulness.explainer", "trust.faithfulness.fraction"
        )
        self.tap = hv.streams.Tap(source=self.curves, transient=True)
        self.tap.add_subscriber(self._on_tap)
        self.plot.object = self.curves

    def _curves(self, curve: str, explainer: str, fraction: float | None) -> hv.Overlay:
        report = self.result.report
        chosen = self.result.chosen
        fractions = report.fractions
        layers: list[Any] = []
        random = report.explainers[RANDOM]
        values = getattr(random, curve)
        spread = getattr(random, f"{curve}_std") or [0.0] * len(values)
        layers.append(
            hv.Spread((fractions, values, spread), "fraction", ["P(answer)", "spread"], label="random ± sd").opts(
                color="#999999", alpha=0.2, line_alpha=0
            )
        )
        layers.append(
            hv.Curve((fractions, values), "fraction", "P(answer)", label=label(RANDOM)).opts(
                color="#555555", line_dash="dashed", line_width=2
            )
        )
        for index, name in enumerate(report.names):
            item = report.explainers[name]
            layers.append(
                hv.Curve((fractions, getattr(item, curve)), "fraction", "P(answer)", label=label(name)).opts(
                    color=explainer_color(name, index),
                    line_width=4 if name == chosen else 1.8,
                    alpha=1.0 if name == chosen else 0.8,
                )
            )
            layers.append(
                hv.Scatter((fractions, getattr(item, curve)), "fraction", "P(answer)").opts(
                    color=explainer_color(name, index), size=4, tools=["hover"]
                )
            )
        layers.append(hv.HLine(report.original_probability).opts(color="#2ca02c", line_dash="dotted", line_width=1))
        layers.append(hv.HLine(report.empty_probability).opts(color="#b0b0b0", line_dash="dotted", line_width=1))
        marked = fraction if fraction is not None else -1.0
        layers.append(
            hv.VLine(marked).opts(color=SELECTION_COLOR, line_width=2, alpha=1.0 if fraction is not None else 0)
        )
        what = "removed" if curve == "deletion" else "kept"
        return hv.Overlay(layers).opts(
            title=f"{curve.capitalize()}: P(answer) with the top fraction of context tokens {what}",
            xlabel="fraction of context tokens " + ("removed" if curve == "deletion" else "restored"),
            ylabel="P(start) × P(end) of the answer",
            height=PLOT_HEIGHT,
            responsive=True,
            legend_position="right",
            xlim=(-0.02, 1.02),
            tools=["tap"],
            show_grid=True,
        )

    # ---------------------------------------------------------------- interaction

    def _on_tap(self, x: float | None = None, y: float | None = None) -> None:
        if x is not None:
            self.result.select_fraction(x)

    def _on_row(self, event: param.parameterized.Event) -> None:
        if not event.new or self.result.report is None:
            return
        frame = self.table.value
        row = event.new[0]
        if row < len(frame):
            self.result.choose(str(frame.iloc[row]["name"]))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self.header(),
            pn.Row(self.controls(), self.precision_choice),
            self.curve_choice,
            self.summary,
            self.plot,
            self.table,
            sizing_mode="stretch_width",
        )


__all__ = ["FaithfulnessView", "ranking_frame"]
