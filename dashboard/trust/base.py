"""The base of the trust views: a result computed on request (a button), with the job's progress and errors.

Every trust view takes the one ``ExplorerState`` and shows one trust part of it
(``state.trust.faithfulness``, ``.sanity``, ``.layers``, ``.comparison``), computed by that part's
``Job`` (``state.jobs``). It reads the shared selection from ``state.selection`` and writes it
back only through the state. Heavy work happens only when asked: the button, or the part's
``compute()`` from a notebook.
"""

from __future__ import annotations

import html
import logging
from typing import Any

import holoviews as hv
import panel as pn
import param

from dashboard.state import ExplorerState
from dashboard.state.jobs import Job
from dashboard.state.trust import TrustPart
from dashboard.theme import EXPLAINER_COLORS, EXTRA_COLORS

logger = logging.getLogger(__name__)


def explainer_color(name: str, index: int = 0) -> str:
    return EXPLAINER_COLORS.get(name, EXTRA_COLORS[index % len(EXTRA_COLORS)])


class TrustView(pn.viewable.Viewer):
    """A view of one trust part of the state, with a compute button bound to its job."""

    state = param.ClassSelector(class_=ExplorerState, doc="The shared dashboard state this view reads and writes.")

    part_name = ""
    button_label = "Compute"
    empty_message = "Run a question first."

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._streams: list[hv.streams.Stream] = []
        self.button = pn.widgets.Button(label=self.button_label, color="primary", width=220)
        self.button.on_click(lambda _event: self.part.compute())
        self.progress_bar = pn.indicators.Progress(value=0, max=100, width=220, visible=False)
        self.message = pn.pane.Markdown("", styles={"color": "#555"}, margin=(0, 10))
        self.job.param.watch(self._on_job, ["running", "progress", "stage", "error"])
        self._on_job()

    @property
    def part(self) -> TrustPart:
        return getattr(self.state.trust, self.part_name)

    @property
    def job(self) -> Job:
        return getattr(self.state.jobs, self.part_name)

    def describe(self) -> str:
        """One status line about the result on show (empty when there is none)."""
        return ""

    def _on_job(self, *_events: Any) -> None:
        job = self.job
        self.button.disabled = job.running
        self.progress_bar.visible = job.running
        self.progress_bar.value = int(round(job.progress * 100))
        if job.error:
            text = f"<span style='color:#b00020'>{html.escape(job.error, quote=False)}</span>"
        elif job.running:
            text = f"Computing… {html.escape(job.stage, quote=False)}".rstrip()
        else:
            text = html.escape(self.describe(), quote=False)
        self.message.object = text

    def unwatch_streams(self) -> None:
        """Detach the Params streams of the last drawing (a redraw makes new ones)."""
        for stream in self._streams:
            if isinstance(stream, hv.streams.Params):
                stream.unwatch()
        self._streams = []

    def controls(self) -> pn.viewable.Viewable:
        return pn.Row(self.button, self.progress_bar, self.message, sizing_mode="stretch_width")


__all__ = ["TrustView", "explainer_color"]
