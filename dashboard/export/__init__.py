"""Everything a user takes away from the page, in one place.

- ``files``: the explanation (JSON), its token table (CSV) and their file name; no UI library;
- ``standalone``: the view on show as one offline HTML page whose plots stay linked without a server;
- ``report``: a one-page HTML report with the trust results computed so far.

The HTML names load on first use (they bring Bokeh's inline resources), so ``import dashboard.export``
stays as light as the state.
"""

from __future__ import annotations

import importlib
from typing import Any

from dashboard.export.files import explanation_json, export_basename, token_table_csv

_LAZY = {
    "standalone_view": "dashboard.export.standalone",
    "standalone_view_html": "dashboard.export.standalone",
    "report_html": "dashboard.export.report",
}

__all__ = [
    "explanation_json",
    "export_basename",
    "report_html",
    "standalone_view",
    "standalone_view_html",
    "token_table_csv",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dashboard.export' has no attribute {name!r}")
