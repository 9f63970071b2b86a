"""``panel serve dashboard/app.py [--args --model PATH_OR_ID ...]``: one app per browser session."""

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script by `panel serve`: make `dashboard` and `core` importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import panel as pn  # noqa: E402

from dashboard import create_app, models_from_sources  # noqa: E402

pn.extension("tabulator", notifications=False, sizing_mode="stretch_width")

create_app(models_from_sources(sys.argv[1:])).template().servable()
