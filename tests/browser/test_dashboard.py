"""The served dashboard in Debian's Chromium: load, run an example, read the answer, switch heads, select tokens.

One `panel serve` (MiniLM-L6: real attention patterns, 6 layers x 12 heads) for the session, a
fresh page per test. What the plots show is read from Bokeh's document in the page and compared
with ``core.explain`` on the same input in this process: the page must show exactly what the
library computes. Screenshots of every step: ``test-artifacts/browser/<test>-<step>.png``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium_path fixture skips (or, on CI, fails) with the reason
    expect = None

import core
from core.examples import Example, find_example, load_examples
from dashboard.fixtures.page_scripts import ANSWER_TIMEOUT_MS, SALIENCY_TIMEOUT_MS, UI_TIMEOUT_MS
from dashboard.fixtures.server import PanelServer
from tests.browser.dashboard_page import DashboardPage
from tests.browser.support import assert_clean_console

pytestmark = pytest.mark.browser

EXAMPLE_ID = "estrand-01"
"""A short bundled example (197 characters, one window): MiniLM answers it in about a second."""


@pytest.fixture(scope="module")
def example() -> Example:
    return find_example(EXAMPLE_ID)


@pytest.fixture(scope="module")
def expected(example: Example, minilm_qa_dir: str) -> core.Explanation:
    """What the library says for the example, computed here, outside the server."""
    return core.explain(example.question, example.context, model=minilm_qa_dir, methods=("gradient",))


@pytest.fixture()
def dash(page: Any, dashboard_server: PanelServer, request: pytest.FixtureRequest) -> Iterator[DashboardPage]:
    """The dashboard in a fresh page; afterwards, the server must not have logged a traceback."""
    offset = dashboard_server.log_size()
    yield DashboardPage(page, dashboard_server.url, request.node.name)
    dashboard_server.assert_no_tracebacks_since(offset)


def open_and_answer(dash: DashboardPage, example: Example) -> str:
    dash.open()
    dash.pick_example(example.question)
    return dash.wait_for_answer()


def rows_sum_to_one(matrix: np.ndarray) -> bool:
    return bool(np.allclose(matrix.sum(axis=1), 1.0, atol=1e-4))


@pytest.mark.browser
def test_the_page_loads_with_its_controls(dash: DashboardPage, minilm_qa_dir: str) -> None:
    dash.open()
    page = dash.page
    dash.screenshot("loaded")

    assert "QA Lens" in page.title()
    assert page.get_by_label("Model", exact=True).input_value() == minilm_qa_dir
    labels = dash.example_labels()
    assert labels[0] == "(your own question)"
    assert len(labels) == 1 + len(load_examples()), "every bundled example is offered"
    assert page.get_by_role("button", name="Run", exact=True).is_enabled()
    assert page.get_by_text("Pick an example or type a question and a context").is_visible()
    # Six layers and twelve heads of MiniLM, plus the two aggregates.
    heads = page.get_by_label("Head").locator("option").all_inner_texts()
    assert heads == ["mean of heads", "rollout", *(f"head {h}" for h in range(12))]
    assert_clean_console(page)


@pytest.mark.browser
def test_picking_an_example_runs_it_and_shows_the_answer(
    dash: DashboardPage, example: Example, expected: core.Explanation
) -> None:
    dash.open()
    page = dash.page
    dash.pick_example(example.question)
    expect(dash.question_input()).to_have_value(example.question, timeout=UI_TIMEOUT_MS)
    expect(dash.context_input()).to_have_value(example.context, timeout=UI_TIMEOUT_MS)
    dash.screenshot("example-picked")

    answer = dash.wait_for_answer()
    dash.screenshot("answer")
    assert answer == expected.answer.text, "the page shows the library's answer"
    assert answer in example.context
    assert dash.top_answers() == [span.text for span in expected.top_k]
    # The answer is outlined in the coloured text, token for token.
    outlined = dash.page.locator(".qa-text .answer [data-pos]").evaluate_all("(s) => s.map((e) => +e.dataset.pos)")
    assert outlined == list(range(expected.answer.start_token, expected.answer.end_token))
    assert f"example={EXAMPLE_ID}" in page.url, "the choice is kept in the URL"

    # Integrated gradients follow in the background, with visible progress, then say so.
    page.get_by_text(re.compile(r"^Integrated gradients ready")).wait_for(timeout=SALIENCY_TIMEOUT_MS)
    page.get_by_label("Saliency method").select_option(label="integrated gradients")
    page.get_by_text(re.compile(r"^Background: integrated gradients for the answer start")).wait_for(
        timeout=UI_TIMEOUT_MS
    )
    dash.screenshot("integrated-gradients")
    assert_clean_console(page)


@pytest.mark.browser
def test_switching_head_and_layer_redraws_the_attention_heatmap(
    dash: DashboardPage, example: Example, expected: core.Explanation
) -> None:
    open_and_answer(dash, example)
    page = dash.page
    heatmap = dash.figure_element("attention")

    mean = dash.attention_image()
    dash.screenshot("heatmap-mean-of-heads", page.get_by_text("layer 0, mean of heads").first, heatmap)
    assert mean.shape == (expected.num_tokens, expected.num_tokens)
    assert np.allclose(mean, expected.mean_attention()[0], atol=1e-5), "layer 0, mean of heads"
    assert rows_sum_to_one(mean)

    dash.choose_head("head 3")
    head3 = dash.wait_for_attention_change(mean)
    caption = page.get_by_text("layer 0, head 3").first
    caption.wait_for(timeout=UI_TIMEOUT_MS)
    dash.screenshot("heatmap-head-3", caption, heatmap)
    assert np.allclose(head3, expected.attentions[0, 3], atol=1e-5), "the heatmap shows layer 0, head 3"
    assert rows_sum_to_one(head3)
    assert np.abs(head3 - mean).max() > 0.05, "a single head differs visibly from the mean"
    assert "head=3" in page.url

    page.get_by_role("slider").first.press("ArrowRight")  # the layer slider, by keyboard
    layer1 = dash.wait_for_attention_change(head3)
    caption = page.get_by_text("layer 1, head 3").first
    caption.wait_for(timeout=UI_TIMEOUT_MS)
    dash.screenshot("heatmap-layer-1-head-3", caption, heatmap)
    assert np.allclose(layer1, expected.attentions[1, 3], atol=1e-5), "the heatmap shows layer 1, head 3"
    assert rows_sum_to_one(layer1)
    assert_clean_console(page)


@pytest.mark.browser
def test_a_shared_url_restores_example_layer_and_head(dash: DashboardPage, expected: core.Explanation) -> None:
    dash.open(f"example={EXAMPLE_ID}&layer=1&head=3")
    page = dash.page
    assert dash.wait_for_answer() == expected.answer.text
    caption = page.get_by_text("layer 1, head 3").first
    caption.wait_for(timeout=UI_TIMEOUT_MS)
    dash.screenshot("restored", caption, dash.figure_element("attention"))
    assert page.get_by_label("Head").input_value() == "head 3"
    assert np.allclose(dash.attention_image(), expected.attentions[1, 3], atol=1e-5)
    assert_clean_console(page)


@pytest.mark.browser
def test_clicking_tokens_in_the_text_selects_them_in_every_plot(
    dash: DashboardPage, example: Example, expected: core.Explanation
) -> None:
    open_and_answer(dash, example)
    page = dash.page
    count = expected.num_tokens
    first = expected.answer.start_token
    last = expected.answer.end_token - 1

    dash.text_token(first).click()
    dash.selection_summary().filter(has_text="1 selected:").wait_for(timeout=UI_TIMEOUT_MS)
    dash.wait_for_selected_glyphs("question_attention", "Quad", [first], column="value")
    dash.screenshot("one-token")
    assert f"#{first}" in dash.selection_summary().inner_text()
    assert dash.selected_text_tokens() == [first]
    assert dash.attention_bands() == [[(first - 0.5, first + 0.5)]] * 2, "row and column band on the heatmap"
    dash.wait_for_selected_glyphs("head_view", "Scatter", [first, first + count])

    dash.text_token(last).click(modifiers=["Shift"])  # shift-click: the run from the last click
    run = list(range(first, last + 1))
    dash.selection_summary().filter(has_text=f"{len(run)} selected:").wait_for(timeout=UI_TIMEOUT_MS)
    dash.wait_for_selected_glyphs("question_attention", "Quad", run, column="value")
    dash.screenshot("answer-run")
    assert dash.selected_text_tokens() == run
    assert dash.attention_bands() == [[(first - 0.5, last + 0.5)]] * 2
    dash.wait_for_selected_glyphs("head_view", "Scatter", run + [p + count for p in run])

    # A plot drawn later (another tab) starts with the selection already shown.
    dash.open_tab("Probabilities")
    dash.wait_for_figure("start_probabilities")
    dash.wait_for_selected_glyphs("start_probabilities", "Quad", run, column="value")
    dash.screenshot("probabilities-follow")

    page.get_by_role("button", name="Clear selection").click()
    dash.selection_summary().filter(has_text="No tokens selected").wait_for(timeout=UI_TIMEOUT_MS)
    dash.wait_for_selected_glyphs("start_probabilities", "Quad", [], column="value")
    dash.wait_for_text_selection([])
    dash.screenshot("cleared")
    assert_clean_console(page)


@pytest.mark.browser
def test_tapping_the_heatmap_selects_both_tokens_in_the_text(
    dash: DashboardPage, example: Example, expected: core.Explanation
) -> None:
    open_and_answer(dash, example)
    question = expected.roles.index("question")
    context = expected.answer.start_token
    dash.tap_plot("attention", x=question, y=context)  # the cell: query `context` attends to key `question`
    dash.wait_for_text_selection(sorted({question, context}))
    dash.screenshot("heatmap-tap")
    summary = dash.selection_summary().inner_text()
    assert "2 selected:" in summary and f"#{question}" in summary and f"#{context}" in summary
    assert_clean_console(dash.page)


def _poll(check: Any, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return bool(check())


@pytest.mark.browser
def test_tapping_the_heatmap_selects_both_tokens_in_every_plot(
    dash: DashboardPage, example: Example, expected: core.Explanation
) -> None:
    open_and_answer(dash, example)
    count = expected.num_tokens
    question = expected.roles.index("question")
    context = expected.answer.start_token
    chosen = sorted({question, context})
    dash.tap_plot("attention", x=question, y=context)
    dash.wait_for_text_selection(chosen)
    followed = _poll(lambda: dash.selected_glyphs("question_attention", "Quad", "value") == chosen)
    dash.screenshot("plots-after-tap")
    assert followed, f"question-attention bars show {dash.selected_glyphs('question_attention', 'Quad', 'value')}"
    assert dash.attention_bands() == [[(p - 0.5, p + 0.5) for p in chosen]] * 2
    assert dash.selected_glyphs("head_view", "Scatter") == chosen + [p + count for p in chosen]


@pytest.mark.browser
def test_an_empty_question_says_so(dash: DashboardPage) -> None:
    dash.open()
    page = dash.page
    dash.context_input().fill("The library opens at nine and closes at half past six.")
    dash.question_input().fill("")
    dash.run()
    alert = dash.alert("danger", "The question is empty")
    alert.wait_for(timeout=ANSWER_TIMEOUT_MS)
    dash.screenshot("empty-question")
    assert "type a question with at least one visible character" in dash.deep_text(alert)
    assert page.get_by_text("Pick an example or type a question and a context").is_visible(), "no answer shown"
    assert page.get_by_role("button", name="Run", exact=True).is_enabled(), "ready for another try"
    assert_clean_console(page)
