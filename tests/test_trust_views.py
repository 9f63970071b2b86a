"""dashboard.trust: the trust views read their results from the state, render to Bokeh, and select through it."""

from __future__ import annotations

from typing import Any

import holoviews as hv
import panel as pn
import pytest
from bokeh.document import Document
from bokeh.models import Model
from pyviz_comms import Comm

import core
from dashboard.labels import label
from dashboard.state import ExplorerState
from dashboard.trust import CompareView, FaithfulnessView, LayerwiseView, SanityView, TrustPanel
from dashboard.views.plotting import token_spans

QUESTION = "Who designed the Eiffel Tower?"
CONTEXT = "The Eiffel Tower was completed in 1889 and is 330 metres tall. It was designed by Gustave Eiffel's company."


@pytest.fixture(scope="module")
def explanation(tiny_bert_dir: str) -> core.Explanation:
    return core.explain(QUESTION, CONTEXT, tiny_bert_dir, ig_max_steps=8)


@pytest.fixture(scope="module")
def faithfulness_report(explanation: core.Explanation) -> core.FaithfulnessReport:
    return core.faithfulness(explanation, random_orders=1)


def showing(explanation: core.Explanation, models: list[str] | None = None) -> ExplorerState:
    """A state with ``explanation`` on show (no model run)."""
    state = ExplorerState(models=models or [explanation.model], examples=[])
    state.show(explanation)
    return state


def _renders(view: pn.viewable.Viewer, *elements: Any) -> None:
    """The whole view renders to Bokeh models as in a notebook (over a comm), plots included."""
    for element in elements:
        assert element is not None
    assert isinstance(pn.panel(view).get_root(Document(), comm=Comm()), Model)


def _bands(element: Any) -> list[tuple[float, float]]:
    """The (start, end) of each band an ``hv.VSpans`` (or a DynamicMap of one) draws now."""
    frame = element[()] if isinstance(element, hv.DynamicMap) else element
    return [tuple(map(float, row)) for row in frame.array()]


def test_faithfulness_view_shows_the_states_report_and_selects_removed_tokens(
    explanation: core.Explanation, faithfulness_report: core.FaithfulnessReport
) -> None:
    state = showing(explanation)
    view = FaithfulnessView(state=state)
    part = state.trust.faithfulness
    assert part.report is None and view.plot.object is None
    assert "Compute faithfulness" in view.summary.object
    _renders(view)
    part.report = faithfulness_report
    _renders(view, view.plot.object)
    assert len(view.table.value) == len(faithfulness_report.explainers)
    best = faithfulness_report.ranking()[0]["name"]
    assert part.chosen == best
    view.tap.event(x=0.19, y=0.0)
    assert part.fraction == pytest.approx(0.2)
    selected = state.selection.tokens
    assert selected == faithfulness_report.removed_tokens(best, 0.2)
    assert selected and all(explanation.roles[p] == "context" for p in selected)
    # A table row chooses the explainer, and the selection follows it at the same fraction.
    row = next(i for i, name in enumerate(view.table.value["name"]) if name == "random")
    view.table.selection = [row]
    assert part.explainer == "random"
    assert state.selection.tokens == faithfulness_report.removed_tokens("random", 0.2)
    part.curve = "insertion"
    # The same answer with more saliency keeps the result; another answer clears it.
    state.result.add_saliency(explanation.replace(timings={"again": 1.0}))
    assert part.report is faithfulness_report
    state.show(explanation.replace(question="Who built it?"))
    assert part.report is None and state.selection.tokens == []


def test_faithfulness_button_runs_core_in_the_states_job(tiny_distilbert_dir: str) -> None:
    state = ExplorerState(models=[tiny_distilbert_dir], examples=[])
    view = FaithfulnessView(state=state)
    view.button.clicks += 1  # nothing on show yet
    assert state.jobs.faithfulness.error and state.trust.faithfulness.report is None
    state.update(question=QUESTION, context=CONTEXT)
    state.run()
    view.button.clicks += 1
    job = state.jobs.faithfulness
    assert job.error == "" and not job.running
    report = state.trust.faithfulness.report
    assert report is not None and report.model == tiny_distilbert_dir
    assert "forward passes" in view.message.object
    _renders(view, view.plot.object)


def test_sanity_view_marks_flagged_methods_and_selects_tokens(explanation: core.Explanation) -> None:
    state = showing(explanation)
    report = core.sanity_check(explanation, methods=("gradient", "gradient_x_input"))
    state.trust.sanity.report = report
    view = SanityView(state=state)
    part = state.trust.sanity
    assert part.method == "gradient_x_input"
    _renders(view, view.lines_pane.object, view.original_pane.object, view.after_pane.object)
    lines = view.lines[()]
    labels = {curve.label for curve in lines if isinstance(curve, hv.Curve)}
    for method in report.methods:
        flagged = method in report.flagged
        assert label(method) + (" (flagged)" if flagged else "") in labels
    view.tap.event(x=2.2, y=0.5)
    assert part.step == 1 and view.shown_step == 1
    view.original_selection.event(index=[0, 2])
    assert state.selection.tokens == [report.positions[0], report.positions[2]]
    # The selection is drawn as bands over both maps.
    assert _bands(view.bands) == token_spans([report.positions[0], report.positions[2]])
    part.correlation = "spearman_abs"


def test_layerwise_view_needs_no_button_and_selects_by_tap_and_box(explanation: core.Explanation) -> None:
    state = showing(explanation)
    view = LayerwiseView(state=state)
    report = state.trust.layers.report
    assert report is not None and report.spans[-1].start_token == explanation.answer.start_token
    assert isinstance(hv.render(view.heatmap_pane.object), Model)
    _renders(view, view.heatmap_pane.object, view.line_pane.object)
    view.tap.event(x=5.2, y=1.0)
    assert state.selection.tokens == [5]
    view.box.event(bounds=(2.6, 0.0, 6.4, 1.0))
    assert state.selection.tokens == [3, 4, 5, 6]
    view.box.event(bounds=(7.8, 0.0, 8.2, 1.0))
    assert state.selection.tokens == [8]
    state.trust.layers.target = "end"
    assert view.image[()].dimension_values("probability", flat=False).shape == report.end_probs.shape
    state.show(explanation.replace(question="Who built it?"))
    assert state.selection.tokens == []


def test_compare_view_links_word_selection_across_models(tiny_bert_dir: str, tiny_roberta_dir: str) -> None:
    state = ExplorerState(models=[tiny_bert_dir, tiny_roberta_dir], examples=[], compute_integrated_gradients=False)
    view = CompareView(state=state)
    part = state.trust.comparison
    assert part.comparison is None and part.models == [tiny_bert_dir, tiny_roberta_dir]
    assert view.chooser.value == [tiny_bert_dir, tiny_roberta_dir]
    state.update(question=QUESTION, context=CONTEXT)
    state.run()
    part.compute()
    assert state.jobs.comparison.error == "", state.jobs.comparison.error
    comparison = part.comparison
    assert comparison is not None and comparison.names == [tiny_bert_dir, tiny_roberta_dir]
    _renders(view, view.bars_pane.object)
    assert len(view.answers.value) == 2 and len(view.agreement.value) == 1
    view.selections[tiny_roberta_dir].event(index=[1, 2])
    assert part.selected_words[:2] == [1, 2]
    # Every model's chart shows the same words selected (bands on the shared word axis).
    assert _bands(view.bands)[0][0] == 0.5
    side = comparison.models[tiny_roberta_dir]
    tokens = side.alignment.tokens_of([1, 2])
    assert tokens and side.alignment.words_of(tokens) == [1, 2]
    part.explainer = "gradient"
    assert view.agreement.value.iloc[0]["words"] == len(comparison.words)


def test_trust_panel_views_share_the_explorer_state(tiny_bert_dir: str, tiny_roberta_dir: str) -> None:
    state = ExplorerState(models=[tiny_bert_dir, tiny_roberta_dir], examples=[], compute_integrated_gradients=False)
    panel = TrustPanel(state=state)
    assert state.trust.comparison.models == [tiny_bert_dir, tiny_roberta_dir]
    state.update(question=QUESTION, context=CONTEXT)
    state.run()
    assert state.explanation is not None
    assert state.trust.layers.report is not None
    assert isinstance(pn.panel(panel).get_root(Document(), comm=Comm()), Model)
    # A view writes the state's selection (and so every other view reads it).
    panel.layers.tap.event(x=7.0, y=0.0)
    assert state.selection.tokens == [7]
    # Words in the comparison <-> tokens of the answer on show (the state's model is compared).
    state.trust.comparison.compute()
    comparison = state.trust.comparison.comparison
    assert comparison is not None, state.jobs.comparison.error
    assert "integrated_gradients" in state.explanation.saliency  # asked of the state, not run twice
    first_word = comparison.words[0]
    panel.compare.selections[tiny_roberta_dir].event(index=[0])
    expected = [
        p
        for p, (role, (s, e)) in enumerate(zip(state.explanation.roles, state.explanation.offsets, strict=True))
        if role == "context" and s < first_word.end_char and first_word.start_char < e
    ]
    assert state.selection.tokens == expected
    state.select(expected)
    assert state.trust.comparison.selected_words == [0]
    # A new question clears the computed results.
    state.trust.faithfulness.compute()
    assert state.trust.faithfulness.report is not None
    state.update(question="Who built the tower?")
    state.run()
    assert state.trust.faithfulness.report is None and state.trust.comparison.comparison is None
