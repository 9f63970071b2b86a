"""The kit's widgets on every page: text boxes that take any text the core accepts, checkboxes whose words tick them.

No browser: widgets are rendered to Bokeh models and changed the way the page changes them (``_process_events``,
what Panel does with a browser edit). The browser tests click and paste for real.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import panel as pn
from bokeh.document import Document
from bokeh.models import CheckboxGroup

import core
from dashboard import QALensApp
from dashboard.state import ExplorerState
from dashboard.views.widgets import MAX_TEXT_CHARACTERS, Checkbox
from tests.event_loop import in_loop
from tests.panes import rendered_html, visible_text

ROOT = Path(__file__).resolve().parent.parent
QUESTION = "When does the library open?"
SENTENCE = "The library opens at nine and closes at half past six. "
ACCEPTED_CHARACTERS = 8_000
"""Past Panel's default ``max_length`` (5,000, the browser's ``maxlength`` unless raised), within what the tiny
BERT answers (its 64 windows of 128 tokens hold about 15,000 characters of ``SENTENCE``)."""


def long_text(characters: int) -> str:
    return (SENTENCE * (characters // len(SENTENCE) + 1))[:characters]


def render(viewable: Any) -> Document:
    document = Document()
    document.add_root(pn.panel(viewable).get_root(document))
    return document


def browser_model(widget: Any) -> Any:
    """The Bokeh model a page shows for ``widget`` (its first rendering)."""
    model, _parent = next(iter(widget._models.values()))
    return model


def browser_edit(widget: Any, **properties: Any) -> None:
    """What Panel does when the page sends a widget's new properties."""
    widget._process_events(properties)


def test_the_text_boxes_take_text_far_longer_than_panels_default_limit(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = QALensApp(models=[tiny_bert_dir], background=False)
        render(app)
        render(app.whatif)  # its tab draws only when opened
        boxes = {
            "context": app.controls.context,
            "question": app.controls.question,
            "what-if draft": app.whatif.draft,
            "replacement": app.whatif.replacement,
        }
        for name, widget in boxes.items():
            limit = browser_model(widget).max_length
            assert limit == MAX_TEXT_CHARACTERS, f"the {name} box tells the browser to cut text at {limit} characters"
        pasted = long_text(ACCEPTED_CHARACTERS)
        browser_edit(app.controls.context, value=pasted)
        assert app.state.inputs.context == pasted
        app.state.update(question=QUESTION)
        app.state.run()
        assert app.state.explanation is not None and app.state.explanation.context == pasted
        assert app.state.whatif.draft == pasted and browser_model(app.whatif.draft).value == pasted
        typed = pasted + " It also opens on Sundays."
        browser_edit(app.whatif.draft, value=typed)
        assert app.state.whatif.draft == typed

    in_loop(body)


def test_the_state_behind_the_boxes_has_no_length_bound() -> None:
    state = ExplorerState(models=["unused"], examples=[])
    text = long_text(300_000)
    state.update(context=text, question=text)
    state.whatif.param.update(draft=text, replacement=text)
    assert state.inputs.context == text and state.inputs.question == text
    assert state.whatif.draft == text and state.whatif.replacement == text


def test_a_context_beyond_the_window_limit_is_a_message_in_the_page(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = QALensApp(models=[tiny_bert_dir], background=False)
        render(app)
        render(app.whatif)
        app.state.update(question=QUESTION, context=long_text(ACCEPTED_CHARACTERS))
        app.controls.run_button.clicks += 1
        explanation = app.state.explanation
        assert explanation is not None and explanation.num_windows > 1
        too_long = long_text(80_000) + " <img src=x onerror=alert(1)>"
        assert len(too_long) < MAX_TEXT_CHARACTERS, "the box takes it whole: the core's limit is the one met"
        browser_edit(app.controls.context, value=too_long)
        app.controls.run_button.clicks += 1
        error = app.controls.error
        assert error.visible and not app.state.jobs.answer.running
        said = visible_text(error)
        assert f"the limit is {core.MAX_WINDOWS}" in said and "Shorten the context" in said
        assert "Traceback" not in said and "<img" not in rendered_html(error)
        assert app.state.inputs.context == too_long, "the context stays as typed, never cut"

        browser_edit(app.whatif.draft, value=too_long)
        app.whatif.reanswer.clicks += 1
        problem = app.whatif.problem
        assert problem.visible and f"the limit is {core.MAX_WINDOWS}" in visible_text(problem)
        assert "<img" not in rendered_html(problem) and app.state.whatif.draft == too_long

    in_loop(body)


def test_a_full_text_box_says_that_text_beyond_it_was_left_out(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = QALensApp(models=[tiny_bert_dir], background=False)
        render(app)
        notes = {"context": app.controls.context_full, "draft": app.whatif.draft_full}
        assert not any(note.visible for note in notes.values())
        full = long_text(MAX_TEXT_CHARACTERS)
        browser_edit(app.controls.context, value=full)
        app.state.whatif.draft = full
        for name, note in notes.items():
            assert note.visible, f"the full {name} box says so"
            assert f"at most {MAX_TEXT_CHARACTERS:,} characters" in visible_text(note)
        browser_edit(app.controls.context, value=full[:-1])
        assert not notes["context"].visible

    in_loop(body)


def test_every_checkbox_of_every_page_is_the_kits_whose_words_tick_it(tiny_bert_dir: str) -> None:
    raw = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sorted((ROOT / "dashboard").rglob("*.py"))
        if path.name != "widgets.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if re.search(r"widgets\.Checkbox\b|widgets\.TextAreaInput\b", line)
    ]
    assert raw == [], "use dashboard.views.widgets.Checkbox / TextBox (the label ticks the box; no 5,000 cut)"

    def body() -> None:
        app = QALensApp(models=[tiny_bert_dir], background=False)
        render(app)
        boxes = [widget for widget in pn.panel(app.controls).select(pn.widgets.Checkbox)]
        assert len(boxes) == 3 and all(isinstance(box, Checkbox) for box in boxes)
        auto_run = next(box for box in boxes if box.label == "Run when an example or model is chosen")
        model = browser_model(auto_run)
        assert isinstance(model, CheckboxGroup), "drawn as a <label> around the box and its words"
        assert model.labels == ["Run when an example or model is chosen"] and model.active == [0]
        browser_edit(auto_run, active=[])
        assert app.state.inputs.auto_run is False
        app.state.inputs.auto_run = True
        assert model.active == [0]

    in_loop(body)
