"""Flows users broke, in Chromium: switching model after an answer, Enter after an example, links that carry
an example and a question, a reload after a server restart, and hostile text in every tab."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium_path fixture skips (or, on CI, fails) with the reason
    expect = None

import core
from core.examples import Example, find_example
from dashboard.fixtures.page_scripts import ANSWER_TIMEOUT_MS, UI_TIMEOUT_MS
from dashboard.fixtures.server import PanelServer, server_environment
from tests.browser.dashboard_page import DashboardPage
from tests.browser.support import ARTIFACTS, assert_clean_console

pytestmark = pytest.mark.browser

EXAMPLE_ID = "estrand-01"


@pytest.fixture(scope="module")
def example() -> Example:
    return find_example(EXAMPLE_ID)


@pytest.fixture(scope="module")
def two_models(panel_server: Callable[..., PanelServer], minilm_qa_dir: str, tiny_bert_dir: str) -> PanelServer:
    return panel_server("two-models", [minilm_qa_dir, tiny_bert_dir])


@pytest.fixture()
def dash(page: Any, two_models: PanelServer, request: pytest.FixtureRequest) -> Iterator[DashboardPage]:
    offset = two_models.log_size()
    yield DashboardPage(page, two_models.url, request.node.name)
    two_models.assert_no_tracebacks_since(offset)


def score_line(dash: DashboardPage) -> str:
    return dash.page.get_by_text("(P(start) × P(end))").inner_text()


def test_switching_the_model_after_an_answer_answers_with_the_new_model(
    dash: DashboardPage, example: Example, tiny_bert_dir: str
) -> None:
    dash.open()
    dash.pick_example(example.question)
    dash.wait_for_answer()
    expected = core.explain(example.question, example.context, model=tiny_bert_dir, methods=())
    dash.page.get_by_label("Model", exact=True).select_option(tiny_bert_dir)
    expect(dash.page.get_by_text("(P(start) × P(end))")).to_contain_text(tiny_bert_dir, timeout=ANSWER_TIMEOUT_MS)
    dash.screenshot("new-model-answer")
    assert dash.wait_for_answer() == expected.answer.text
    assert tiny_bert_dir in score_line(dash)
    assert dash.page.locator(".alert-danger:visible").count() == 0
    assert_clean_console(dash.page)


def test_enter_after_choosing_an_example_runs_that_question(dash: DashboardPage, example: Example) -> None:
    dash.open()
    dash.question_input().fill("An older typed question about something else?")
    dash.pick_example(example.question)
    first = dash.wait_for_answer()
    dash.question_input().press("Enter")
    dash.page.wait_for_timeout(500)  # let the Enter round-trip reach the server and come back
    expect(dash.question_input()).to_have_value(example.question, timeout=UI_TIMEOUT_MS)
    expect(dash.page.get_by_role("button", name="Run", exact=True)).to_be_enabled(timeout=ANSWER_TIMEOUT_MS)
    dash.screenshot("after-enter")
    assert dash.alert("danger", "The question is empty").count() == 0
    assert dash.wait_for_answer() == first, "Enter ran the example's question, not the older typed one"
    assert_clean_console(dash.page)


def test_a_link_with_an_example_and_another_question_answers_that_question(
    dash: DashboardPage, example: Example, minilm_qa_dir: str
) -> None:
    question = "Which town is mentioned in the text?"
    expected = core.explain(question, example.context, model=minilm_qa_dir, methods=())
    dash.open(f"example={EXAMPLE_ID}&question={quote(question)}")
    assert dash.wait_for_answer() == expected.answer.text
    expect(dash.question_input()).to_have_value(question, timeout=UI_TIMEOUT_MS)
    expect(dash.context_input()).to_have_value(example.context, timeout=UI_TIMEOUT_MS)
    query = parse_qs(urlparse(dash.page.url).query)
    assert query.get("example") == [EXAMPLE_ID] and query.get("question") == [question], dash.page.url
    dash.screenshot("link-question")
    assert_clean_console(dash.page)


def test_a_lost_connection_says_so_and_a_reload_after_a_restart_restores_the_link(
    page: Any, minilm_qa_dir: str, request: pytest.FixtureRequest
) -> None:
    question = "Who looks after the lighthouse?"
    context = "The lighthouse on the cape is looked after by Maren Holt, who lives in the keeper's cottage."
    expected = core.explain(question, context, model=minilm_qa_dir, methods=())
    first = PanelServer(name="restart-1", models=[minilm_qa_dir], env=server_environment(), log_dir=ARTIFACTS)
    second = PanelServer(
        name="restart-2", models=[minilm_qa_dir], env=server_environment(), log_dir=ARTIFACTS, port=first.port
    )
    try:
        first.start()
        first.wait_until_ready()
        dash = DashboardPage(page, first.url, request.node.name)
        dash.open()
        dash.question_input().fill(question)
        dash.context_input().fill(context)
        dash.run()
        assert dash.wait_for_answer() == expected.answer.text
        link = page.url
        assert "context=" in link and "question=" in link, link
        first.terminate()
        first.wait_stopped()
        banner = page.get_by_text(re.compile("connection to the server is lost", re.IGNORECASE))
        banner.first.wait_for(timeout=UI_TIMEOUT_MS)
        dash.screenshot("connection-lost", banner.first)
        second.start()
        second.wait_until_ready()
        page.goto(link)
        assert dash.wait_for_answer() == expected.answer.text
        expect(dash.question_input()).to_have_value(question, timeout=UI_TIMEOUT_MS)
        expect(dash.context_input()).to_have_value(context, timeout=UI_TIMEOUT_MS)
        dash.screenshot("restored-after-restart")
    finally:
        for server in (first, second):
            server.terminate()
        for server in (first, second):
            server.wait_stopped()


# ---------------------------------------------------------------------------------------------- hostile text

PAYLOADS = [
    '<img src=x onerror="window.__xss=(window.__xss||0)+1">',
    "<svg/onload=window.__xss=1>",
    "<script>window.__xss=1</script>",
    "[click](javascript:window.__xss=1)",
    '"><b onmouseover=window.__xss=1>bold</b>',
]
HOSTILE_ID = 'x"><img src=x onerror=window.__xss=1>'

JS_INJECTED = """
() => {
  const found = [];
  const visit = (root) => {
    root.querySelectorAll("*").forEach((element) => {
      for (const attribute of element.attributes) {
        if (attribute.name.startsWith("on") && attribute.value.includes("__xss")) {
          found.push(element.tagName + " " + attribute.name);
        }
      }
      if (element.tagName === "IMG" && (element.getAttribute("src") || "") === "x") { found.push("IMG src=x"); }
      if (element.tagName === "SCRIPT" && element.textContent.includes("__xss")) { found.push("SCRIPT"); }
      if (element.tagName === "A" && (element.getAttribute("href") || "").startsWith("javascript:")) {
        found.push("A javascript:");
      }
      if (element.shadowRoot) { visit(element.shadowRoot); }
    });
  };
  visit(document);
  return {found, ran: window.__xss !== undefined};
}
"""


@pytest.fixture(scope="module")
def hostile_server(
    panel_server: Callable[..., PanelServer],
    tiny_bert_dir: str,
    tiny_roberta_dir: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> PanelServer:
    context = " ".join(f"{payload} was built in 1889 by {payload}." for payload in PAYLOADS * 2)
    data = {
        "version": "hostile",
        "data": [
            {
                "title": PAYLOADS[0],
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": HOSTILE_ID,
                                "question": f"Who built {PAYLOADS[1]} {PAYLOADS[3]}?",
                                "answers": [{"text": PAYLOADS[0], "answer_start": 0}],
                            }
                        ],
                    }
                ],
            }
        ],
    }
    path = tmp_path_factory.mktemp("hostile") / "examples.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    env = server_environment(QA_LENS_EXAMPLES=str(path))
    return panel_server("hostile", [tiny_bert_dir, tiny_roberta_dir], env=env)


def _assert_nothing_injected(dash: DashboardPage, where: str) -> None:
    result = dash.page.evaluate(JS_INJECTED)
    assert not result["ran"], f"injected code ran ({where})"
    assert result["found"] == [], f"injected elements in the page ({where}): {result['found']}"


def _compute(dash: DashboardPage, button: str, done: re.Pattern[str]) -> None:
    dash.page.get_by_role("button", name=button).click()
    dash.page.get_by_text(done).first.wait_for(timeout=ANSWER_TIMEOUT_MS)


def test_hostile_text_never_becomes_markup_in_any_tab(
    page: Any, hostile_server: PanelServer, request: pytest.FixtureRequest
) -> None:
    offset = hostile_server.log_size()
    dash = DashboardPage(page, hostile_server.url, request.node.name)
    dash.open(f"example={quote(HOSTILE_ID)}")
    dash.wait_for_answer()
    _assert_nothing_injected(dash, "answer")
    expect(dash.question_input()).to_have_value(re.compile(re.escape(PAYLOADS[1])), timeout=UI_TIMEOUT_MS)
    for tab in ("Attention", "Saliency", "Probabilities"):
        dash.open_tab(tab)
        dash.page.wait_for_timeout(300)
        _assert_nothing_injected(dash, tab)
    dash.open_tab("Trust")
    _compute(dash, "Compute faithfulness", re.compile(r"forward passes in"))
    _assert_nothing_injected(dash, "Trust > Faithfulness")
    dash.open_tab("Sanity check")
    _compute(dash, "Run the sanity check", re.compile(r"randomisation steps in"))
    _assert_nothing_injected(dash, "Trust > Sanity check")
    dash.open_tab("Layers")
    final = dash.page.get_by_text(re.compile("^Final answer"))
    final.first.wait_for(timeout=UI_TIMEOUT_MS)
    _assert_nothing_injected(dash, "Trust > Layers")
    dash.open_tab("Models side by side")
    _compute(dash, "Compare models", re.compile(r"\d+ models, (the same|different) answers?"))
    _assert_nothing_injected(dash, "Trust > Models side by side")
    dash.screenshot("hostile-compare")
    # The text is shown, as text: the question's payloads appear literally in the coloured text.
    shown = dash.page.locator(".qa-text").first.inner_text()
    assert PAYLOADS[1] in shown and PAYLOADS[3] in shown, shown[:300]
    hostile_server.assert_no_tracebacks_since(offset)
    assert_clean_console(page)


# ---------------------------------------------------------------------------------------------- what if, heads


def test_editing_a_word_answers_again_beside_the_original(
    dash: DashboardPage, example: Example, minilm_qa_dir: str
) -> None:
    dash.open()
    dash.pick_example(example.question)
    dash.wait_for_answer()
    expected = core.explain(example.question, example.context, model=minilm_qa_dir, methods=())
    positions = list(range(expected.answer.start_token, expected.answer.end_token))
    for position in positions:
        dash.text_token(position).click()
    dash.wait_for_text_selection(positions)
    dash.open_tab("What if")
    dash.page.get_by_role("button", name="Delete the selected words").click()
    dash.page.get_by_text("removed by an edit").first.wait_for(timeout=ANSWER_TIMEOUT_MS)
    verdict = dash.page.get_by_text(re.compile(r"^(The answer changed\.|Same answer\.)$")).first
    assert verdict.inner_text() == "The answer changed.", "deleting the answer's words changes the answer"
    assert dash.page.get_by_text(expected.answer.text, exact=True).count() >= 1  # the original, beside the new one
    dash.screenshot("what-if-deleted")
    dash.page.get_by_role("button", name="Undo").click()
    expect(dash.page.get_by_role("button", name="Undo")).to_be_disabled(timeout=UI_TIMEOUT_MS)
    assert_clean_console(dash.page)


def test_a_head_importance_cell_selects_that_layer_and_head(dash: DashboardPage, example: Example) -> None:
    dash.open()
    dash.pick_example(example.question)
    dash.wait_for_answer()
    before = dash.attention_image()
    dash.page.get_by_role("button", name="Compute head importance").click()
    dash.wait_for_figure("head_importance", ANSWER_TIMEOUT_MS)
    dash.tap_plot("head_importance", x=4.5, y=2.5)  # head 4; rows count down from the top layer
    dash.wait_for_attention_change(before)
    expect(dash.page.get_by_label("Head")).to_have_value("head 4", timeout=UI_TIMEOUT_MS)
    layer = int(dash.page.get_by_text(re.compile(r"^layer \d+, head 4$")).first.inner_text().split(",")[0].split()[1])
    assert layer == 6 - 1 - 2, "the cell's row is its layer (layer 0 at the top)"
    dash.screenshot("head-importance-tapped", dash.figure_element("head_importance"))
    assert_clean_console(dash.page)
