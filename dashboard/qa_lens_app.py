"""``QALensApp``: the state, the controls and every view, laid out; ``create_app`` builds one per session.

Nothing here is module-level mutable state: each ``panel serve`` session (and each notebook cell
that makes an app) gets its own ``ExplorerState``, so no session sees another's inputs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import panel as pn
import param

from dashboard.controls import SIDEBAR_WIDTH, Controls
from dashboard.explorer import (
    AnswerView,
    AttentionHeatmap,
    HeadView,
    ModelView,
    ProbabilityBars,
    QuestionAttentionBars,
    SaliencyBars,
    SaliencyHeatmap,
    SaliencyText,
    TopKTable,
    WhatIfPanel,
)
from dashboard.memory import CLOSED_PAGES
from dashboard.state import ExplorerState, robustness_part
from dashboard.state.runners import Runner, SyncRunner, ThreadRunner, background_threads
from dashboard.trust import HeadImportanceGrid, TrustPanel
from dashboard.views import StateFanOut

logger = logging.getLogger(__name__)

TITLE = "QA Lens"
URL_PARAMETERS: dict[str, dict[str, str]] = {
    "inputs": {"model": "model", "example": "example", "question": "question", "shared_context": "context"},
    "view": {
        "layer": "layer",
        "head": "head",
        "method": "method",
        "target": "target",
        "color_scale": "colors",
        "scale_without_special": "scale_specials_out",
    },
    "selection": {"tokens": "tokens"},
    "dataset": {"run_dir": "run", "expression": "slice"},
    "robustness": {"suite": "suite", "pair": "pair"},
}
"""State parameters kept in the page URL, by part (parameter -> query name), so a view can be shared (a Dataset
page's run and slice expression too: a link reopens the page with that slice; a robustness pair reopens side by
side)."""
TEXT_URL_VALUES = ("question", "example", "model", "shared_context", "expression", "suite", "pair")
"""URL values that stay text even when they read as numbers (an example id ``57``)."""


def session_runners(background: bool | None = None) -> tuple[Runner, Runner]:
    """Runners for (answer, integrated gradients) that suit where the app runs.

    - ``panel serve``: both on worker threads, results scheduled on the session's document, so
      the server's event loop (shared by every session) never waits for a model; integrated
      gradients leave one core free for the page (``background_threads``);
    - a notebook (a running event loop): the answer inline, so ``state.run()`` returns with it,
      and integrated gradients on a worker thread, results scheduled on the kernel's loop;
    - plain Python, or ``background=False``: everything inline.
    """
    if background is False:
        return SyncRunner(), SyncRunner()
    document = pn.state.curdoc
    if document is not None and document.session_context is not None:
        dispatch = document.add_next_tick_callback
        return ThreadRunner(dispatch), ThreadRunner(dispatch, torch_threads=background_threads())
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is not None:
        return SyncRunner(), ThreadRunner(loop.call_soon_threadsafe, torch_threads=background_threads())
    if background:
        return SyncRunner(), ThreadRunner(torch_threads=background_threads())
    return SyncRunner(), SyncRunner()


class QALensApp(pn.viewable.Viewer):
    """The whole dashboard around one ``ExplorerState``.

    Drive it from code (a notebook, a script)::

        app = QALensApp(models=["./my-squad-model"])
        app.state.update(question="Who wrote it?", context="It was written by Ada.")
        app.state.run()
        app.state.update(layer=2, head=5)
        app.state.select([3, 4])
        app  # as a notebook cell's value: renders inline
    """

    state = param.ClassSelector(class_=ExplorerState, doc="The one state object every view reads and writes.")

    def __init__(
        self,
        models: Sequence[str] | None = None,
        state: ExplorerState | None = None,
        background: bool | None = None,
        **params: Any,
    ) -> None:
        if state is None:
            state = ExplorerState(models=list(models) if models else None)
        super().__init__(state=state, **params)
        self.state.use_runners(*session_runners(background))
        self.state.check_model()
        # One fan-out for the session's page: every view follows the state through it (dashboard/views/).
        self.fan_out = StateFanOut(self.state)
        wiring = {"state": self.state, "fan_out": self.fan_out}
        self.controls = Controls(state=self.state)
        self.answer = AnswerView(**wiring)
        self.top_k = TopKTable(**wiring)
        self.text = SaliencyText(**wiring)
        self.attention = AttentionHeatmap(**wiring)
        self.head_view = HeadView(**wiring)
        self.model_view = ModelView(**wiring)
        self.head_importance = HeadImportanceGrid(**wiring)
        self.question_attention = QuestionAttentionBars(**wiring)
        self.saliency = SaliencyBars(**wiring)
        self.saliency_heatmap = SaliencyHeatmap(**wiring)
        self.probabilities = ProbabilityBars(**wiring)
        self.trust = TrustPanel(**wiring)
        self.whatif = WhatIfPanel(**wiring)
        tabs = (
            (
                "Attention",
                # Wraps on narrow screens instead of pushing the head view off the page.
                pn.FlexBox(
                    self.attention,
                    self.head_view,
                    self.model_view,
                    self.head_importance,
                    self.question_attention,
                    flex_wrap="wrap",
                    align_items="flex-start",
                    sizing_mode="stretch_width",
                ),
            ),
            ("Saliency", pn.Column(self.saliency, self.saliency_heatmap, sizing_mode="stretch_width")),
            ("Probabilities", pn.Column(self.probabilities, sizing_mode="stretch_width")),
            ("What if", self.whatif),
            ("Trust", self.trust),
        )
        self.tabs = pn.Tabs(*tabs, dynamic=True, sizing_mode="stretch_width")
        self._trust_tab = [name for name, _view in tabs].index("Trust")
        self.explorer = pn.Column(
            pn.Row(
                pn.Column(self.answer, sizing_mode="stretch_width"),
                pn.Column(self.top_k, width=460),
                sizing_mode="stretch_width",
            ),
            self.text,
            self.tabs,
            sizing_mode="stretch_width",
        )
        # The Dataset page joins as a second page once a run is offered (at start, or later from a notebook), the
        # Compare page once two are, the Robustness page once the run on show has a suite.
        self.dataset_page: pn.viewable.Viewer | None = None
        self.compare_page: pn.viewable.Viewer | None = None
        self.robustness_page: pn.viewable.Viewer | None = None
        self._page_tabs: dict[str, int] = {}
        self.pages = pn.Tabs(("Explorer", self.explorer), dynamic=True, sizing_mode="stretch_width")
        self.main = pn.Column(self.explorer, sizing_mode="stretch_width")
        # Page navigation, not a view's content: watched directly, so the fan-out's on-load resend (which calls
        # every subscriber as if all had changed) never adds a page or jumps to the explorer by itself.
        self.state.dataset.param.watch(self._offer_dataset_page, ["runs"])
        self.state.dataset.param.watch(self._show_explorer, ["look"])
        self.state.compare.param.watch(self._show_models_side_by_side, ["look"])
        self.pages.param.watch(self._compare_when_shown, ["active"])
        robustness = robustness_part(self.state)
        robustness.param.watch(self._offer_robustness_page, ["suites"])
        robustness.param.watch(self._show_explorer, ["look"])
        robustness.param.watch(self._show_robustness_pair, ["pair"])
        self._offer_dataset_page()

    def _offer_dataset_page(self, *_events: Any) -> None:
        runs = self.state.dataset.runs
        if self.dataset_page is None and runs:
            from dashboard.dataset import DatasetPage  # hvPlot loads only for apps that show a run

            self.dataset_page = DatasetPage(state=self.state, fan_out=self.fan_out)
            self._add_page("Dataset", self.dataset_page)
            self.pages.active = 1
            self.main.objects = [self.pages]
        if self.compare_page is None and len(runs) >= 2:
            from dashboard.compare import ComparePage

            self.compare_page = ComparePage(state=self.state, fan_out=self.fan_out)
            self._add_page("Compare", self.compare_page)
        self._offer_robustness_page()

    def _add_page(self, name: str, page: pn.viewable.Viewer) -> None:
        """A page's tab, remembered by name (pages join in any order: a run with a suite may be chosen later)."""
        self._page_tabs[name] = len(self.pages)
        self.pages.append((name, page))

    def _offer_robustness_page(self, *_events: Any) -> None:
        """The Robustness page joins, after the Dataset page, once the run on show has a suite (``python -m core
        dataset perturb``); the run's suites are read as the run opens, before the Dataset page joins."""
        if self.robustness_page is not None or self.dataset_page is None or not self.state.robustness.suites:
            return
        from dashboard.robustness import RobustnessPage

        self.robustness_page = RobustnessPage(state=self.state, fan_out=self.fan_out)
        self._add_page("Robustness", self.robustness_page)

    def _show_robustness_pair(self, event: param.parameterized.Event) -> None:
        """A pair opened (a click, or a link that carries it): the Robustness page shows it side by side."""
        if event.new and "Robustness" in self._page_tabs:
            self.pages.active = self._page_tabs["Robustness"]

    def _show_explorer(self, *_events: Any) -> None:
        self.pages.active = 0

    def _show_models_side_by_side(self, *_events: Any) -> None:
        """A question opened from the Compare page: the explorer, on the Trust tab's models side by side.

        Innermost tab first: each tab then opens on the one within it, drawn as a whole, as a click would draw it.
        """
        self.trust.tabs.active = list(self.trust.views).index("compare")
        self.tabs.active = self._trust_tab
        self.pages.active = 0

    def _compare_when_shown(self, event: param.parameterized.Event) -> None:
        """The Compare page's first showing compares its runs (on the background runner; the button redoes it)."""
        compare = self.state.compare
        shown = self.compare_page is not None and event.new == self._page_tabs.get("Compare")
        if shown and compare.comparison is None and not compare.problem and not self.state.jobs.run_comparison.running:
            compare.compute()

    @property
    def views(self) -> dict[str, pn.viewable.Viewer]:
        """Every view by name (tests and notebooks reach plots through these)."""
        return {
            "answer": self.answer,
            "top_k": self.top_k,
            "text": self.text,
            "attention": self.attention,
            "head_view": self.head_view,
            "model_view": self.model_view,
            "head_importance": self.head_importance,
            "question_attention": self.question_attention,
            "saliency": self.saliency,
            "saliency_heatmap": self.saliency_heatmap,
            "probabilities": self.probabilities,
            "trust": self.trust,
            "whatif": self.whatif,
        }

    def resync_views(self) -> None:
        """Send every view's current content again (the served app does this once the page has loaded).

        Every view of every page follows the state through ``self.fan_out``, so one refresh reaches them
        all. Before a first answer nothing a view shows can have changed since the page was built (a
        dataset run opens while the app is made), so there is nothing to send again.
        """
        if self.state.result.explanation is not None:
            self.fan_out.refresh()

    def sync_url(self) -> None:
        """Keep model, example, question, layer, head, method and target in the page URL (served only), and the
        Dataset page's run and slice when runs are offered."""
        location = pn.state.location
        if location is None:
            return
        for part, names in URL_PARAMETERS.items():
            if part == "dataset" and not self.state.dataset.runs:
                continue  # no Dataset page: the explorer's links stay as they were
            location.sync(getattr(self.state, part), names, on_error=self._apply_url_leniently)
        self._select_once_answered(list(self.state.selection.tokens))
        self.answer_what_the_link_asks()

    def _select_once_answered(self, tokens: list[int]) -> None:
        """A link's selection is of the answer's tokens: apply it when that answer arrives (a new answer clears)."""
        if not tokens:
            return
        result = self.state.result

        def apply(_event: param.parameterized.Event) -> None:
            result.param.unwatch(watcher)
            self.state.select(tokens)

        watcher = result.param.watch(apply, ["result_id"])

    def answer_what_the_link_asks(self) -> None:
        """A link (or a reload) that restored a question and a context shows their answer, as it did."""
        state = self.state
        inputs = state.inputs
        if not (inputs.auto_run and inputs.question.strip() and inputs.context.strip()):
            return
        if state.result.explanation is None and not state.jobs.answer.running:
            state.run()

    def _apply_url_leniently(self, values: dict[str, Any]) -> None:
        """Apply URL values one by one, skipping any that no longer fit (a layer the model lacks)."""
        for name, value in values.items():
            if name in TEXT_URL_VALUES and not isinstance(value, str):
                value = str(value)
            if name == "head" and isinstance(value, str) and value.isdigit():
                value = int(value)
            try:
                if name in URL_PARAMETERS["dataset"]:
                    self.state.dataset.param.update(**{name: value})
                elif name in URL_PARAMETERS["robustness"]:
                    self.state.robustness.param.update(**{name: value})
                else:
                    self.state.update(**{name: value})
            except Exception:
                logger.info("ignoring URL value %s=%r", name, value)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Row(
            pn.Column(*self.controls.sections(), width=SIDEBAR_WIDTH),
            self.main,
            sizing_mode="stretch_width",
        )

    def template(self) -> pn.template.BootstrapTemplate:
        """The served page: controls in the sidebar, views in the main area.

        Bootstrap rather than Fast: the Fast design always fetches Open Sans from Google Fonts,
        which fails (a console error) on machines without network access.
        """
        return pn.template.BootstrapTemplate(
            title=f"{TITLE} · why did the model pick this answer?",
            sidebar=self.controls.sections(),
            main=[self.main],
            sidebar_width=SIDEBAR_WIDTH + 40,
            header_background="#3b6fb6",
        )


def create_app(
    models: Sequence[str] | None = None,
    sync_url: bool = True,
    background: bool | None = None,
    examples: str | None = None,
    runs: Sequence[str] = (),
) -> QALensApp:
    """A new app for one session (call it once per ``panel serve`` session or notebook).

    ``examples`` is a SQuAD-format file to offer instead of the bundled examples; ``runs`` are dataset
    run directories for the Dataset page.
    """
    state = ExplorerState(models=list(models) if models else None, examples=examples)
    state.dataset.runs = list(runs)
    app = QALensApp(state=state, background=background)
    if sync_url:
        app.sync_url()
    document = pn.state.curdoc
    if document is not None and document.session_context is not None:
        # A closed tab's work stops at its next unit instead of running on, and its results are freed;
        # then the server gives the memory back to the OS (dashboard/memory.py says why that takes more).
        CLOSED_PAGES.opened(app.state)
        # The plots update through StateFanOut under pn.io.unlocked, which writes to the connections of the
        # moment: an answer that lands before the page's websocket subscribes is drawn on the server but never
        # sent (seen under load in tests/browser/test_hardening.py). Once the page has loaded, send them again.
        pn.state.onload(app.resync_views)

        def released(_context: Any) -> None:
            app.state.release()
            app.state.robustness.release()
            CLOSED_PAGES.closed()

        pn.state.on_session_destroyed(released)
    return app


__all__ = ["TITLE", "URL_PARAMETERS", "QALensApp", "create_app", "session_runners"]
