"""A page object for the served dashboard: what a test does and reads, in the dashboard's own words.

Widgets are found the way a person finds them: by their label (``Example``, ``Head``), a button's
name, or visible text. Plots are read from Bokeh's document in the page (``Bokeh.documents[0]``),
which is what the canvas draws: the attention heatmap's image, the selection bands, the bars'
selected glyphs. The figures carry no Bokeh ``name``, so they are told apart by their axis labels
and glyphs (``FIGURES`` below); a name on each figure (``qa-attention``, ...) would make that exact.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from dashboard.fixtures.page_scripts import (
    ANSWER_TIMEOUT_MS,
    JS_ATTENTION_BANDS,
    JS_ATTENTION_IMAGE,
    JS_DATA_TO_PAGE,
    JS_HAS_FIGURE,
    JS_IDLE,
    JS_SCROLL_TO_FIGURE,
    JS_SELECTED_GLYPHS,
    UI_TIMEOUT_MS,
    page_function,
)
from tests.browser.support import ARTIFACTS, artifact_name


class DashboardPage:
    """The QA Lens page in one browser tab, for one test."""

    def __init__(self, page: Any, url: str, test_name: str) -> None:
        self.page = page
        self.url = url
        self.test_name = artifact_name(test_name)

    # ------------------------------------------------------------------ navigation and evidence

    def open(self, query: str = "") -> None:
        self.page.goto(self.url + (f"?{query}" if query else ""))
        self.page.wait_for_function(JS_IDLE, timeout=UI_TIMEOUT_MS)
        self.page.get_by_label("Example", exact=True).wait_for(state="visible", timeout=UI_TIMEOUT_MS)

    def screenshot(self, step: str, *targets: Any) -> Path:
        """``test-artifacts/browser/<test>-<step>.png``: the page, or the region around ``targets``
        (locators or element handles, e.g. a plot and its caption)."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.test_name}-{step}.png"
        if not targets:
            self.page.screenshot(path=str(path), full_page=True)
            return path
        targets[-1].scroll_into_view_if_needed()
        boxes = [box for box in (target.bounding_box() for target in targets) if box is not None]
        assert boxes, f"nothing to photograph for step {step!r}"
        left = min(box["x"] for box in boxes)
        top = min(box["y"] for box in boxes)
        right = max(box["x"] + box["width"] for box in boxes)
        bottom = max(box["y"] + box["height"] for box in boxes)
        margin = 6
        clip = {"x": max(left - margin, 0), "y": max(top - margin, 0)}
        clip.update(width=right - clip["x"] + margin, height=bottom - clip["y"] + margin)
        self.page.screenshot(path=str(path), clip=clip)
        return path

    # ------------------------------------------------------------------ inputs

    def example_labels(self) -> list[str]:
        return self.page.get_by_label("Example", exact=True).locator("option").all_inner_texts()

    def pick_example(self, question: str) -> str:
        """Choose the bundled example whose label holds ``question``; returns the label chosen."""
        labels = [label for label in self.example_labels() if question in label]
        assert len(labels) == 1, f"expected one example asking {question!r}, found {labels}"
        self.page.get_by_label("Example", exact=True).select_option(label=labels[0])
        return labels[0]

    def question_input(self) -> Any:
        return self.page.get_by_label("Question", exact=True)

    def context_input(self) -> Any:
        return self.page.get_by_label("Context", exact=True)

    def run(self) -> None:
        self.page.get_by_role("button", name="Run", exact=True).click()

    def choose_head(self, label: str) -> None:
        self.page.get_by_label("Head", exact=True).select_option(label=label)

    # ------------------------------------------------------------------ the answer

    def wait_for_answer(self) -> str:
        """Wait until an answer is on the page; return its text (the large line above the score)."""
        score_line = self.page.get_by_text("(P(start) × P(end))")
        score_line.wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
        self.wait_for_figure("attention", ANSWER_TIMEOUT_MS)
        return score_line.evaluate("(line) => line.previousElementSibling.textContent").strip()

    def top_answers(self) -> list[str]:
        return [
            text.strip()
            for text in self.page.locator(".tabulator-row .tabulator-cell[tabulator-field='answer']").all_inner_texts()
        ]

    # ------------------------------------------------------------------ messages and tabs

    def alert(self, kind: str, text: str) -> Any:
        """A Bootstrap alert (``danger``, ``warning``, ``info``) holding ``text``."""
        return self.page.locator(f".alert-{kind}").filter(has_text=text)

    @staticmethod
    def deep_text(locator: Any) -> str:
        """The text of an element including its shadow root (Panel panes render inside one)."""
        return locator.evaluate("(el) => (el.shadowRoot ? el.shadowRoot.textContent : '') + el.textContent")

    def open_tab(self, title: str) -> None:
        self.page.locator(".bk-tab").filter(has_text=re.compile(f"^{re.escape(title)}$")).click()

    # ------------------------------------------------------------------ plots (Bokeh document)

    def wait_for_figure(self, name: str, timeout: int = UI_TIMEOUT_MS) -> None:
        self.page.wait_for_function(JS_HAS_FIGURE, arg=name, timeout=timeout)

    def attention_image(self) -> np.ndarray:
        """The attention heatmap's image as the page holds it, ``[rows, columns]`` as Bokeh draws them."""
        data = self.page.evaluate(JS_ATTENTION_IMAGE)
        assert data is not None, "no attention heatmap on the page"
        return np.asarray(data["values"], dtype=np.float64).reshape(data["shape"])

    def wait_for_attention_change(self, before: np.ndarray) -> np.ndarray:
        """Wait until the heatmap's image differs from ``before`` (a head or layer switch arrived)."""
        checksum = float(np.abs(before).sum() + (before * np.arange(before.size).reshape(before.shape)).sum())
        self.page.wait_for_function(
            page_function(
                """
                const fig = figure("attention");
                const image = column(dataRenderer(fig, "Image").data_source, "image")[0];
                let sum = 0;
                for (let i = 0; i < image.length; i++) { sum += Math.abs(image[i]) + image[i] * i; }
                return Math.abs(sum - arg) > 1e-6 * Math.max(1, Math.abs(arg));
                """
            ),
            arg=checksum,
            timeout=UI_TIMEOUT_MS,
        )
        return self.attention_image()

    def attention_bands(self) -> list[list[tuple[float, float]]]:
        """The selection bands (rows, columns) drawn over the attention heatmap."""
        return [list(zip(band["start"], band["end"], strict=True)) for band in self.page.evaluate(JS_ATTENTION_BANDS)]

    def selected_glyphs(self, figure: str, glyph: str, column: str | None = None) -> list[int] | None:
        """Indices of the glyphs Bokeh shows as selected in a figure's data renderer."""
        return self.page.evaluate(JS_SELECTED_GLYPHS, {"figure": figure, "glyph": glyph, "column": column})

    def wait_for_selected_glyphs(self, figure: str, glyph: str, expected: list[int], column: str | None = None) -> None:
        self.page.wait_for_function(
            page_function(
                """
                const fig = figure(arg.figure);
                if (fig === null) { return false; }
                const renderer = dataRenderer(fig, arg.glyph, arg.column);
                const got = Array.from(renderer.data_source.selected.indices).sort((a, b) => a - b);
                return JSON.stringify(got) === JSON.stringify(arg.expected);
                """
            ),
            arg={"figure": figure, "glyph": glyph, "column": column, "expected": expected},
            timeout=UI_TIMEOUT_MS,
        )

    def tap_plot(self, figure: str, x: float, y: float) -> None:
        """Click a figure at data coordinates ``(x, y)`` (a tap with Bokeh's tap tool)."""
        self.page.evaluate(JS_SCROLL_TO_FIGURE, figure)
        self.page.wait_for_function(JS_IDLE)
        left, top = self.page.evaluate(JS_DATA_TO_PAGE, {"figure": figure, "x": x, "y": y})
        self.page.mouse.click(left, top)

    def figure_element(self, figure: str) -> Any:
        """The figure's element, for an element screenshot."""
        return self.page.evaluate_handle(
            page_function("return Bokeh.index.find_one(figure(arg)).el;"), figure
        ).as_element()

    # ------------------------------------------------------------------ the selection

    def selection_summary(self) -> Any:
        """The sidebar's 'N selected: ...' / 'No tokens selected' line."""
        return self.page.locator("p").filter(has_text=re.compile(r"\d+ selected:|No tokens selected"))

    def selected_text_tokens(self) -> list[int]:
        """Positions of the tokens ringed as selected in the coloured text."""
        positions = self.page.locator(".qa-text .tok.sel").evaluate_all("(spans) => spans.map((s) => s.dataset.pos)")
        return sorted(int(p) for p in positions)

    def wait_for_text_selection(self, expected: list[int]) -> None:
        self.page.wait_for_function(
            """(expected) => {
                 const found = [];
                 const visit = (root) => {
                   root.querySelectorAll(".qa-text .tok.sel").forEach((s) => found.push(Number(s.dataset.pos)));
                   root.querySelectorAll("*").forEach((e) => { if (e.shadowRoot) { visit(e.shadowRoot); } });
                 };
                 visit(document);
                 found.sort((a, b) => a - b);
                 return JSON.stringify(found) === JSON.stringify(expected);
               }""",
            arg=expected,
            timeout=UI_TIMEOUT_MS,
        )

    def text_token(self, position: int) -> Any:
        return self.page.locator(f".qa-text [data-pos='{position}']")
