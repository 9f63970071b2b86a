"""QA Lens dashboard: a Panel/HoloViews app over ``core``'s explanations.

    from dashboard import QALensApp
    app = QALensApp(models=["./my-squad-model"])
    app.state.param.update(question="...", context="...")
    app.state.run()
    app.state.layer = 2

Serve it with ``panel serve dashboard/app.py --args --model ./my-squad-model``.
"""

from dashboard.config import ENV_VAR, models_from_sources
from dashboard.layout import QALensApp, create_app
from dashboard.state import ExplorerState

__all__ = ["ENV_VAR", "ExplorerState", "QALensApp", "create_app", "models_from_sources"]
