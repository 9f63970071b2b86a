"""What the browser tests share besides fixtures: artifact paths and console checks."""

from __future__ import annotations

import re
from typing import Any

from dashboard.fixtures.server import ROOT

ARTIFACTS = ROOT / "test-artifacts" / "browser"

LOCAL_ONLY = re.compile(r"^(?!https?://127\.0\.0\.1[:/]|data:|blob:|about:)")
"""URLs the page may not fetch: anything but the local server (and inline data)."""

BENIGN_CONSOLE_ERRORS: list[tuple[str, str]] = [
    # (regular expression on the message text, why it is noise and not a defect of the page).
    # Empty on purpose: in these runs the pages logged only Bokeh's "[bokeh] ..." lines (types log and
    # info); no error was noise. Add an entry only with the reason it cannot be a defect of the page.
]
"""Console messages of type ``error`` that are noise, not bugs. Everything else fails the test."""

BENIGN_PAGE_ERRORS: list[tuple[str, str]] = [
    (
        r"^Cannot read properties of undefined \(reading 'rowManager'\)$",
        "Panel 1.9.4's Tabulator view answers every cell_styles change (Panel sends one with each new value) by "
        "scheduling restore_scroll, which reads this.tabulator.rowManager; a table view that is created but not "
        "rendered yet has no tabulator. An answer that lands while the explorer page is still being built after a "
        "click on the Dataset or Compare page does that to the top-answers table, which renders the new rows a "
        "moment later (probed in Chromium: view created, restore_scroll on it, then its first render).",
    ),
]
"""Uncaught page errors that come from a library's own race, not from the page; everything else fails the test."""


def artifact_name(node_name: str) -> str:
    """``test_x[a b]`` -> ``test_x-a-b``: a file-name-safe test name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", node_name).strip("-")


def console_errors(page: Any) -> list[str]:
    """Page errors not in ``BENIGN_PAGE_ERRORS``, requests to other hosts, and console errors not in
    ``BENIGN_CONSOLE_ERRORS``."""
    errors = [
        f"pageerror: {text}"
        for text in page.page_errors
        if not any(re.search(pattern, text) for pattern, _why in BENIGN_PAGE_ERRORS)
    ]
    errors += [f"request to another host (the page must work offline): {url}" for url in page.external_requests]
    for kind, text in page.console_log:
        if kind == "error" and not any(re.search(pattern, text) for pattern, _why in BENIGN_CONSOLE_ERRORS):
            errors.append(f"console.error: {text}")
    return errors


def assert_clean_console(page: Any) -> None:
    errors = console_errors(page)
    assert not errors, "the page logged errors:\n" + "\n".join(errors)
