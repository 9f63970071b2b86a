"""Models side by side: answers and scores, word-level saliency aligned on the context's words, rank agreement.

Tokenizers differ, so each model's token scores are summed onto the context's words (defined once
from the text, ``core.context_words``) by character overlap. Bar ``i`` in every model's chart is
context word ``i``, so the charts line up and share their x axis; selecting words in one selects the
same words in all. Red pushes the answer up, blue down; a green strip marks the words of that model's
answer; grey bars are words outside that model's window.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn

from core.trust import Comparison
from dashboard.labels import choices, label, short_name
from dashboard.theme import ANSWER_COLOR, NEGATIVE_COLOR, OUTSIDE_COLOR, POSITIVE_COLOR
from dashboard.trust.base import TrustView
from dashboard.views.plotting import DEFAULT_TOOLS, label_axis_hook, runs, selection_bands

ANSWER_COLUMNS = ["model", "type", "answer", "score", "characters"]
AGREEMENT_COLUMNS = ["model A", "model B", "Spearman ρ", "p-value", "words"]


def answers_frame(comparison: Comparison | None) -> pd.DataFrame:
    if comparison is None:
        return pd.DataFrame(columns=ANSWER_COLUMNS)
    rows = [
        {
            "model": short_name(name),
            "type": side.model_type,
            "answer": side.answer.text,
            "score": f"{side.answer.score:.3g}",
            "characters": f"{side.answer.start_char}–{side.answer.end_char}",
        }
        for name, side in comparison.models.items()
    ]
    return pd.DataFrame(rows, columns=ANSWER_COLUMNS)


def agreement_frame(comparison: Comparison | None, explainer: str) -> pd.DataFrame:
    if comparison is None or explainer not in comparison.agreement:
        return pd.DataFrame(columns=AGREEMENT_COLUMNS)
    rows = [
        {
            "model A": short_name(pair.a),
            "model B": short_name(pair.b),
            "Spearman ρ": "—" if np.isnan(pair.spearman) else f"{pair.spearman:.3f}",
            "p-value": "—" if np.isnan(pair.p_value) else f"{pair.p_value:.2g}",
            "words": pair.words,
        }
        for pair in comparison.agreement[explainer]
    ]
    return pd.DataFrame(rows, columns=AGREEMENT_COLUMNS)


class CompareView(TrustView):
    """Two or more models on one question: answers, word-level saliency on shared words, rank agreement."""

    part_name = "comparison"
    result_name = "comparison"
    button_label = "Compare models"
    empty_message = "Choose two or more models and run a question first."
    title = "Models side by side"
    description = (
        "Every model answers the same question; saliency is summed from each model's tokens onto the context's words "
        "(by character overlap), so bars line up across tokenizers. Select words in one chart to select them in all."
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.selections: dict[str, hv.streams.Selection1D] = {}
        self.answers = pn.widgets.Tabulator(
            answers_frame(None), disabled=True, show_index=False, layout="fit_data_stretch", sizing_mode="stretch_width"
        )
        self.agreement = pn.widgets.Tabulator(
            agreement_frame(None, "integrated_gradients"),
            disabled=True,
            show_index=False,
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
        )
        self.bars_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width")
        self.summary = pn.pane.Markdown("", margin=(0, 10), styles={"color": "#444"})
        self.chooser = pn.widgets.MultiChoice.from_param(
            self.result.param.models, label="Models to compare", options=self._options(), width=500
        )
        self.on(("trust.comparison.models", "inputs.models"), self._offer_models)
        self.on(("trust.comparison.explainer",), self._on_explainer)
        self.redraw()

    def describe(self) -> str:
        comparison = self.result.comparison
        if comparison is None:
            return ""
        same = "the same answer" if comparison.same_answer() else "different answers"
        return f"{len(comparison.models)} models, {same}, {len(comparison.words)} context words."

    def _options(self) -> list[str]:
        return list(dict.fromkeys([*self.state.inputs.models, *self.result.models]))

    def _offer_models(self) -> None:
        """The chooser offers the session's models and the ones chosen (its value is the state's, from_param)."""
        options = self._options()
        if list(self.chooser.options) != options:
            self.chooser.options = options

    # ---------------------------------------------------------------- drawing

    def draw(self) -> None:
        self.selections = {}
        comparison = self.result.comparison
        self.answers.value = answers_frame(comparison)
        if comparison is None:
            self.agreement.value = agreement_frame(None, self.result.explainer)
            self.bars_pane.object = None
            self.summary.object = f"Choose two or more models and press **{self.button_label}**."
            return
        explainers = list(comparison.explainers)
        self.result.param.explainer.objects = choices(explainers)
        if self.result.explainer not in explainers:
            self.result.explainer = explainers[0]
        self.agreement.value = agreement_frame(comparison, self.result.explainer)
        same = "All models give the **same answer**." if comparison.same_answer() else "The models **disagree**."
        self.summary.object = f"{same} {len(comparison.words)} context words; bars are scaled per model."
        charts = []
        labels = [word.text for word in comparison.words]
        self.bands = self.dynamic(self._bands, "trust.comparison.selected_words")
        self.charts: dict[str, hv.DynamicMap] = {}
        for name in comparison.names:
            chart = self.dynamic(partial(self._bars, name), "trust.comparison.explainer")
            selection = hv.streams.Selection1D(source=chart)
            selection.add_subscriber(self._on_select)
            self.selections[name] = selection
            self.charts[name] = chart
            charts.append(chart * self.bands * self._answer_strip(name))
        hook = label_axis_hook(labels)
        self.bars_pane.object = (
            hv.Layout(charts)
            .cols(1)
            .opts(
                hv.opts.Rectangles(
                    height=200,
                    responsive=True,
                    xlabel="context word",
                    ylabel="share of max |score|",
                    xrotation=90,
                    ylim=(-1.08, 1.08),
                    xlim=(-0.5, len(labels) - 0.5),
                    hooks=[hook],
                    default_tools=DEFAULT_TOOLS,
                )
            )
        )

    def _bars(self, name: str, explainer: str) -> hv.Rectangles:
        comparison = self.result.comparison
        side = comparison.models[name]
        scores = side.word_scores.get(explainer)
        count = len(comparison.words)
        values = np.full(count, np.nan) if scores is None else np.asarray(scores, dtype=np.float64)
        outside = np.isnan(values)
        finite = np.nan_to_num(values)
        peak = float(np.abs(finite).max()) if count else 0.0
        heights = finite / peak if peak > 0 else finite
        colors = np.where(finite >= 0, POSITIVE_COLOR, NEGATIVE_COLOR).astype(object)
        colors[outside] = OUTSIDE_COLOR
        heights = np.where(outside, 0.05, heights)
        index = np.arange(count)
        data = {
            "x0": index - 0.42,
            "y0": np.minimum(heights, 0.0),
            "x1": index + 0.42,
            "y1": np.maximum(heights, 0.0),
            "score": values,
            "word": np.array([w.text for w in comparison.words], dtype=object),
            "index": index,
            "color": colors,
        }
        bars = hv.Rectangles(data, kdims=["x0", "y0", "x1", "y1"], vdims=["score", "word", "index", "color"])
        title = f"{short_name(name)} · {label(explainer)} · answer “{side.answer.text}”"
        return bars.opts(
            color="color",
            line_alpha=0,
            selection_alpha=1.0,
            nonselection_alpha=1.0,
            tools=["hover", "tap", "box_select"],
            active_tools=["box_select"],
            hover_tooltips=[("word", "@word"), ("index", "@index"), ("score", "@score{0.0000}")],
            title=title,
        )

    def _answer_strip(self, name: str) -> hv.Rectangles:
        """A green strip under the words of this model's answer."""
        words = self.result.comparison.models[name].answer_words
        boxes = [(first - 0.45, -1.08, last + 0.45, -1.0) for first, last in runs(words)]
        return hv.Rectangles(boxes).opts(color=ANSWER_COLOR, line_alpha=0)

    def _bands(self, selected_words: Sequence[int]) -> hv.VSpans:
        comparison = self.result.comparison
        count = 0 if comparison is None else len(comparison.words)
        return selection_bands(sorted({int(i) for i in selected_words if 0 <= int(i) < count}))

    # ---------------------------------------------------------------- interaction

    def _on_explainer(self) -> None:
        self.agreement.value = agreement_frame(self.result.comparison, self.result.explainer)

    def _on_select(self, index: list[int]) -> None:
        self.result.select_words(sorted({int(i) for i in index}))

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            self.header(),
            self.chooser,
            self.controls(),
            self.summary,
            self.answers,
            pn.Row(pn.widgets.Select.from_param(self.result.param.explainer, label="Compare", width=260)),
            self.agreement,
            self.bars_pane,
            sizing_mode="stretch_width",
        )


__all__ = ["CompareView", "agreement_frame", "answers_frame"]
