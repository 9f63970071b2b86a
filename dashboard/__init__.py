"""QA Lens dashboard: a Panel/HoloViews app over ``core``'s explanations.

    from dashboard import QALensApp
    app = QALensApp(models=["./my-squad-model"])
    app.state.update(question="...", context="...")
    app.state.run()
    app.state.update(layer=2)

Serve it with ``panel serve dashboard/app.py --args --model ./my-squad-model``.

The names below load on first use, so ``dashboard.state`` (Param only) can be imported without
Panel, Bokeh or HoloViews.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "ENV_VAR": "dashboard.config",
    "models_from_sources": "dashboard.config",
    "QALensApp": "dashboard.qa_lens_app",
    "create_app": "dashboard.qa_lens_app",
    "ExplorerState": "dashboard.state",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dashboard' has no attribute {name!r}")
