"""A closed page leaves nothing behind: its state and plots are freed, and the server says what it holds.

The load test (``tests/load``, ``make load-test``) measures the served app; these are the fast checks of
the two causes it found: plot hooks that kept every page alive, and memory glibc kept after pages closed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from typing import Any

import pytest

from dashboard import QALensApp, memory
from dashboard.memory import ClosedPages

QUESTION = "Who designed the Eiffel Tower?"
CONTEXT = "The Eiffel Tower was designed by the engineer Gustave Eiffel and completed in 1889."


class PageState:
    """Stands in for an ``ExplorerState`` (anything weakly referenceable)."""


def test_a_dropped_page_is_freed_with_its_plots(tiny_bert_dir: str) -> None:
    # HoloViews keeps each plot's options, hooks included, in a process-wide registry until the plot is
    # collected: a hook bound to the view that holds the plot kept every page's state and plots for good.
    def answered_page() -> weakref.ref:
        app = QALensApp(models=[tiny_bert_dir], background=False)
        app.state.update(question=QUESTION, context=CONTEXT)
        app.state.run()
        assert app.state.explanation is not None and app.attention.image is not None
        return weakref.ref(app.state)

    state = answered_page()
    gc.collect()
    assert state() is None, "a page's state outlived its page"


def test_a_closed_page_is_counted_and_tidied_at_once_without_an_event_loop(caplog: pytest.LogCaptureFixture) -> None:
    pages = ClosedPages()
    state = PageState()
    pages.opened(state)
    assert pages.alive() == 1
    del state
    gc.collect()
    with caplog.at_level(logging.INFO, logger="dashboard.memory"):
        pages.closed()
    assert "released 1 closed page(s), 1 since start; 0 page state(s) alive" in caplog.text
    assert "explanation cache" in caplog.text and "server RSS" in caplog.text


def test_a_burst_of_closed_pages_is_tidied_once(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "TIDY_DELAY_SECONDS", 0.01)
    pages = ClosedPages()
    kept = PageState()
    pages.opened(kept)

    async def close_three() -> None:
        for _ in range(3):
            pages.closed()
        await asyncio.sleep(0.2)
        pages.closed()
        await asyncio.sleep(0.2)

    with caplog.at_level(logging.INFO, logger="dashboard.memory"):
        asyncio.run(close_three())
    lines = [record.getMessage() for record in caplog.records if record.name == "dashboard.memory"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("released 3 closed page(s), 3 since start; 1 page state(s) alive")
    assert lines[1].startswith("released 1 closed page(s), 4 since start; 1 page state(s) alive")


def test_rss_is_read_from_proc() -> None:
    rss: Any = memory.process_rss_bytes()
    assert rss is None or rss > 0
