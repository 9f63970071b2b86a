"""The assembled app: messages in the page, exports, the URL, runners, payload size and notebooks."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import panel as pn
import pytest
from bokeh.core.json_encoder import serialize_json
from bokeh.document import Document
from bokeh.document.events import ModelChangedEvent
from bokeh.models import Image, Plot
from bokeh.protocol import Protocol

import core
from core.examples import Example
from dashboard import QALensApp, create_app
from dashboard.qa_lens_app import session_runners
from dashboard.state import ExplorerState
from dashboard.state.runners import SyncRunner, ThreadRunner
from tests.event_loop import in_loop
from tests.panes import rendered_html, visible_text

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "Who designed the Eiffel Tower?"
CONTEXT = "The Eiffel Tower was completed in 1889. It was designed by the engineer Gustave Eiffel in Paris."
MODEL_VIEW_BUDGET_BYTES = 4_000_000
"""What the model view may send at 384 tokens and 6 x 12 heads: block-averaged thumbnails, never full maps
(bench/bench_dashboard.py measures the real size beside bertviz's, in the same run)."""


def render(viewable: Any) -> Document:
    document = Document()
    document.add_root(pn.panel(viewable).get_root(document))
    return document


def test_bad_input_shows_a_message_in_the_page(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = QALensApp(models=[tiny_bert_dir], background=False)
        render(app)
        app.state.update(question="   ", context=CONTEXT)
        app.controls.run_button.clicks += 1
        assert app.controls.error.visible
        assert "question is empty" in visible_text(app.controls.error)
        assert not app.state.jobs.answer.running
        app.state.update(question=QUESTION)
        app.controls.run_button.clicks += 1
        assert not app.controls.error.visible and app.state.explanation is not None

    in_loop(body)


def test_an_unloadable_model_is_explained_and_the_page_still_opens(tmp_path: Path) -> None:
    def body() -> None:
        app = create_app([str(tmp_path / "missing-model")], background=False)
        app.template().server_doc(Document())  # the served page builds
        alert = app.controls.model_error
        assert alert.visible and alert.alert_type == "warning"
        shown = visible_text(alert)
        assert "cannot be loaded" in shown and "--model" in shown and "QA_LENS_MODELS" in shown
        app.state.update(question=QUESTION, context=CONTEXT)
        app.state.run()  # fails into the alert, not into a traceback
        assert alert.visible and not app.state.jobs.answer.running and app.state.explanation is None

    in_loop(body)


def test_the_default_model_offline_gives_the_plain_message() -> None:
    def body() -> None:
        app = create_app(background=False)
        render(app)
        assert app.state.inputs.model == core.DEFAULT_MODEL
        assert app.controls.model_error.visible
        assert "huggingface-cli download" in visible_text(app.controls.model_error)

    in_loop(body)


def test_error_messages_are_escaped(tiny_bert_dir: str) -> None:
    app = QALensApp(models=[tiny_bert_dir], background=False)
    app.state.messages.error = "bad <script>alert(1)</script> [x](javascript:alert(1))"
    assert "<script" not in rendered_html(app.controls.error) and "<a " not in rendered_html(app.controls.error)
    assert visible_text(app.controls.error) == "bad <script>alert(1)</script> [x](javascript:alert(1))"


def test_downloads_give_the_explanation_and_the_token_table(tiny_bert_dir: str) -> None:
    app = QALensApp(models=[tiny_bert_dir], background=False)
    assert app.controls.download_json.disabled and app.controls.download_csv.disabled
    app.state.update(question=QUESTION, context=CONTEXT)
    app.state.run()
    assert not app.controls.download_json.disabled
    assert app.controls.download_json.filename == "qa-lens-who-designed-the-eiffel-tower.json"
    payload = app.controls._json().getvalue().decode("utf-8")
    assert core.Explanation.from_json(payload) == app.state.explanation
    rows = app.controls._csv().getvalue().decode("utf-8").strip().splitlines()
    assert len(rows) == app.state.result.num_tokens + 1 and "integrated_gradients_start" in rows[0]


def test_url_values_are_applied_leniently(tiny_bert_dir: str) -> None:
    app = QALensApp(models=[tiny_bert_dir], background=False)
    app._apply_url_leniently({"layer": 99, "head": "3", "question": 42, "method": "integrated_gradients"})
    assert app.state.view.layer == 0  # no such layer in a 2-layer model: skipped
    assert (
        app.state.view.head == 3
        and app.state.inputs.question == "42"
        and app.state.view.method == "integrated_gradients"
    )


def test_runners_fit_where_the_app_runs() -> None:
    answer, saliency = session_runners(background=False)
    assert isinstance(answer, SyncRunner) and isinstance(saliency, SyncRunner)
    answer, saliency = session_runners()
    assert isinstance(answer, SyncRunner) and isinstance(saliency, SyncRunner)  # plain Python: inline

    async def notebook_like() -> tuple[Any, Any]:
        return session_runners()

    answer, saliency = asyncio.run(notebook_like())  # a running loop, as in Jupyter
    assert isinstance(answer, SyncRunner) and isinstance(saliency, ThreadRunner)
    assert saliency.torch_threads >= 1


def test_background_saliency_in_a_loop_arrives_on_the_loop(tiny_bert_dir: str) -> None:
    core.clear_cache()

    async def main() -> QALensApp:
        app = QALensApp(models=[tiny_bert_dir])
        render(app)
        app.state.update(question="When was it completed?", context=CONTEXT)
        app.state.run()
        assert app.state.explanation is not None  # the answer is there when run() returns
        for _ in range(400):
            if not app.state.jobs.saliency.running:
                break
            await asyncio.sleep(0.05)
        return app

    app = asyncio.run(main())
    assert not app.state.jobs.saliency.running and app.state.messages.error == ""
    assert "integrated_gradients" in app.state.explanation.saliency


def test_two_apps_share_nothing(tiny_bert_dir: str) -> None:
    first, second = create_app([tiny_bert_dir], background=False), create_app([tiny_bert_dir], background=False)
    assert first.state is not second.state
    first.state.update(question=QUESTION, context=CONTEXT, layer=1)
    first.state.run()
    first.state.select([2, 3])
    assert second.state.inputs.question == "" and second.state.selection.tokens == [] and second.state.view.layer == 0
    assert second.state.explanation is None


def full_window_context(model_dir: str, question: str, tokens: int = 384) -> str:
    from core.examples import load_examples

    text = " ".join(example.context for example in load_examples()[:3])
    tokenizer = core.load_model(model_dir).tokenizer
    room = tokens - len(tokenizer(question, add_special_tokens=False)["input_ids"]) - 3
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return text[: offsets[room - 1][1]]


def test_model_view_at_384_tokens_is_small_and_a_head_switch_resends_nothing(minilm_qa_dir: str) -> None:
    """The model view of 384 tokens x 6 layers x 12 heads sends thumbnails: a few hundred kB, never full maps."""
    question = "Who granted Vellmoor its market charter in 1214?"

    def body() -> None:
        app = QALensApp(models=[minilm_qa_dir], background=False)
        app.state.inputs.compute_integrated_gradients = False
        app.state.update(question=question, context=full_window_context(minilm_qa_dir, question))
        app.state.run()
        explanation = app.state.explanation
        assert (explanation.num_tokens, explanation.num_layers, explanation.num_heads) == (384, 6, 12)
        document = render(app.model_view)
        size = len(serialize_json(document.to_json(deferred=False)))
        print(f"model view document at 384 tokens, 6 x 12 heads: {size / 1e6:.3f} MB")
        assert size < MODEL_VIEW_BUDGET_BYTES
        events: list = []
        document.on_change(events.append)
        app.state.update(layer=3, head=7)
        message = Protocol().create("PATCH-DOC", events)
        sent = len(message.content_json) + sum(memoryview(b.data).nbytes for b in message.buffers)
        assert sent < 2_000  # the outline moves; the thumbnails stay where they are
        thumbnails = app.state.result.head_thumbnails()
        assert thumbnails.shape == (6, 12, 32, 32)
        np.testing.assert_allclose(thumbnails.sum(axis=-1), 32 / 384, rtol=1e-3)  # block means of rows summing to 1

    in_loop(body)


def test_the_app_renders_in_a_notebook(tiny_bert_dir: str, tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    cells = [
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "import panel as pn\npn.extension('tabulator')\nfrom dashboard import QALensApp",
        f"app = QALensApp(models=[{tiny_bert_dir!r}])\n"
        f"app.state.update(question={QUESTION!r}, context={CONTEXT!r})\n"
        "app.state.run()\nprint('answer:', app.state.explanation.answer.text)",
        "app.state.view.layer = 1\napp.state.view.head = 2\napp.state.select([3, 4])\napp",
        "import time\n"
        "for _ in range(300):\n"
        "    if not app.state.jobs.saliency.running: break\n"
        "    time.sleep(0.1)\n"
        "print('saliency:', sorted(app.state.explanation.saliency), app.state.selection.tokens)",
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in cells])
    client = nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    text = "".join(output.get("text", "") for output in outputs if output.get("output_type") == "stream")
    assert "answer:" in text and "'integrated_gradients'" in text and "[3, 4]" in text
    shown = notebook.cells[2]["outputs"]
    assert any("application/vnd.holoviews_exec.v0+json" in output.get("data", {}) for output in shown)
    assert json.dumps(shown)  # a plain, saveable notebook output


def test_switching_the_model_after_an_answer_answers_with_the_new_model(
    tiny_bert_dir: str, tiny_distilbert_dir: str
) -> None:
    def body() -> None:
        app = QALensApp(models=[tiny_bert_dir, tiny_distilbert_dir], background=False)
        render(app)
        app.state.update(question=QUESTION, context=CONTEXT)
        app.state.run()
        assert app.state.explanation.model == tiny_bert_dir
        app.controls.model.value = tiny_distilbert_dir  # as the Model select does
        assert app.state.messages.error == "" and app.state.messages.model_error == ""
        assert app.state.explanation is not None and app.state.explanation.model == tiny_distilbert_dir
        assert tiny_distilbert_dir in app.answer.html.object
        assert app.state.messages.status.startswith("Integrated gradients ready")

    in_loop(body)


def test_enter_after_choosing_an_example_runs_the_examples_question(tiny_bert_dir: str) -> None:
    example = Example("tower-1", "Tower", QUESTION, CONTEXT, "Gustave Eiffel", CONTEXT.index("Gustave"))

    def body() -> None:
        app = QALensApp(state=ExplorerState(models=[tiny_bert_dir], examples=[example]), background=False)
        render(app)
        box = app.controls.question
        box.value_input = "an older typed question"  # what the browser held before the example
        app.controls.example.value = "tower-1"
        assert box.value == QUESTION and box.value_input == QUESTION  # the box's Enter value is the example's
        box.value = box.value_input  # what Panel does on Enter: submit the box's text ...
        box.param.trigger("enter_pressed")  # ... then fire the event
        assert app.state.messages.error == "" and app.state.explanation.question == QUESTION

    in_loop(body)


def test_the_view_exports_offline_with_its_saliency_and_escaped_text(tiny_bert_dir: str) -> None:
    from bokeh.models import CustomJS, Div

    from dashboard.export import report_html, standalone_view, standalone_view_html

    app = QALensApp(models=[tiny_bert_dir], background=False)
    hostile = 'It was designed by <img src=x onerror="alert(1)"> Gustave Eiffel in Paris.'
    app.state.update(question=QUESTION, context=hostile)
    app.state.run()
    layout, ready = standalone_view(app.state)
    models = list(layout.references())
    shown = [m.text for m in models if isinstance(m, Div)] + [*ready.args["pieces"], *ready.args["gaps"]]
    assert not any("<img" in text for text in shown) and any("&lt;" in text for text in shown)  # text, not markup
    assert any(isinstance(m, CustomJS) for m in models)  # the selection is linked in the page, not on a server
    page = standalone_view_html(app.state)
    assert re.findall(r"<script[^>]*\ssrc=", page) == []  # every script inline: it opens offline
    for method in app.state.explanation.saliency:
        assert f"{method}|start" in page and f"{method}|end" in page  # the menu can switch to every method
    app.state.trust.faithfulness.compute()
    report = report_html(app.state)
    assert "Faithfulness" in report and "Top answers" in report
    downloaded = app.controls._standalone_view().getvalue().decode("utf-8")
    assert downloaded.startswith("<!DOCTYPE html>")


def test_plots_drawn_before_the_switch_to_svg_are_sent_again_as_svg(tiny_bert_dir: str) -> None:
    """A plot's save tool writes SVG only from a figure BokehJS built with the SVG backend: it reads a figure's
    ``output_backend`` once, when it makes the figure's canvas, and a change to a figure already on the page only
    repaints that canvas (its save tool kept writing PNG). So the switch must send new figures, drawn as SVG, with
    the plots' content; the browser test saves one and reads the SVG (tests/browser/test_exports.py)."""

    def body() -> None:
        app = QALensApp(models=[tiny_bert_dir], background=False)
        document = render(app)
        app.state.update(question=QUESTION, context=CONTEXT)
        app.state.run()
        views = (app.attention, app.head_view, app.model_view, app.question_attention)
        drawn = [h["figure"] for view in views for h in view.decorations()]
        assert len(drawn) == len(views) and all(f.output_backend == "canvas" for f in drawn)
        on_page = {figure.id for figure in document.models if isinstance(figure, Plot)}
        assert {figure.id for figure in drawn} <= on_page
        changed_in_place: list[str] = []

        def record(event: Any) -> None:
            if isinstance(event, ModelChangedEvent) and event.attr == "output_backend" and event.model.id in on_page:
                changed_in_place.append(event.model.id)

        document.on_change(record)
        app.state.update(plot_format="svg")
        figures = [h["figure"] for view in views for h in view.decorations()]
        assert len(figures) == len(views) and all(f.output_backend == "svg" for f in figures)
        assert all(figure.document is document for figure in figures), "the new figures are on the page"
        assert not {figure.id for figure in figures} & on_page, "figures the page had drawn on a canvas are replaced"
        assert changed_in_place == [], "a backend changed in place never reaches the save tool"
        heatmap = next(r for r in figures[0].renderers if isinstance(getattr(r, "glyph", None), Image))
        np.testing.assert_allclose(heatmap.data_source.data["image"][0], app.state.attention_map(), rtol=1e-6)
        app.state.update(plot_format="png")
        assert all(h["figure"].output_backend == "canvas" for view in views for h in view.decorations())

    in_loop(body)
