"""Exports in Chromium: a plot's save tool writes a real PNG of the plot's size, and the offline page keeps its
plots linked without a server."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.examples import find_example
from dashboard.fixtures.page_scripts import JS_IDLE, UI_TIMEOUT_MS, page_function
from dashboard.fixtures.server import PanelServer
from tests.browser.dashboard_page import DashboardPage
from tests.browser.support import ARTIFACTS, assert_clean_console

pytestmark = pytest.mark.browser

EXAMPLE_ID = "estrand-01"

JS_CANVAS_SIZE = page_function(
    """
    const view = Bokeh.index.find_one(figure(arg));
    const canvas = view.canvas_view.primary.canvas;
    return [canvas.width, canvas.height];
    """
)


@pytest.fixture()
def dash(page: Any, dashboard_server: PanelServer, request: pytest.FixtureRequest) -> Iterator[DashboardPage]:
    offset = dashboard_server.log_size()
    yield DashboardPage(page, dashboard_server.url, request.node.name)
    dashboard_server.assert_no_tracebacks_since(offset)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_the_heatmaps_save_tool_writes_a_png_of_the_plot(dash: DashboardPage) -> None:
    example = find_example(EXAMPLE_ID)
    dash.open()
    dash.pick_example(example.question)
    dash.wait_for_answer()
    heatmap = dash.figure_element("attention")
    heatmap.scroll_into_view_if_needed()
    dash.page.wait_for_function(JS_IDLE, timeout=UI_TIMEOUT_MS)
    expected = tuple(dash.page.evaluate(JS_CANVAS_SIZE, "attention"))
    save = heatmap.query_selector(".bk-tool-icon-save")
    assert save is not None, "the heatmap's toolbar has a save tool"
    with dash.page.expect_download(timeout=UI_TIMEOUT_MS) as download:
        save.click()
    path = ARTIFACTS / "attention-heatmap-export.png"
    download.value.save_as(path)
    assert download.value.suggested_filename == "qa-lens-attention.png"
    data = path.read_bytes()
    assert _png_size(data) == expected, "the PNG is the plot as drawn, pixel for pixel"
    assert len(data) > 5_000, "a real image, not an empty canvas"
    assert_clean_console(dash.page)


def test_the_offline_view_keeps_its_plots_linked(dash: DashboardPage, page: Any) -> None:
    example = find_example(EXAMPLE_ID)
    dash.open()
    dash.pick_example(example.question)
    dash.wait_for_answer()
    with page.expect_download(timeout=UI_TIMEOUT_MS) as download:
        page.get_by_role("button", name="This view, offline (HTML)").click()
    saved = ARTIFACTS / "offline-view.html"
    download.value.save_as(saved)
    context = page.context.browser.new_context()
    offline = context.new_page()
    errors: list[str] = []
    offline.on("pageerror", lambda error: errors.append(str(error)))
    offline.route(
        "**/*", lambda route: route.abort() if not route.request.url.startswith("file:") else route.continue_()
    )
    offline.goto(Path(saved).resolve().as_uri())
    offline.wait_for_function(JS_IDLE, timeout=UI_TIMEOUT_MS)
    selected = offline.evaluate(
        """() => {
          const has = (s, k) => s.data instanceof Map ? s.data.has(k) : (k in s.data);
          const sources = Array.from(Bokeh.documents[0]._all_models.values())
            .filter((m) => m.type === "ColumnDataSource" && has(m, "position"));
          sources[0].selected.indices = [5, 6];
          return sources.length;
        }"""
    )
    assert selected == 3
    offline.wait_for_function(
        """() => {
          const has = (s, k) => s.data instanceof Map ? s.data.has(k) : (k in s.data);
          const sources = Array.from(Bokeh.documents[0]._all_models.values())
            .filter((m) => m.type === "ColumnDataSource" && has(m, "position"));
          return sources.every((s) => JSON.stringify(Array.from(s.selected.indices)) === "[5,6]");
        }""",
        timeout=UI_TIMEOUT_MS,
    )
    offline.screenshot(path=str(ARTIFACTS / "offline-view-linked.png"))
    assert errors == []
    context.close()
