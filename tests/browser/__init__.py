"""Browser tests: Debian's Chromium driven by Playwright against `panel serve` (marker ``browser``)."""
