"""Exports in Chromium: a plot's save tool writes a real PNG of the plot's size, or SVG once switched (the plots
already drawn too), and the offline page keeps its plots linked without a server."""

from __future__ import annotations

import contextlib
import html
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
except ImportError:  # the chromium_path fixture skips (or, on CI, fails) with the reason
    PlaywrightTimeoutError = TimeoutError

import core
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


JS_SAVES_SVG = page_function(
    """
    const view = Bokeh.index.find_one(figure(arg));
    return view !== null && view.canvas_view.model.output_backend === "svg";
    """
)
"""Whether the figure on show saves SVG: BokehJS fixes what its save tool writes when it builds its canvas."""


def save_plot(dash: DashboardPage, name: str, file_name: str) -> bytes:
    """Click the figure's save tool and return the file the browser downloads."""
    plot = dash.figure_element(name)
    plot.scroll_into_view_if_needed()
    dash.page.wait_for_function(JS_IDLE, timeout=UI_TIMEOUT_MS)
    save = plot.query_selector(".bk-tool-icon-save")
    assert save is not None, f"the {name} plot's toolbar has a save tool"
    with dash.page.expect_download(timeout=UI_TIMEOUT_MS) as download:
        save.click()
    path = ARTIFACTS / file_name
    download.value.save_as(path)
    return path.read_bytes()


def test_switching_to_svg_after_an_answer_saves_the_plots_on_show_as_svg(
    dash: DashboardPage, minilm_qa_dir: str
) -> None:
    example = find_example(EXAMPLE_ID)
    expected = core.explain(example.question, example.context, model=minilm_qa_dir, methods=())
    dash.open()
    dash.pick_example(example.question)
    dash.wait_for_answer()
    png = save_plot(dash, "attention", "attention-before-switch.png")
    assert png.startswith(b"\x89PNG\r\n\x1a\n"), "the default is PNG"

    dash.page.get_by_role("button", name="SVG", exact=True).click()
    # The switch has reached the page once the attention plot on show saves SVG; if that never happens, the file
    # saved below shows what its save tool writes instead.
    with contextlib.suppress(PlaywrightTimeoutError):
        dash.page.wait_for_function(JS_SAVES_SVG, arg="attention", timeout=UI_TIMEOUT_MS)
    saved = save_plot(dash, "attention", "attention-after-switch.svg")
    assert not saved.startswith(b"\x89PNG"), "after the switch to SVG the plot on show still saves PNG"
    svg = saved.decode("utf-8")
    assert re.match(r"\s*(<\?xml[^>]*>\s*)?<svg[\s>]", svg), f"not SVG markup: {svg[:80]!r}"
    assert svg.rstrip().endswith("</svg>")
    texts = {html.unescape(text).strip() for text in re.findall(r"<text[^>]*>([^<]*)</text>", svg)}
    assert "attended to (key)" in texts, "the plot's axis title is in the file"
    tokens = set(expected.token_labels()) & texts
    assert len(tokens) >= 3, f"the tokens on the axes are in the file as text (found {sorted(texts)[:20]})"
    assert "<image" in svg, "the attention map itself is in the file"
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
