"""Fixtures for the browser tests: `panel serve` subprocesses, Debian's Chromium, one page per test.

- ``panel_server(name, models)`` starts ``panel serve dashboard/app.py`` on a free localhost port
  (``HF_HUB_OFFLINE=1``), waits until it answers HTTP and stops it at the end of the session,
  whatever happened. Its output goes to ``test-artifacts/browser/server-<name>.log``.
- ``dashboard_server``: a server offering the MiniLM checkpoint (real attention patterns, 6 x 12 heads).
- ``page``: a fresh browser context per test that records console messages and page errors (kept
  in ``test-artifacts/browser/<test>-console.txt``); each test ends with
  ``assert_clean_console(page)``. A failing test leaves ``test-artifacts/browser/<test>-failure.png``.

Chromium is Debian's (``/usr/bin/chromium``): Playwright cannot download its own here. Without
it the tests are skipped, except on CI (``CI`` set), where a missing browser is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from dashboard.fixtures.server import CHROMIUM, CHROMIUM_ARGS, PanelServer, server_environment
from tests.browser.support import ARTIFACTS, LOCAL_ONLY, artifact_name

# --------------------------------------------------------------------------- availability


def _unavailable(reason: str) -> None:
    """Skip locally; on CI (``CI`` set) the browser tests must run, so fail instead."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: the browser tests must run here)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        _unavailable(
            f"Debian's Chromium is missing at {CHROMIUM}: install it with `sudo apt-get install -y chromium` "
            "(scripts/ensure_chromium.sh does this as root); Playwright cannot download a browser here"
        )
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    return str(CHROMIUM)


# --------------------------------------------------------------------------- servers


@pytest.fixture(scope="session")
def panel_server(chromium_path: str) -> Iterator[Callable[..., PanelServer]]:
    """Start `panel serve` subprocesses on demand; every one is stopped at the end of the session."""
    started: list[PanelServer] = []

    def start(name: str, models: Sequence[str], env: dict[str, str] | None = None) -> PanelServer:
        server = PanelServer(name=name, models=list(models), env=env or server_environment(), log_dir=ARTIFACTS)
        started.append(server)  # before starting: stopped at the end even if it never answers
        server.start()
        server.wait_until_ready()
        return server

    try:
        yield start
    finally:
        for server in started:  # all at once: each takes a few seconds to shut down
            server.terminate()
        for server in started:
            server.wait_stopped()


@pytest.fixture(scope="session")
def dashboard_server(panel_server: Callable[..., PanelServer], minilm_qa_dir: str) -> PanelServer:
    """The dashboard offering MiniLM-L6 (real weights, seeded QA head)."""
    return panel_server("minilm", [minilm_qa_dir])


# --------------------------------------------------------------------------- browser and pages


@pytest.fixture(scope="session")
def browser(chromium_path: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture()
def page(browser: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh context and page; console messages in ``page.console_log``, errors in ``page.page_errors``."""
    context = browser.new_context(viewport={"width": 1500, "height": 1300})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.console_log = []
    page.page_errors = []
    page.external_requests = []

    def block_external(route: Any) -> None:
        """The dashboard must work offline: record and refuse anything not served by the local server."""
        page.external_requests.append(route.request.url)
        route.abort("blockedbyclient")

    context.route(LOCAL_ONLY, block_external)
    page.on("console", lambda message: page.console_log.append((message.type, message.text)))
    page.on("pageerror", lambda error: page.page_errors.append(str(error)))
    # Which request a "Failed to load resource" console error was about (the console text omits the URL).
    page.on("requestfailed", lambda req: page.console_log.append(("requestfailed", f"{req.url} {req.failure}")))
    name = artifact_name(request.node.name)
    try:
        yield page
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        report = getattr(request.node, "rep_call", None)
        if report is None or report.failed:
            try:
                page.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"), full_page=True)
            except Exception as error:  # the page may be gone; the test's own error matters more
                print(f"could not take the failure screenshot: {error}")
        lines = [f"{kind}: {text}" for kind, text in page.console_log]
        lines += [f"pageerror: {text}" for text in page.page_errors]
        (ARTIFACTS / f"{name}-console.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    """Keep each phase's report on the item, so the ``page`` fixture knows whether the test failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
