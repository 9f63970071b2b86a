"""Every view rendered to Bokeh models, driven through the state and through HoloViews streams.

No browser: views are rendered into Bokeh documents (``get_root``) and the tests read what the
browser would draw from the Bokeh models. Rendering and stream events run inside an event loop,
as under ``panel serve`` or Jupyter (HoloViews schedules its selection callbacks on it).
"""

from __future__ import annotations

import dataclasses
import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import panel as pn
import pytest
from bokeh.document import Document
from bokeh.models import ContinuousColorMapper, GlyphRenderer, Image

import core
from core.whatif import SpanChange
from dashboard import QALensApp
from dashboard.explorer.saliency_text import token_html
from dashboard.explorer.whatif import whatif_html
from tests.event_loop import in_loop

QUESTION = "Who designed the Eiffel Tower?"
CONTEXT = (
    "The Eiffel Tower was completed in 1889 and is 330 metres tall. It was designed by the engineer "
    "Gustave Eiffel, whose company built it for the World's Fair. The tower is in Paris, and the tower "
    "is painted every seven years."
)


@pytest.fixture(autouse=True)
def _fresh_core_cache() -> None:
    core.clear_cache()


@contextmanager
def count_forwards(model_dir: str) -> Iterator[list[int]]:
    loaded = core.load_model(model_dir)
    calls: list[int] = []
    handle = loaded.model.register_forward_hook(lambda *_args: calls.append(1))
    try:
        yield calls
    finally:
        handle.remove()


def make_app(model_dir: str, question: str = QUESTION, context: str = CONTEXT) -> QALensApp:
    app = QALensApp(models=[model_dir], background=False)
    app.state.update(question=question, context=context)
    app.state.run()
    assert app.state.explanation is not None, app.state.messages.error or app.state.messages.model_error
    return app


def render(viewable: Any) -> Any:
    document = Document()
    root = pn.panel(viewable).get_root(document)
    document.add_root(root)
    return root


def image_data(root: Any) -> np.ndarray:
    images = [r for r in root.select({"type": GlyphRenderer}) if isinstance(r.glyph, Image)]
    assert len(images) == 1
    return np.asarray(images[0].data_source.data["image"][0])


def strips(source: Any) -> list[tuple[float, float]]:
    low, high = list(source.data)
    return list(zip(source.data[low], source.data[high], strict=True))


def test_every_view_renders(tiny_qa_dir: str) -> None:
    def body() -> None:
        app = make_app(tiny_qa_dir)
        render(app)
        for name, view in app.views.items():
            root = render(view)
            assert root is not None, name
        for name in ("attention", "head_view", "model_view", "question_attention", "saliency"):
            assert app.views[name].body.objects == [app.views[name].pane], name
            assert app.views[name].decorations(), name

    in_loop(body)


def test_views_wait_for_a_first_answer(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = QALensApp(models=[tiny_bert_dir], background=False)
        render(app)
        for view in (app.attention, app.model_view, app.saliency):
            assert view.body.objects == [view.message]
        assert "Run" in app.answer.html.object

    in_loop(body)


def test_the_selected_layer_and_head_reach_the_heatmap(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = make_app(tiny_bert_dir)
        state = app.state
        root = render(app.attention)
        attentions = state.explanation.attentions
        state.update(layer=1, head=2)
        np.testing.assert_allclose(image_data(root), attentions[1, 2])
        state.view.head = "mean"
        np.testing.assert_allclose(image_data(root), attentions[1].mean(axis=0), rtol=1e-6)
        state.update(layer=0, head="rollout")
        np.testing.assert_allclose(image_data(root), state.explanation.rollout()[0], rtol=1e-6)
        assert "layer 0, rollout" in app.attention.caption.object
        mapper = root.select_one({"type": ContinuousColorMapper})
        assert mapper.high == pytest.approx(float(state.attention_map().max()), rel=1e-5)

    in_loop(body)


def test_the_head_view_and_question_bars_follow_the_head(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = make_app(tiny_bert_dir)
        state = app.state
        render(app.head_view)
        render(app.question_attention)
        state.update(layer=1, head=3)
        lines = app.head_view.lines[()]
        links = state.head_links()
        np.testing.assert_array_equal(lines.dimension_values("y0"), links["source"])
        np.testing.assert_allclose(
            lines.dimension_values("weight"), state.explanation.attentions[1, 3][links["source"], links["target"]]
        )
        bars = app.question_attention.bars[()]
        np.testing.assert_allclose(bars.dimension_values("value"), state.question_attention())
        assert "layer 1, head 3" in app.question_attention.caption.object

    in_loop(body)


def test_the_model_view_outlines_the_current_head_and_clicks_select_one(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = make_app(tiny_bert_dir)
        state = app.state
        render(app.model_view)
        (handles,) = app.model_view.decorations()
        layers, heads = state.explanation.num_layers, state.explanation.num_heads
        state.update(layer=1, head=2)
        box = handles["current"]
        assert (box.left, box.right, box.bottom, box.top) == (2, 3, layers - 2, layers - 1)
        state.view.head = "mean"
        assert (box.left, box.right) == (0, heads)
        app.model_view.tap.event(x=3.4, y=layers - 0.5)  # top row, fourth column
        assert (state.view.layer, state.view.head) == (0, 3)
        assert (box.left, box.top) == (3, layers)

    in_loop(body)


def test_a_selection_reaches_every_view(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = make_app(tiny_bert_dir)
        state = app.state
        count = state.result.num_tokens
        for view in app.views.values():
            render(view)
        state.select([3, 4, 7])
        spans = [(2.5, 4.5), (6.5, 7.5)]
        heat = app.attention.decorations()[0]
        assert strips(heat["rows"]) == spans and strips(heat["columns"]) == spans
        for view in (app.question_attention, app.saliency, app.probabilities):
            for handles in view.decorations():
                assert list(handles["source"].selected.indices) == [3, 4, 7], type(view).__name__
        assert len(app.probabilities.decorations()) == 2
        head = app.head_view.decorations()[0]
        assert list(head["source"].selected.indices) == [3, 4, 7, count + 3, count + 4, count + 7]
        lines = app.head_view.lines[()]
        sources, targets = lines.dimension_values("y0"), lines.dimension_values("y1")
        assert np.isin(sources, [3, 4, 7]).__or__(np.isin(targets, [3, 4, 7])).all()
        rows = len(state.result.saliency_rows())
        heat_cells = app.saliency_heatmap.decorations()[0]["source"]
        assert sorted(heat_cells.selected.indices) == sorted(r * count + p for r in range(rows) for p in (3, 4, 7))
        model = app.model_view.decorations()[0]
        assert len(strips(model["rows"])) == 2 * state.explanation.num_layers
        assert len(strips(model["columns"])) == 2 * state.explanation.num_heads
        for position in (3, 4, 7):
            assert f'class="tok sel" data-pos="{position}"' in app.text.text.content
        assert "3 selected" in app.controls.selection.object
        state.selection.clear()
        assert strips(heat["rows"]) == [] and list(head["source"].selected.indices) == []
        assert 'class="tok sel"' not in app.text.text.content

    in_loop(body)


def test_streams_on_every_plot_write_the_selection(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = make_app(tiny_bert_dir)
        state = app.state
        count = state.result.num_tokens
        for view in app.views.values():
            render(view)
        app.attention.tap.event(x=5.2, y=1.9)
        assert state.selection.tokens == [2, 5]
        app.attention.box.event(bounds=(2.6, 10.2, 4.4, 11.3))
        assert state.selection.tokens == [3, 4, 11]
        app.probabilities.selections["end"].event(index=[6, 8])
        assert state.selection.tokens == [6, 8]
        app.question_attention.selection.event(index=[9])
        assert state.selection.tokens == [9]
        app.saliency.selection.event(index=[1, 2])
        assert state.selection.tokens == [1, 2]
        app.head_view.selection.event(index=[count + 4, 5])
        assert state.selection.tokens == [4, 5]
        app.saliency_heatmap.selection.event(index=[2 * count + 6, 6, count + 7])
        assert state.selection.tokens == [6, 7]
        app.text.text._handle_msg({"position": 10})
        assert state.selection.tokens == [6, 7, 10]
        app.text.text._handle_msg({"position": 10})  # a second click unselects
        assert state.selection.tokens == [6, 7]
        app.text.text._handle_msg({"position": 12})
        app.text.text._handle_msg({"position": 14, "shift": True})
        assert state.selection.tokens == [6, 7, 12, 13, 14]
        app.controls.clear.clicks += 1
        assert state.selection.tokens == []
        answer = state.explanation.answer
        app.top_k.table.selection = [0]
        assert state.selection.tokens == list(range(answer.start_token, answer.end_token))

    in_loop(body)


def test_switches_and_selections_run_no_model(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = make_app(tiny_bert_dir)
        state = app.state
        render(app)
        for view in app.views.values():
            render(view)
        with count_forwards(tiny_bert_dir) as calls:
            for layer, head in [(1, 0), (1, "mean"), (0, "rollout"), (0, 3)]:
                state.update(layer=layer, head=head)
            for method in core.DEFAULT_METHODS:
                for target in core.TARGETS:
                    state.update(method=method, target=target)
            state.view.color_scale = "eq_hist"
            state.select([2, 3])
            app.attention.tap.event(x=4, y=4)
            app.model_view.tap.event(x=0.5, y=0.5)
            state.selection.clear()
            assert calls == []

    in_loop(body)


def test_saliency_views_show_every_method_and_target(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = make_app(tiny_bert_dir)
        state = app.state
        render(app.saliency)
        render(app.saliency_heatmap)
        for method in core.DEFAULT_METHODS:
            for target in core.TARGETS:
                state.update(method=method, target=target)
                bars = app.saliency.bars[()]
                np.testing.assert_allclose(bars.dimension_values("value"), state.explanation.saliency[method][target])
                index = state.result.saliency_rows().index((method, target))
                outline = app.saliency_heatmap.decorations()[0]["outline"]
                assert (outline.bottom, outline.top) == (index, index + 1)
        cells = app.saliency_heatmap.cells[()]
        raw, scaled = state.result.saliency_matrix()
        np.testing.assert_allclose(cells.dimension_values("score"), raw.ravel())
        assert np.nanmax(np.abs(cells.dimension_values("scaled"))) == pytest.approx(1.0)

    in_loop(body)


def test_user_text_is_escaped_everywhere(tiny_bert_dir: str) -> None:
    context = 'Eve wrote <script>alert("x")</script> and <b>bold</b> & more about the <img src=x onerror=alert(1)>.'
    question = "Who wrote <i>it</i>?"

    def body() -> None:
        app = make_app(tiny_bert_dir, question=question, context=context)
        render(app)
        text = token_html(app.state)
        answer = app.answer.html.object
        for rendered in (text, answer):
            assert "<script>" not in rendered and "<img" not in rendered and "<b>" not in rendered
            assert "<i>" not in rendered
        assert "&lt;" in text and "&gt;" in text and "&amp;" in text  # one span per piece: "<", "script", ">"
        assert html.escape(app.state.explanation.answer.text) in answer
        tokens = app.top_k.table.value["answer"].tolist()
        assert tokens[0] == app.state.explanation.answer.text  # Tabulator escapes cell text itself

    in_loop(body)


def test_saliency_text_marks_answer_and_specials(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = make_app(tiny_bert_dir)
        content = token_html(app.state)
        explanation = app.state.explanation
        assert content.count('class="answer"') == 1
        assert content.count("data-pos=") == explanation.num_tokens
        assert 'class="tok special"' in content
        assert "background: rgba(" in content

    in_loop(body)


def test_methods_beyond_the_first_three_compute_only_when_asked(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = QALensApp(models=[tiny_bert_dir], background=False)
        app.state.update(question=QUESTION, context=CONTEXT)
        app.state.run()
        with count_forwards(tiny_bert_dir) as calls:
            app.state.update(method="occlusion", target="contrast")  # a pure view change runs nothing
            assert calls == []
        assert app.saliency.compute_button.visible
        assert "occlusion" in app.saliency.compute_button.label and "runner-up" in app.saliency.compute_button.label
        app.saliency.compute_button.clicks += 1
        explanation = app.state.explanation
        assert {"start", "end", "contrast"} <= set(explanation.saliency["occlusion"])
        assert app.state.saliency_values() is not None and not app.saliency.compute_button.visible
        rows = app.state.result.saliency_rows()
        assert ("occlusion", "contrast") in rows and ("lime", "start") not in rows  # rows for what exists
        assert "No-answer check" in app.answer.html.object
        app.state.update(null_threshold=-1e9)  # any null score beats the span by more than this
        assert "abstain" in app.answer.html.object

    in_loop(body)


def test_head_importance_cells_select_that_layer_and_head(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = QALensApp(models=[tiny_bert_dir], background=False)
        render_app = pn.panel(app).get_root(Document())
        assert render_app is not None
        app.state.update(question=QUESTION, context=CONTEXT)
        app.state.run()
        grid = app.head_importance
        assert grid.compute_button.visible and not grid.measure.visible
        grid.compute_button.clicks += 1
        assert app.state.trust.heads.report is not None and not grid.compute_button.visible
        assert "Spearman" in grid.caption.object or "answer probability" in grid.caption.object
        layers = app.state.explanation.num_layers
        grid.tap.event(x=2.5, y=layers - 1 - 0.5)  # the top row is layer 0... the cell in row 1 from the top
        assert (app.state.view.layer, app.state.view.head) == (1, 2)

    in_loop(body)


def test_what_if_shows_the_new_answer_beside_the_original_escaped(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = QALensApp(models=[tiny_bert_dir], background=False)
        app.state.update(question=QUESTION, context=CONTEXT)
        app.state.run()
        panel = app.whatif
        assert "Select words" in panel.result.object
        app.state.whatif.draft = CONTEXT + " <img src=x onerror=alert(1)>"
        panel.reanswer.clicks += 1
        shown = panel.result.object
        assert "new answer" in shown and "original answer" in shown and "<img" not in shown
        assert "&lt;img" in shown and "<ins" in shown  # the inserted text is marked in the diff, as text
        assert not panel.undo.disabled

    in_loop(body)


def topk_table_rows(shown: str) -> list[list[str]]:
    """The what-if top-k table as a person reads it: one list of cell texts per row, headers left out."""
    table = re.search(r"<table[^>]*class='whatif-topk'>(.*?)</table>", shown, re.S)
    assert table is not None, "no top-k table"
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)
        if "<td>" in row
    ]


def test_what_if_ranks_count_from_one_and_a_span_never_ranked_reads_new(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = make_app(tiny_bert_dir)
        app.state.whatif.draft = CONTEXT.replace("Gustave Eiffel", "Maria Lopez")
        app.whatif.reanswer.clicks += 1
        answer = app.state.whatif.answer
        assert answer is not None
        rows = topk_table_rows(app.whatif.result.object)
        assert rows[0][1] == answer.answer.text and rows[0][3] == "1", "the new answer is rank 1 now"
        assert all(row[2] != "0" and row[3] != "0" for row in rows), "no rank 0 in the page"
        assert all(row[2] == "new" for row in rows if row[0] == "entered")

        changes = (
            SpanChange("same", "Gustave Eiffel", 0, 0, 0.5, 0.4, (0, 1), (0, 1)),
            SpanChange("moved", "the engineer", 1, 2, 0.2, 0.1, (2, 3), (2, 3)),
            SpanChange("entered", "Maria <b>Lopez</b>", None, 1, None, 0.3, None, (4, 5)),
            SpanChange("left", "Paris", 2, None, 0.1, None, (6, 7), None),
        )
        shown = whatif_html(dataclasses.replace(answer, top_k_changes=changes))
        assert [row[:4] for row in topk_table_rows(shown)] == [
            ["same", "Gustave Eiffel", "1", "1"],
            ["moved", "the engineer", "2", "3"],
            ["entered", "Maria <b>Lopez</b>", "new", "2"],
            ["left", "Paris", "3", "out"],
        ]
        assert "<b>Lopez" not in shown, "span text stays text"

    in_loop(body)


def test_resync_sends_every_plot_again_without_changing_the_state(tiny_bert_dir: str) -> None:
    """A page that subscribed after the answer landed gets every plot's children and figures again."""

    def body() -> None:
        app = make_app(tiny_bert_dir)
        render(app)
        result_id = app.state.result.result_id
        sent: list[str] = []
        for name in ("attention", "head_view", "model_view", "saliency_heatmap"):
            view = app.views[name]
            view.body.param.watch(lambda _event, name=name: sent.append(name), ["objects"])
        tokens = list(app.state.selection.tokens)
        app.resync_views()
        assert sorted(sent) == ["attention", "head_view", "model_view", "saliency_heatmap"]
        assert app.state.result.result_id == result_id and list(app.state.selection.tokens) == tokens
        for name in ("attention", "head_view", "model_view", "saliency_heatmap"):
            assert app.views[name].body.objects == [app.views[name].pane]

    in_loop(body)
