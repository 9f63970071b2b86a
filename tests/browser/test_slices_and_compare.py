"""Where a model fails, in Chromium: the finder's top group opens as the slice in one click and one of its examples
opens in the explorer; on the Compare page a flip opens the explorer with both models side by side.

One server offers the two planted runs (tests/planted_runs.py): 24 "Hard" questions both models get wrong (run
A's failure group), 24 "Easy" only A gets right, 12 "Mixed" only B gets right.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium_path fixture skips (or, on CI, fails) with the reason
    expect = None

from core.dataset import load_run
from dashboard.fixtures.page_scripts import ANSWER_TIMEOUT_MS, JS_IDLE, UI_TIMEOUT_MS
from dashboard.fixtures.server import PanelServer, server_environment
from tests.browser.dashboard_page import DashboardPage
from tests.browser.support import assert_clean_console
from tests.planted_runs import PlantedRuns

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def runs_server(panel_server: Callable[..., PanelServer], planted_runs: PlantedRuns) -> PanelServer:
    runs = f"{planted_runs.a},{planted_runs.b}"
    return panel_server("slices-compare", [planted_runs.model_a], env=server_environment(QA_LENS_RUNS=runs))


@pytest.fixture()
def dash(page: Any, runs_server: PanelServer, request: pytest.FixtureRequest) -> Iterator[DashboardPage]:
    offset = runs_server.log_size()
    dash = DashboardPage(page, runs_server.url, request.node.name)
    page.goto(runs_server.url)
    page.wait_for_function(JS_IDLE, timeout=UI_TIMEOUT_MS)
    yield dash
    runs_server.assert_no_tracebacks_since(offset)
    assert_clean_console(page)


def cells(dash: DashboardPage, field: str) -> Any:
    return dash.page.locator(f".tabulator-row .tabulator-cell[tabulator-field='{field}']")


def test_the_top_failure_group_opens_as_the_slice_and_its_example_in_the_explorer(
    dash: DashboardPage, planted_runs: PlantedRuns
) -> None:
    page = dash.page
    expect(cells(dash, "id")).to_have_count(20, timeout=UI_TIMEOUT_MS)  # the first page of 60 examples
    page.get_by_role("button", name="Find failure groups").click()
    top = cells(dash, "group").filter(has_text="title is Hard")
    expect(top).to_have_count(1, timeout=UI_TIMEOUT_MS)
    top.click()
    expect(page.get_by_text("Active slice (24 of 60 examples)")).to_be_visible(timeout=UI_TIMEOUT_MS)
    hard = {key for key, title in planted_runs.titles.items() if title == "Hard"}
    expect(cells(dash, "id").first).to_have_text("q00", timeout=UI_TIMEOUT_MS)
    assert set(cells(dash, "id").all_inner_texts()) <= hard
    expect(page.get_by_text(re.compile(r"This slice: 24 questions · EM 0\.0"))).to_be_visible(timeout=UI_TIMEOUT_MS)
    assert "slice=title+%3D%3D+%27Hard%27" in page.url  # a link to this page reopens the slice
    dash.screenshot("failure-group-as-slice")

    rows = load_run(planted_runs.a).rows.set_index("id")
    cells(dash, "id").filter(has_text="q03").click()
    expect(dash.question_input()).to_have_value(rows.loc["q03", "question"], timeout=UI_TIMEOUT_MS)
    assert dash.wait_for_answer() == rows.loc["q03", "prediction"]  # the explorer agrees with the run


def test_a_flip_on_the_compare_page_opens_both_models_side_by_side(
    dash: DashboardPage, planted_runs: PlantedRuns
) -> None:
    page = dash.page
    dash.open_tab("Compare")
    expect(page.get_by_text(re.compile(r"^ΔEM [+-]"))).to_be_visible(timeout=ANSWER_TIMEOUT_MS)
    page.get_by_label("Flip", exact=True).select_option(label="B only")
    mixed = sorted(key for key, title in planted_runs.titles.items() if title == "Mixed")
    expect(cells(dash, "id")).to_have_count(len(mixed), timeout=UI_TIMEOUT_MS)
    dash.screenshot("compare-b-only")
    question = mixed[0]
    cells(dash, "id").filter(has_text=question).click()
    rows_a = load_run(planted_runs.a).rows.set_index("id")
    rows_b = load_run(planted_runs.b).rows.set_index("id")
    expect(dash.question_input()).to_have_value(rows_a.loc[question, "question"], timeout=UI_TIMEOUT_MS)
    expect(page.get_by_text(re.compile(r"^2 models, (the same|different) answers?"))).to_be_visible(
        timeout=ANSWER_TIMEOUT_MS
    )
    side_by_side = page.locator(".tabulator-row").filter(has=page.locator(".tabulator-cell[tabulator-field='type']"))
    expect(side_by_side).to_have_count(2, timeout=UI_TIMEOUT_MS)
    answers = [
        text.strip() for text in side_by_side.locator(".tabulator-cell[tabulator-field='answer']").all_inner_texts()
    ]
    assert answers == [rows_a.loc[question, "prediction"], rows_b.loc[question, "prediction"]]  # A, then B
    expect(page.locator(".bk-tab.bk-active").filter(has_text="Models side by side")).to_have_count(1)
    dash.screenshot("both-models")
