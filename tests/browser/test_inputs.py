"""What a person types, pastes and ticks, in Chromium: a long pasted context answered whole, a long what-if draft
that takes typing, and checkboxes whose words tick them.

Panel's text inputs used to tell the browser ``maxlength=5000`` (a longer paste was cut there without a word)
and Bokeh's checkbox drew its words beside the box, out of reach of a click (``dashboard/views/widgets.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium_path fixture skips (or, on CI, fails) with the reason
    expect = None

import core
from core.examples import Example, find_example
from dashboard.fixtures.page_scripts import ANSWER_TIMEOUT_MS, UI_TIMEOUT_MS
from dashboard.fixtures.server import PanelServer
from tests.browser.dashboard_page import DashboardPage
from tests.browser.support import assert_clean_console

pytestmark = pytest.mark.browser

EXAMPLE_ID = "estrand-01"
"""The answering text: a short bundled example about Lake Aumbry, put at the end of the long context."""
CONTEXT_CHARACTERS = 20_000
TAIL_STARTS = 15_000
"""The answer must come from past this character: a context cut at Panel's 5,000 never reaches it."""
FILLER = "The committee met again on a grey afternoon and adjourned without reaching any decision. "
"""Unrelated sentences before the answering text (the model's answer on the whole text lies in that text)."""
DRAFT_LABEL = "The what-if copy of the context (edit freely)"
CHECKBOXES = (
    "Compute integrated gradients",
    "Run when an example or model is chosen",
    "Scale saliency without [CLS]/[SEP] (capped instead)",
)
"""Every checkbox of the explorer page (the sidebar's Settings)."""


@pytest.fixture(scope="module")
def example() -> Example:
    return find_example(EXAMPLE_ID)


@pytest.fixture(scope="module")
def long_context(example: Example) -> str:
    """``CONTEXT_CHARACTERS`` characters: whole filler sentences, spaces, then the example's context."""
    room = CONTEXT_CHARACTERS - len(example.context) - 2
    filler = (FILLER * (room // len(FILLER) + 1))[:room]
    filler = filler[: filler.rfind(". ") + 1]
    return filler.ljust(room) + "\n\n" + example.context


@pytest.fixture()
def dash(page: Any, dashboard_server: PanelServer, request: pytest.FixtureRequest) -> Iterator[DashboardPage]:
    offset = dashboard_server.log_size()
    yield DashboardPage(page, dashboard_server.url, request.node.name)
    dashboard_server.assert_no_tracebacks_since(offset)


def paste(dash: DashboardPage, box: Any, text: str) -> None:
    """Paste ``text`` into ``box`` the way a person does: through the clipboard and Ctrl+V."""
    dash.page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=dash.url)
    dash.page.evaluate("(text) => navigator.clipboard.writeText(text)", text)
    box.click()
    box.press("Control+A")
    box.press("Control+V")


def assert_holds(box: Any, text: str, what: str) -> None:
    """Wait until ``box`` holds ``text``; if it never does, say how much it holds (not 20,000 characters of diff)."""
    try:
        expect(box).to_have_value(text, timeout=UI_TIMEOUT_MS)
    except AssertionError:
        held = box.input_value()
        raise AssertionError(
            f"{what} holds {len(held)} characters, not the {len(text)} expected; it ends {held[-60:]!r}"
        ) from None


def test_a_pasted_20000_character_context_is_answered_whole(
    dash: DashboardPage, example: Example, long_context: str, minilm_qa_dir: str
) -> None:
    expected = core.explain(example.question, long_context, model=minilm_qa_dir, methods=())
    assert len(long_context) == CONTEXT_CHARACTERS
    assert expected.answer.start_char > TAIL_STARTS, "the model's answer on the whole text lies in its tail"
    assert expected.answer.text not in long_context[:TAIL_STARTS], "and is nowhere before it"

    dash.open()
    dash.question_input().fill(example.question)
    paste(dash, dash.context_input(), long_context)
    assert_holds(dash.context_input(), long_context, "the Context box")
    dash.run()
    assert dash.wait_for_answer() == expected.answer.text
    where = dash.page.get_by_text("(P(start) × P(end))").inner_text()
    answer = expected.answer
    assert f"characters {answer.start_char}–{answer.end_char}" in where, where  # past TAIL_STARTS
    assert f"window {expected.window_index + 1} of {expected.num_windows}" in where, where
    dash.screenshot("answered")

    dash.open_tab("What if")
    draft = dash.page.get_by_label(DRAFT_LABEL, exact=True)
    assert_holds(draft, long_context, "the what-if draft (the context the server explained)")
    draft.click()
    draft.press("Control+End")
    added = " It was dredged in 1931."
    draft.press_sequentially(added)
    assert_holds(draft, long_context + added, "the what-if draft after typing")
    dash.page.get_by_role("button", name="Answer this text").click()
    verdict = dash.page.get_by_text(re.compile(r"^(The answer changed\.|Same answer\.)$")).first
    verdict.wait_for(timeout=ANSWER_TIMEOUT_MS)
    dash.screenshot("what-if-typed")
    assert_clean_console(dash.page)


def test_the_words_of_every_explorer_checkbox_tick_it(dash: DashboardPage) -> None:
    dash.open()
    page = dash.page
    page.get_by_text("Settings", exact=True).click()
    for words in CHECKBOXES:
        expect(page.get_by_role("checkbox", name=words, exact=True)).to_have_count(1, timeout=UI_TIMEOUT_MS)
    scale = page.get_by_role("checkbox", name=CHECKBOXES[2], exact=True)
    expect(scale).to_be_checked()
    page.get_by_text(CHECKBOXES[2], exact=True).click()
    expect(scale).not_to_be_checked(timeout=UI_TIMEOUT_MS)
    page.wait_for_url(re.compile(r"scale_specials_out=false"), timeout=UI_TIMEOUT_MS)  # the session's state has it
    dash.screenshot("unticked-by-its-words")
    page.get_by_text(CHECKBOXES[2], exact=True).click()
    expect(scale).to_be_checked(timeout=UI_TIMEOUT_MS)
    page.wait_for_url(lambda url: "scale_specials_out=false" not in url, timeout=UI_TIMEOUT_MS)
    assert_clean_console(page)
