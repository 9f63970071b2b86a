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


def artifact_name(node_name: str) -> str:
    """``test_x[a b]`` -> ``test_x-a-b``: a file-name-safe test name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", node_name).strip("-")


def console_errors(page: Any) -> list[str]:
    """Page errors, requests to other hosts, and console errors not in ``BENIGN_CONSOLE_ERRORS``."""
    errors = [f"pageerror: {text}" for text in page.page_errors]
    errors += [f"request to another host (the page must work offline): {url}" for url in page.external_requests]
    for kind, text in page.console_log:
        if kind == "error" and not any(re.search(pattern, text) for pattern, _why in BENIGN_CONSOLE_ERRORS):
            errors.append(f"console.error: {text}")
    return errors


def assert_clean_console(page: Any) -> None:
    errors = console_errors(page)
    assert not errors, "the page logged errors:\n" + "\n".join(errors)
