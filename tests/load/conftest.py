"""The load test reuses the browser tests' Chromium fixtures (Debian's Chromium; skipped locally without it)."""

from tests.browser.conftest import browser, chromium_path  # noqa: F401  (fixtures, by name)
