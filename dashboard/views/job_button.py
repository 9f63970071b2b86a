"""``JobButton``: the button that starts a job, with the job's progress bar and its status line.

Every computation a person starts from a view (a trust report, head importance, a saliency map on
request, a what-if answer) is a ``Job`` of the state (``dashboard/state/jobs.py``), and every one is
shown the same way: the button is disabled while the job runs, the bar shows its progress, and one
line says why it failed, what it is doing, or (``describe``) what the result on show is. The job is
followed through the page's fan-out like everything else a view shows. The status line is HTML with
every piece of text escaped: a job's error may quote the user's question or context.
"""

from __future__ import annotations

from typing import Any

import panel as pn
import param

from dashboard.escaping import html_text
from dashboard.state.jobs import Job
from dashboard.views.state_view import StateView

ERROR_COLOR = "#b00020"
JOB_PARAMETERS = ("running", "progress", "stage", "error")
"""What the job button shows of its job (``Job``'s parameters)."""


class JobButton(StateView):
    """A button bound to one job of the state: it starts the job and shows its progress, stage and error."""

    job_name = param.String(default="", doc="The job of ``state.jobs`` the button starts and shows, e.g. 'heads'.")
    label = param.String(default="Compute", doc="The button's text.")
    action = param.Callable(default=None, doc="What a press does: start the job (e.g. a trust part's compute).")
    describe = param.Callable(
        default=None, doc="The status line while the job is idle and has not failed (plain text); none: empty."
    )
    running_text = param.String(default="Computing…", doc="The status line while the job runs (its stage follows).")
    needs_answer = param.Boolean(default=False, doc="Disable the button until an answer is on show.")
    follows = param.List(default=[], item_type=str, doc="More state parameters ``describe`` reads (paths).")
    color = param.String(default="primary", doc="The button's colour: 'primary', 'default'...")
    variant = param.String(default="solid", doc="'solid' or 'outline'.")
    button_width = param.Integer(default=220, doc="Width of the button and of the progress bar, in pixels.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.button = pn.widgets.Button(
            label=self.param.label, color=self.color, variant=self.variant, width=self.button_width
        )
        self.button.on_click(lambda _event: self.action())
        self.progress_bar = pn.indicators.Progress(value=0, max=100, width=self.button_width, visible=False)
        self.message = pn.pane.HTML("", margin=(0, 10), styles={"color": "#555"})
        self.layout = pn.Row(self.button, self.progress_bar, self.message, sizing_mode="stretch_width")
        paths = [f"jobs.{self.job_name}.{name}" for name in JOB_PARAMETERS]
        if self.needs_answer:
            paths.append("result.result_id")
        self.on([*paths, *self.follows], self.show_status)
        self.show_status()

    @property
    def job(self) -> Job:
        return getattr(self.state.jobs, self.job_name)

    def status_html(self) -> str:
        """The status line as escaped HTML: the error, else the stage while running, else ``describe()``."""
        job = self.job
        if job.error:
            return f"<span style='color:{ERROR_COLOR}'>{html_text(job.error)}</span>"
        if job.running:
            return html_text(f"{self.running_text} {job.stage}".rstrip())
        return html_text(self.describe() if self.describe is not None else "")

    def show_status(self) -> None:
        job = self.job
        self.button.disabled = job.running or (self.needs_answer and self.state.result.explanation is None)
        self.progress_bar.param.update(visible=job.running, value=int(round(job.progress * 100)))
        self.message.object = self.status_html()

    def __panel__(self) -> pn.viewable.Viewable:
        return self.layout


__all__ = ["ERROR_COLOR", "JobButton"]
