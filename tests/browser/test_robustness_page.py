"""The Robustness page in Chromium: a run's suite, a flipped pair opened side by side with both answers, hostile text
shown as text, the URL carrying the pair, and the perturbed copy one click from the explorer.

The planted first-capital model and its run with two suites (tests/planted_suites.py) serve the module; its
flipped pairs and their answers are known, and one record carries markup into its perturbed copies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium_path fixture skips (or, on CI, fails) with the reason
    expect = None

from dashboard.fixtures.page_scripts import JS_IDLE, UI_TIMEOUT_MS
from dashboard.fixtures.server import PanelServer, server_environment
from tests.browser.dashboard_page import DashboardPage
from tests.browser.support import assert_clean_console
from tests.planted_suites import HOSTILE_ID, PlantedSuites, build_planted_suites

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> PlantedSuites:
    return build_planted_suites(tmp_path_factory.mktemp("robustness-browser"))


@pytest.fixture(scope="module")
def robustness_server(panel_server: Callable[..., PanelServer], planted: PlantedSuites) -> PanelServer:
    return panel_server("robustness", [str(planted.model_dir)], env=server_environment(QA_LENS_RUNS=str(planted.run)))


@pytest.fixture()
def dash(page: Any, robustness_server: PanelServer, request: pytest.FixtureRequest) -> Iterator[DashboardPage]:
    offset = robustness_server.log_size()
    yield DashboardPage(page, robustness_server.url, request.node.name)
    robustness_server.assert_no_tracebacks_since(offset)


def pair_cells(dash: DashboardPage) -> Any:
    return dash.page.locator(".tabulator-row .tabulator-cell[tabulator-field='id']")


def answers(dash: DashboardPage) -> Any:
    return dash.page.locator(".qa-pair-answer-text")


def test_a_flipped_pair_opens_side_by_side_with_both_answers_and_reopens_from_its_link(
    dash: DashboardPage, planted: PlantedSuites
) -> None:
    pairs = planted.suite.pairs
    flipped = pairs[(pairs["original_id"] == HOSTILE_ID) & (pairs["family"] == "replace_answer")].iloc[0]
    assert bool(flipped["changed"]) and flipped["prediction"] != flipped["original_prediction"]
    dash.page.goto(dash.url)
    dash.page.wait_for_function(JS_IDLE, timeout=UI_TIMEOUT_MS)
    dash.open_tab("Robustness")
    expect(dash.page.get_by_text(f"Suite {planted.suite.name}", exact=True)).to_be_visible(timeout=UI_TIMEOUT_MS)
    dash.page.get_by_label("Suite", exact=True).select_option(label=planted.suite.name)  # two suites: a chooser
    dash.page.get_by_label("Family", exact=True).select_option(label="replace_answer")
    expected = pairs[(pairs["family"] == "replace_answer") & pairs["changed"].fillna(False).astype(bool)]
    expect(pair_cells(dash)).to_have_count(len(expected), timeout=UI_TIMEOUT_MS)

    pair_cells(dash).filter(has_text=str(flipped["id"])).first.click()
    expect(answers(dash)).to_have_text(
        [str(flipped["original_prediction"]), str(flipped["prediction"])], timeout=UI_TIMEOUT_MS
    )
    legend = dash.page.get_by_text("Background: gradient × input", exact=False)
    expect(legend).to_be_visible(timeout=UI_TIMEOUT_MS)  # both explanations arrived from the background
    question = dash.page.locator(".qa-pair-question").first
    expect(question).to_contain_text('<img src=x onerror="window.__xss=1">')  # the markup is shown as text ...
    assert dash.page.locator("img[src='x']").count() == 0  # ... and never becomes an element
    assert dash.page.evaluate("() => window.__xss === undefined")
    assert f"pair={flipped['id']}".replace("~", "%7E") in dash.page.url or f"pair={flipped['id']}" in dash.page.url
    dash.screenshot("pair", dash.page.locator(".qa-pair").first)

    dash.page.goto(dash.page.url)  # the link alone reopens the pair, on the Robustness page
    dash.page.wait_for_function(JS_IDLE, timeout=UI_TIMEOUT_MS)
    expect(answers(dash)).to_have_text(
        [str(flipped["original_prediction"]), str(flipped["prediction"])], timeout=UI_TIMEOUT_MS
    )
    expect(dash.page.locator(".bk-tab.bk-active").filter(has_text="Robustness")).to_have_count(1)

    dash.page.get_by_role("button", name="Open the perturbed copy in the explorer").click()
    expect(dash.question_input()).to_have_value(str(flipped["question"]), timeout=UI_TIMEOUT_MS)
    assert dash.wait_for_answer() == flipped["prediction"]  # the explorer agrees with the suite
    expect(dash.page.locator(".bk-tab.bk-active").filter(has_text="Explorer")).to_have_count(1)
    dash.screenshot("explorer")
    assert dash.page.evaluate("() => window.__xss === undefined")
    assert_clean_console(dash.page)
