"""The base of the trust views: a result computed on request, with its job's button, progress and errors.

Every trust view is a ``StateView``: it takes the one ``ExplorerState`` and the page's fan-out, and
shows one trust part of the state (``state.trust.faithfulness``, ``.sanity``, ``.comparison``),
computed by that part's ``Job`` (``state.jobs``) behind a ``JobButton``. It reads the shared
selection from ``state.selection`` and writes it back only through the state. Heavy work happens
only when asked: the button, or the part's ``compute()`` from a notebook.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from dashboard.state.trust import TrustPart
from dashboard.views.job_button import JobButton
from dashboard.views.state_view import StateView


class TrustView(StateView):
    """A view of one trust part of the state, redrawn when its result changes, with a job button to compute it."""

    part_name = ""
    result_name = "report"
    """The part's parameter that holds its result (redrawn on change)."""
    button_label = "Compute"
    empty_message = "Run a question first."
    title = ""
    description = ""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.job_button = JobButton(
            **self.wiring,
            job_name=self.part_name,
            label=self.button_label,
            action=self.part.compute,
            describe=self.describe,
            follows=[self.result_path],
        )
        self.on((self.result_path,), self.redraw)

    @property
    def part(self) -> TrustPart:
        return getattr(self.state.trust, self.part_name)

    @property
    def result(self) -> Any:
        """The trust part this view shows (``state.trust.<part_name>``)."""
        return self.part

    @property
    def result_path(self) -> str:
        return f"trust.{self.part_name}.{self.result_name}"

    @property
    def button(self) -> pn.widgets.Button:
        """The compute button (the job button's)."""
        return self.job_button.button

    @property
    def message(self) -> pn.pane.HTML:
        """The job's status line: its error, its stage, or ``describe()``."""
        return self.job_button.message

    def describe(self) -> str:
        """One status line about the result on show (empty when there is none)."""
        return ""

    def redraw(self) -> None:
        """Drop what the last drawing followed, then draw the result on show."""
        self.release_drawing()
        self.draw()

    def draw(self) -> None:
        raise NotImplementedError

    def header(self) -> pn.pane.Markdown:
        return pn.pane.Markdown(f"#### {self.title}\n<small>{self.description}</small>", margin=(0, 10))

    def controls(self) -> pn.viewable.Viewable:
        return self.job_button


__all__ = ["TrustView"]
