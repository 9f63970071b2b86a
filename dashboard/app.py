"""``panel serve dashboard/app.py [--args --model PATH_OR_ID ...]``: one app per browser session."""

import logging
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script by `panel serve`: make `dashboard` and `core` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import panel as pn  # noqa: E402

from dashboard.config import examples_from_sources, models_from_sources, runs_from_sources  # noqa: E402
from dashboard.qa_lens_app import create_app  # noqa: E402

# A lost connection (the server stopped or restarted) shows a banner that stays: the page no longer updates.
DISCONNECTED = "The connection to the server is lost: this page no longer updates. Reload it once the server is back."
pn.extension("tabulator", notifications=True, disconnect_notification=DISCONNECTED, sizing_mode="stretch_width")

# `panel serve` logs Bokeh's INFO lines only; add the one a burst of closed pages leaves (what memory is held).
logging.getLogger("dashboard.memory").setLevel(logging.INFO)

arguments = sys.argv[1:]
create_app(
    models_from_sources(arguments), examples=examples_from_sources(arguments), runs=runs_from_sources(arguments)
).template().servable()
