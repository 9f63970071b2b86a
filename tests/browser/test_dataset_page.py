"""The Dataset page in Chromium: a run's examples as text, a filter that narrows them, a click into the explorer."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium_path fixture skips (or, on CI, fails) with the reason
    expect = None

from core.dataset import explain_dataset, load_run
from core.examples import load_examples
from dashboard.fixtures.page_scripts import JS_IDLE, UI_TIMEOUT_MS
from dashboard.fixtures.server import PanelServer, server_environment
from tests.browser.dashboard_page import DashboardPage

pytestmark = pytest.mark.browser

HOSTILE_ID = "hostile"
HOSTILE_QUESTION = 'Who designed it <img src=x onerror="window.__xss = 1">?'


@pytest.fixture(scope="module")
def run_dir(tiny_bert_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six bundled examples and one whose question carries markup, run serially with the tiny BERT."""
    examples = load_examples()[:6]
    articles = [
        {
            "title": example.title,
            "paragraphs": [
                {
                    "context": example.context,
                    "qas": [
                        {
                            "id": example.id,
                            "question": example.question,
                            "answers": [{"text": example.answer_text, "answer_start": example.answer_start}],
                        }
                    ],
                }
            ],
        }
        for example in examples
    ]
    answers = articles[0]["paragraphs"][0]["qas"][0]["answers"]
    hostile = {"id": HOSTILE_ID, "question": HOSTILE_QUESTION, "answers": answers}
    articles[0]["paragraphs"][0]["qas"].append(hostile)
    root = tmp_path_factory.mktemp("dataset-browser")
    data = root / "dev.json"
    data.write_text(json.dumps({"version": "1.1", "data": articles}), encoding="utf-8")
    out = root / "run"
    explain_dataset(data, tiny_bert_dir, out, serial=True, progress=False)
    return out


@pytest.fixture(scope="module")
def dataset_server(panel_server: Callable[..., PanelServer], tiny_bert_dir: str, run_dir: Path) -> PanelServer:
    return panel_server("dataset", [tiny_bert_dir], env=server_environment(QA_LENS_RUNS=str(run_dir)))


@pytest.fixture()
def dash(page: Any, dataset_server: PanelServer, request: pytest.FixtureRequest) -> Iterator[DashboardPage]:
    offset = dataset_server.log_size()
    yield DashboardPage(page, dataset_server.url, request.node.name)
    dataset_server.assert_no_tracebacks_since(offset)


def id_cells(dash: DashboardPage) -> Any:
    return dash.page.locator(".tabulator-row .tabulator-cell[tabulator-field='id']")


def test_the_run_opens_filters_and_a_click_answers_the_example_in_the_explorer(
    dash: DashboardPage, run_dir: Path
) -> None:
    run = load_run(run_dir)
    rows = run.rows.set_index("id")
    dash.page.goto(dash.url)
    dash.page.wait_for_function(JS_IDLE, timeout=UI_TIMEOUT_MS)
    expect(dash.page.get_by_text(f"EM {run.summary.em:.1f}", exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)
    expect(id_cells(dash)).to_have_count(len(rows), timeout=UI_TIMEOUT_MS)

    hostile_cell = dash.page.locator(".tabulator-cell[tabulator-field='question']").filter(has_text="<img src=x")
    expect(hostile_cell).to_have_count(1)  # the markup is shown as text ...
    assert dash.page.locator("img[src='x']").count() == 0  # ... and never becomes an element
    assert dash.page.evaluate("() => window.__xss === undefined")
    dash.screenshot("page")

    wrong = sorted(rows.index[~rows["correct"].astype(bool)])
    dash.page.get_by_text("Wrong answers only", exact=True).click()  # the label toggles the box
    expect(id_cells(dash)).to_have_count(len(wrong), timeout=UI_TIMEOUT_MS)
    assert sorted(id_cells(dash).all_inner_texts()) == wrong

    target = next(example for example in load_examples()[:6] if example.id in wrong)
    id_cells(dash).filter(has_text=target.id).first.click()
    expect(dash.question_input()).to_have_value(target.question, timeout=UI_TIMEOUT_MS)
    answer = dash.wait_for_answer()
    assert answer == rows.loc[target.id, "prediction"]  # the explorer agrees with the run
    dash.screenshot("explorer")
    assert dash.page.evaluate("() => window.__xss === undefined")
    expect(dash.page.locator(".bk-tab.bk-active").filter(has_text="Explorer")).to_have_count(1)


def test_clicking_the_words_wrong_answers_only_ticks_the_box_and_filters_the_table(
    page: Any, panel_server: Callable[..., PanelServer], tiny_bert_dir: str, tmp_path: Path
) -> None:
    """The words, not the box. In this run the model gets half the questions right (their gold answers are its own
    predictions), so the filter visibly narrows the table."""
    import core
    from tests.browser.support import assert_clean_console

    examples = [example for example in load_examples() if example.id in ("pie-01", "varga-01", "sculls-01", "words-01")]
    articles = []
    for index, example in enumerate(examples):
        text, start = example.answer_text, example.answer_start
        if index % 2 == 0:
            predicted = core.explain(example.question, example.context, model=tiny_bert_dir, methods=()).answer
            text, start = predicted.text, predicted.start_char
        qa = {"id": example.id, "question": example.question, "answers": [{"text": text, "answer_start": start}]}
        articles.append({"title": example.title, "paragraphs": [{"context": example.context, "qas": [qa]}]})
    data = tmp_path / "dev.json"
    data.write_text(json.dumps({"version": "1.1", "data": articles}), encoding="utf-8")
    explain_dataset(data, tiny_bert_dir, tmp_path / "run", serial=True, progress=False)
    rows = load_run(tmp_path / "run").rows.set_index("id")
    wrong = sorted(rows.index[~rows["correct"].astype(bool)])
    assert 0 < len(wrong) < len(rows), "some right, some wrong: the filter must show"

    server = panel_server(
        "dataset-half-right", [tiny_bert_dir], env=server_environment(QA_LENS_RUNS=str(tmp_path / "run"))
    )
    offset = server.log_size()
    dash = DashboardPage(page, server.url, "wrong-answers-only-words")
    page.goto(server.url)
    page.wait_for_function(JS_IDLE, timeout=UI_TIMEOUT_MS)
    expect(id_cells(dash)).to_have_count(len(rows), timeout=UI_TIMEOUT_MS)
    box = page.get_by_role("checkbox", name="Wrong answers only", exact=True)
    expect(box).not_to_be_checked()
    page.get_by_text("Wrong answers only", exact=True).click()
    expect(box).to_be_checked(timeout=UI_TIMEOUT_MS)
    expect(id_cells(dash)).to_have_count(len(wrong), timeout=UI_TIMEOUT_MS)
    assert sorted(id_cells(dash).all_inner_texts()) == wrong
    dash.screenshot("ticked-by-its-words")
    page.get_by_text("Wrong answers only", exact=True).click()
    expect(box).not_to_be_checked(timeout=UI_TIMEOUT_MS)
    expect(id_cells(dash)).to_have_count(len(rows), timeout=UI_TIMEOUT_MS)
    server.assert_no_tracebacks_since(offset)
    assert_clean_console(page)
