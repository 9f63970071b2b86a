"""dashboard.trust: the trust views build, render to Bokeh, and turn stream events into selections (no browser)."""

from __future__ import annotations

from typing import Any

import holoviews as hv
import panel as pn
import pytest
from bokeh.document import Document
from bokeh.models import Model
from pyviz_comms import Comm

import core
from dashboard.runners import SyncRunner
from dashboard.state import ExplorerState
from dashboard.trust import CompareView, FaithfulnessView, LayerwiseView, SanityView, TrustPanel
from dashboard.trust.common import explainer_label

QUESTION = "Who designed the Eiffel Tower?"
CONTEXT = "The Eiffel Tower was completed in 1889 and is 330 metres tall. It was designed by Gustave Eiffel's company."


@pytest.fixture(scope="module")
def explanation(tiny_bert_dir: str) -> core.Explanation:
    return core.explain(QUESTION, CONTEXT, tiny_bert_dir, ig_max_steps=8)


@pytest.fixture(scope="module")
def faithfulness_report(explanation: core.Explanation) -> core.FaithfulnessReport:
    return core.trust.faithfulness(explanation, random_orders=1)


def _renders(view: pn.viewable.Viewer, *elements: Any) -> None:
    """The whole view renders to Bokeh models as in a notebook (over a comm), plots included."""
    for element in elements:
        assert element is not None
    assert isinstance(pn.panel(view).get_root(Document(), comm=Comm()), Model)


def _bands(element: Any) -> list[tuple[float, float]]:
    """The (start, end) of each band an ``hv.VSpans`` (or a DynamicMap of one) draws now."""
    frame = element[()] if isinstance(element, hv.DynamicMap) else element
    return [tuple(map(float, row)) for row in frame.array()]


def _bands_for(positions: list[int]) -> list[tuple[float, float]]:
    from dashboard.trust.common import runs

    return [(first - 0.5, last + 0.5) for first, last in runs(positions)]


def test_faithfulness_view_computes_on_request_and_selects_removed_tokens(
    explanation: core.Explanation, faithfulness_report: core.FaithfulnessReport
) -> None:
    view = FaithfulnessView(explanation=explanation)
    assert view.report is None and view.plot.object is None
    assert "Compute faithfulness" in view.summary.object
    _renders(view)
    view.param.update(report=faithfulness_report)
    _renders(view, view.plot.object)
    assert len(view.table.value) == len(faithfulness_report.explainers)
    best = faithfulness_report.ranking()[0]["name"]
    assert view.chosen == best
    view.tap.event(x=0.19, y=0.0)
    assert view.fraction == pytest.approx(0.2)
    assert view.selected_tokens == faithfulness_report.removed_tokens(best, 0.2)
    assert view.selected_tokens and all(explanation.roles[p] == "context" for p in view.selected_tokens)
    # A table row chooses the explainer, and the selection follows it at the same fraction.
    row = next(i for i, name in enumerate(view.table.value["name"]) if name == "random")
    view.table.selection = [row]
    assert view.explainer == "random"
    assert view.selected_tokens == faithfulness_report.removed_tokens("random", 0.2)
    view.curve = "insertion"
    # The same example with more saliency keeps the result; another question clears it.
    view.explanation = explanation.replace(timings={"again": 1.0})
    assert view.report is faithfulness_report
    view.explanation = explanation.replace(question="Who built it?")
    assert view.report is None and view.selected_tokens == []


def test_faithfulness_button_runs_core_on_the_runner(tiny_distilbert_dir: str) -> None:
    small = core.explain(QUESTION, CONTEXT, tiny_distilbert_dir, methods=("gradient",))
    view = FaithfulnessView(explanation=small, runner=SyncRunner())
    view.button.clicks += 1
    assert view.error == "" and not view.busy
    assert view.report is not None and view.report.model == small.model
    assert "forward passes" in view.status
    _renders(view, view.plot.object)
    empty = FaithfulnessView()
    empty.compute()
    assert empty.error and empty.report is None


def test_sanity_view_marks_flagged_methods_and_selects_tokens(explanation: core.Explanation) -> None:
    report = core.sanity_check(explanation, methods=("gradient", "gradient_x_input"))
    view = SanityView(explanation=explanation, report=report)
    assert view.method == "gradient_x_input"
    _renders(view, view.lines_pane.object, view.original_pane.object, view.after_pane.object)
    lines = view.lines[()]
    labels = {curve.label for curve in lines if isinstance(curve, hv.Curve)}
    for method in report.methods:
        flagged = method in report.flagged
        assert explainer_label(method) + (" (flagged)" if flagged else "") in labels
    view.tap.event(x=2.2, y=0.5)
    assert view.step == 1 and view.shown_step == 1
    view.original_selection.event(index=[0, 2])
    assert view.selected_tokens == [report.positions[0], report.positions[2]]
    # The selection is drawn as bands over both maps.
    assert _bands(view.bands) == _bands_for([report.positions[0], report.positions[2]])
    view.correlation = "spearman_abs"


def test_layerwise_view_needs_no_button_and_selects_by_tap_and_box(explanation: core.Explanation) -> None:
    view = LayerwiseView(explanation=explanation)
    assert view.report is not None and view.report.spans[-1].start_token == explanation.answer.start_token
    assert isinstance(hv.render(view.heatmap_pane.object), Model)
    _renders(view, view.heatmap_pane.object, view.line_pane.object)
    view.tap.event(x=5.2, y=1.0)
    assert view.selected_tokens == [5]
    view.box.event(bounds=(2.6, 0.0, 6.4, 1.0))
    assert view.selected_tokens == [3, 4, 5, 6]
    view.box.event(bounds=(7.8, 0.0, 8.2, 1.0))
    assert view.selected_tokens == [8]
    view.target = "end"
    assert view.image[()].dimension_values("probability", flat=False).shape == view.report.end_probs.shape
    view.explanation = explanation.replace(question="Who built it?")
    assert view.selected_tokens == []


def test_compare_view_links_word_selection_across_models(tiny_bert_dir: str, tiny_roberta_dir: str) -> None:
    view = CompareView(available_models=[tiny_bert_dir, tiny_roberta_dir], question=QUESTION, context=CONTEXT)
    assert view.comparison is None and view.inputs() is None
    view.models = [tiny_bert_dir, tiny_roberta_dir]
    assert view.chooser.value == [tiny_bert_dir, tiny_roberta_dir]
    view.compute()
    assert view.error == "", view.error
    comparison = view.comparison
    assert comparison is not None and comparison.names == [tiny_bert_dir, tiny_roberta_dir]
    _renders(view, view.bars_pane.object)
    assert len(view.answers.value) == 2 and len(view.agreement.value) == 1
    view.selections[tiny_bert_dir].event(index=[1, 2])
    assert view.selected_words == [1, 2]
    # Every model's chart shows the same words selected (one band over words 1 and 2, on the shared word axis).
    assert _bands(view.bands) == [(0.5, 2.5)]
    chart = view.bars_pane.object[1]
    assert view.bands in chart.callback.inputs or _bands(chart[()].get(1)) == [(0.5, 2.5)]
    tokens = view.tokens_of(tiny_roberta_dir)
    assert tokens and view.words_of(tiny_roberta_dir, tokens) == [1, 2]
    view.explainer = "gradient"
    assert view.agreement.value.iloc[0]["words"] == len(comparison.words)


def test_trust_panel_links_views_to_the_explorer_state(tiny_bert_dir: str, tiny_roberta_dir: str) -> None:
    state = ExplorerState(models=[tiny_bert_dir, tiny_roberta_dir], examples=[])
    state.compute_integrated_gradients = False
    panel = TrustPanel(state=state)
    assert panel.compare.models == [tiny_bert_dir, tiny_roberta_dir]
    state.param.update(question=QUESTION, context=CONTEXT)
    state.run()
    assert state.explanation is not None
    for view in panel.views.values():
        assert view.explanation is state.explanation
    assert panel.layers.report is not None
    assert isinstance(pn.panel(panel).get_root(Document(), comm=Comm()), Model)
    # State -> views.
    state.select([3, 4])
    assert all(view.selected_tokens == [3, 4] for view in panel.token_views)
    # A view -> the state (and so every other view).
    panel.layers.tap.event(x=7.0, y=0.0)
    assert state.selected_tokens == [7]
    assert panel.faithfulness.selected_tokens == [7]
    # Words in the comparison <-> tokens of the state's model.
    panel.compare.compute()
    assert panel.compare.comparison is not None, panel.compare.error
    first_word = panel.compare.comparison.words[0]
    panel.compare.selections[tiny_roberta_dir].event(index=[0])
    expected = [
        p
        for p, (role, (s, e)) in enumerate(zip(state.explanation.roles, state.explanation.offsets, strict=True))
        if role == "context" and s < first_word.end_char and first_word.start_char < e
    ]
    assert state.selected_tokens == expected
    state.select(expected)
    assert panel.compare.selected_words == [0]
    # A new question clears the computed results.
    panel.faithfulness.compute()
    assert panel.faithfulness.report is not None
    state.param.update(question="Who built the tower?")
    state.run()
    assert panel.faithfulness.report is None and panel.compare.comparison is None
