"""A dashboard whose model cannot be loaded still opens and says so plainly, with how to fix it.

Two servers, both offline (``HF_HUB_OFFLINE=1``) with an empty Hugging Face cache: one with no
``--model`` (the default distilbert SQuAD model, which is neither cached nor downloadable here) and
one pointed at a folder that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium_path fixture skips (or, on CI, fails) with the reason
    expect = None

import core
from core.examples import find_example
from dashboard.fixtures.page_scripts import ANSWER_TIMEOUT_MS, UI_TIMEOUT_MS
from dashboard.fixtures.server import PanelServer, server_environment
from tests.browser.dashboard_page import DashboardPage
from tests.browser.support import assert_clean_console

pytestmark = pytest.mark.browser

CASES = {
    "default-model-offline": None,  # no --model: core.DEFAULT_MODEL
    "missing-folder": "does-not-exist/qa-model",
}


@pytest.fixture(scope="module", params=list(CASES))
def broken_server(
    request: pytest.FixtureRequest, panel_server: Callable[..., PanelServer], tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, PanelServer]:
    name = request.param
    cache = tmp_path_factory.mktemp(f"empty-hf-home-{name}")
    model = CASES[name]
    models = [] if model is None else [str(cache / model)]
    server = panel_server(f"no-model-{name}", models, env=server_environment(HF_HOME=str(cache)))
    return (model and str(cache / model)) or core.DEFAULT_MODEL, server


@pytest.mark.browser
def test_the_page_opens_and_says_the_model_cannot_be_loaded(
    broken_server: tuple[str, PanelServer], page: Any, request: pytest.FixtureRequest
) -> None:
    model, server = broken_server
    offset = server.log_size()
    dash = DashboardPage(page, server.url, request.node.name)
    dash.open()
    warning = dash.alert("warning", "The model cannot be loaded.")
    warning.wait_for(timeout=UI_TIMEOUT_MS)
    dash.screenshot("model-error")
    text = " ".join(dash.deep_text(warning).split())
    assert Path(model).name in text or model in text, f"the message names the model: {text!r}"
    assert "--model" in text and "QA_LENS_MODELS" in text, "the message says how to point at a local checkpoint"
    assert page.get_by_label("Model", exact=True).input_value() == model

    # Trying anyway (picking an example runs it) changes nothing but the message: no answer, no crash.
    example = find_example("estrand-01")
    dash.pick_example(example.question)
    expect(dash.question_input()).to_have_value(example.question, timeout=UI_TIMEOUT_MS)
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_enabled(timeout=ANSWER_TIMEOUT_MS)
    warning.wait_for(timeout=UI_TIMEOUT_MS)
    dash.screenshot("after-run")
    assert page.get_by_text("(P(start) × P(end))").count() == 0, "no answer appears"
    assert page.get_by_text("Unexpected error").count() == 0
    assert_clean_console(page)
    server.assert_no_tracebacks_since(offset)
