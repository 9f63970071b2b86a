"""Models side by side: answers and scores, word-level saliency aligned on the context's words, rank agreement.

Tokenizers differ, so each model's token scores are summed onto the context's words (defined once
from the text, ``core.context_words``) by character overlap. Bar ``i`` in every model's chart is
context word ``i``, so the charts line up and share their x axis; selecting words in one selects the
same words in all. Red pushes the answer up, blue down; a green strip marks the words of that model's
answer; grey bars are words outside that model's window.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import param

import core
from core.trust.compare import Comparison
from core.trust.importance import EXPLAINERS
from dashboard.trust.common import (
    ANSWER_COLOR,
    NEGATIVE_COLOR,
    POSITIVE_COLOR,
    TrustView,
    explainer_label,
    label_axis_hook,
    runs,
    selection_bands,
    short_name,
)

OUTSIDE_COLOR = "#d0d0d0"
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

    comparison = param.ClassSelector(
        class_=Comparison, default=None, allow_None=True, doc="The comparison on show (core.compare_models)."
    )
    question = param.String(default="", doc="Question to ask every model (default: the explanation's).")
    context = param.String(default="", doc="Context to answer from (default: the explanation's).")
    models = param.List(default=[], item_type=str, doc="Models to compare (hub ids or local directories), two or more.")
    available_models = param.List(default=[], item_type=str, doc="Models offered in the chooser.")
    explainer = param.Selector(
        default="integrated_gradients",
        objects={explainer_label(name): name for name in EXPLAINERS},
        doc="Which saliency or attention map to compare.",
    )
    selected_words = param.List(
        default=[], item_type=int, doc="Selected context words (indices of core.context_words), shared by every chart."
    )

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
        self._streams: list[hv.streams.Stream] = []
        self.selections: dict[str, hv.streams.Selection1D] = {}
        self.chooser = pn.widgets.MultiChoice(
            label="Models to compare", options=list(self.available_models), value=list(self.models), width=500
        )
        self.chooser.param.watch(lambda event: setattr(self, "models", list(event.new)), ["value"])
        self.param.watch(self._on_models, ["models", "available_models"])
        self.answers = pn.widgets.Tabulator(
            answers_frame(None), disabled=True, show_index=False, layout="fit_data_stretch", sizing_mode="stretch_width"
        )
        self.agreement = pn.widgets.Tabulator(
            agreement_frame(None, self.explainer),
            disabled=True,
            show_index=False,
            layout="fit_data_stretch",
            sizing_mode="stretch_width",
        )
        self.bars_pane = pn.pane.HoloViews(None, sizing_mode="stretch_width")
        self.summary = pn.pane.Markdown("", margin=(0, 10), styles={"color": "#444"})
        self.param.watch(self._rebuild, ["comparison"])
        self.param.watch(self._on_explainer, ["explainer"])
        self.param.watch(self._on_text, ["question", "context"])
        self._rebuild()

    # ---------------------------------------------------------------- computing

    def inputs(self) -> tuple[str, str, tuple[str, ...]] | None:
        question = self.question or (self.explanation.question if self.explanation is not None else "")
        context = self.context or (self.explanation.context if self.explanation is not None else "")
        models = tuple(dict.fromkeys(self.models))
        if not question.strip() or not context.strip() or len(models) < 2:
            return None
        return question, context, models

    def is_current(self, inputs: Any) -> bool:
        return inputs == self.inputs()

    def work(self, inputs: tuple[str, str, tuple[str, ...]], progress: Callable[[str, float], None]) -> Comparison:
        question, context, models = inputs
        return core.compare_models(question, context, list(models), EXPLAINERS)

    def describe(self, result: Comparison) -> str:
        same = "the same answer" if result.same_answer() else "different answers"
        return f"{len(result.models)} models, {same}, {len(result.words)} context words."

    def _on_explanation(self, event: param.parameterized.Event) -> None:
        old, new = event.old, event.new
        if old is None or new is None or (old.question, old.context) != (new.question, new.context):
            self._job += 1
            self.param.update(comparison=None, busy=False, error="", status="", selected_words=[], selected_tokens=[])

    def _on_text(self, *_events: Any) -> None:
        if self.comparison is not None and self.inputs() is not None:
            question, context, _models = self.inputs()
            if (question.strip(), context) != (self.comparison.question.strip(), self.comparison.context):
                self.param.update(comparison=None, selected_words=[])

    def _on_models(self, *_events: Any) -> None:
        options = list(dict.fromkeys([*self.available_models, *self.models]))
        if list(self.chooser.options) != options:
            self.chooser.options = options
        if list(self.chooser.value) != list(self.models):
            self.chooser.value = list(self.models)

    # ---------------------------------------------------------------- drawing

    def _rebuild(self, *_events: Any) -> None:
        for stream in self._streams:
            if isinstance(stream, hv.streams.Params):
                stream.unwatch()
        self._streams = []
        self.selections = {}
        comparison = self.comparison
        self.answers.value = answers_frame(comparison)
        if comparison is None:
            self.agreement.value = agreement_frame(None, self.explainer)
            self.bars_pane.object = None
            self.summary.object = f"Choose two or more models and press **{self.button_label}**."
            return
        explainers = list(comparison.explainers)
        self.param.explainer.objects = {explainer_label(name): name for name in explainers}
        if self.explainer not in explainers:
            self.explainer = explainers[0]
        self.agreement.value = agreement_frame(comparison, self.explainer)
        same = "All models give the **same answer**." if comparison.same_answer() else "The models **disagree**."
        self.summary.object = f"{same} {len(comparison.words)} context words; bars are scaled per model."
        charts = []
        labels = [word.text for word in comparison.words]
        word_params = hv.streams.Params(self, ["selected_words"])
        self.bands = hv.DynamicMap(self._bands, streams=[word_params], cache_size=1)
        self._streams.append(word_params)
        self.charts: dict[str, hv.DynamicMap] = {}
        for name in comparison.names:
            stream = hv.streams.Params(self, ["explainer"])
            chart = hv.DynamicMap(
                lambda explainer, name=name: self._bars(name, explainer), streams=[stream], cache_size=1
            )
            selection = hv.streams.Selection1D(source=chart)
            selection.add_subscriber(self._on_select)
            self.selections[name] = selection
            self.charts[name] = chart
            self._streams += [stream, selection]
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
                    default_tools=["pan", "wheel_zoom", "reset", "save"],
                )
            )
        )

    def _bars(self, name: str, explainer: str) -> hv.Rectangles:
        comparison = self.comparison
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
        title = f"{short_name(name)} · {explainer_label(explainer)} · answer “{side.answer.text}”"
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
        words = self.comparison.models[name].answer_words
        boxes = [(first - 0.45, -1.08, last + 0.45, -1.0) for first, last in runs(words)]
        return hv.Rectangles(boxes).opts(color=ANSWER_COLOR, line_alpha=0)

    def _bands(self, selected_words: Sequence[int]) -> hv.VSpans:
        count = 0 if self.comparison is None else len(self.comparison.words)
        return selection_bands(sorted({int(i) for i in selected_words if 0 <= int(i) < count}))

    # ---------------------------------------------------------------- interaction

    def _on_explainer(self, *_events: Any) -> None:
        self.agreement.value = agreement_frame(self.comparison, self.explainer)

    def _on_select(self, index: list[int]) -> None:
        self.selected_words = sorted({int(i) for i in index})

    def tokens_of(self, model: str, words: Sequence[int] | None = None) -> list[int]:
        """Token positions of ``model``'s window that the (selected) words cover."""
        if self.comparison is None or model not in self.comparison.models:
            return []
        return self.comparison.models[model].alignment.tokens_of(self.selected_words if words is None else words)

    def words_of(self, model: str, positions: Sequence[int]) -> list[int]:
        """Words that token ``positions`` of ``model``'s window overlap."""
        if self.comparison is None or model not in self.comparison.models:
            return []
        return self.comparison.models[model].alignment.words_of(positions)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(f"#### {self.title}\n<small>{self.description}</small>", margin=(0, 10)),
            self.chooser,
            self.controls(),
            self.summary,
            self.answers,
            pn.Row(pn.widgets.Select.from_param(self.param.explainer, label="Compare", width=260)),
            self.agreement,
            self.bars_pane,
            sizing_mode="stretch_width",
        )


__all__ = ["CompareView", "agreement_frame", "answers_frame"]
