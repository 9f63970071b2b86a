"""Background work, written once: every long-running piece of the dashboard is a ``Job``.

A ``Job`` runs work on a ``Runner`` (inline, or a worker thread in the served app) and keeps the
rules every kind of work needs in one place:

- **supersession**: at most one run of a job is current; ``start`` or ``cancel`` makes the run in
  flight stale. Its progress callback then raises ``core.progress.Cancelled`` at the next unit of
  work (core reports between units), so it stops instead of holding the model, and its result, if
  it still arrives, is dropped and never shown;
- **progress and status**: ``running``, ``progress`` (0 to 1), ``stage`` and ``error`` are
  parameters, updated on the session's thread (``Runner.dispatch``), so widgets bind to them;
- **errors**: an exception becomes a message a person can act on (``error``), never a traceback.

No Panel import: jobs are tested without a browser.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

import param

import core
from core import Cancelled, ProgressCallback
from dashboard.state.runners import Outcome, Runner, SyncRunner

logger = logging.getLogger(__name__)

Work = Callable[[ProgressCallback], Any]
"""What a job runs: given a progress callback, returns the result (or raises)."""


def message(error: BaseException) -> str:
    """A message a person can act on; never a traceback (unexpected errors go to the server log)."""
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    if isinstance(error, (ValueError, TypeError, core.ModelLoadError, FileNotFoundError)):
        return str(error)
    logger.error("unexpected error in the dashboard", exc_info=error)
    return f"Unexpected error ({type(error).__name__}: {error}). The server log has the details."


class Job(param.Parameterized):
    """One kind of background work for one session, with at most one current run."""

    running = param.Boolean(default=False, doc="A run is in flight.")
    progress = param.Number(default=0.0, bounds=(0.0, 1.0), doc="How far the current run is, 0 to 1.")
    stage = param.String(default="", doc="What the current run is doing (core's stage name).")
    error = param.String(default="", doc="Why the last run failed; empty when it did not.")
    runner = param.ClassSelector(
        class_=Runner,
        default=SyncRunner(),
        instantiate=False,
        precedence=-1,
        doc="Where the work runs: inline by default; the app passes a worker-thread runner.",
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._generation = 0

    def start(
        self,
        work: Work,
        done: Callable[[Any], None],
        failed: Callable[[BaseException], None] | None = None,
        stage: str = "",
        interim: Callable[[Any], None] | None = None,
    ) -> None:
        """Run ``work(progress)``; hand its result to ``done`` (or its error to ``failed``) unless superseded.

        ``done`` runs before ``running`` turns false, so a follow-up job it starts is already running
        when this one stops: the page is never seen idle in between. With ``interim``, the work is called
        as ``work(progress, publish)``: ``publish(value)`` hands an early result (a map still being
        refined) to ``interim`` on the session's thread, unless the run has been superseded.
        """
        self._generation += 1
        generation = self._generation
        runner = self.runner
        self.param.update(running=True, progress=0.0, stage=stage, error="")

        def progress(stage_name: str, fraction: float) -> None:
            if generation != self._generation:
                raise Cancelled("A newer run (or a closed page) made this work pointless.")
            runner.dispatch(partial(self._progress, generation, stage_name, fraction))

        def publish(value: Any) -> None:
            if generation == self._generation and interim is not None:
                runner.dispatch(partial(self._interim, generation, interim, value))

        call = partial(work, progress, publish) if interim is not None else partial(work, progress)
        runner.submit(call, partial(self._finish, generation, done, failed))

    def _interim(self, generation: int, interim: Callable[[Any], None], value: Any) -> None:
        if generation == self._generation and self.running:
            interim(value)

    def hold(self, stage: str) -> None:
        """Show this job as running while it waits for another (superseding any run in flight)."""
        self._generation += 1
        self.param.update(running=True, progress=0.0, stage=stage, error="")

    def cancel(self) -> None:
        """Make the run in flight stale: it stops at its next progress report and its result is dropped."""
        self._generation += 1
        if self.running:
            self.param.update(running=False, progress=0.0, stage="")

    def reset(self) -> None:
        """Cancel, and forget the last error too."""
        self.cancel()
        self.error = ""

    def _progress(self, generation: int, stage: str, fraction: float) -> None:
        if generation == self._generation and self.running:
            self.param.update(progress=min(max(float(fraction), 0.0), 1.0), stage=stage)

    def _finish(
        self,
        generation: int,
        done: Callable[[Any], None],
        failed: Callable[[BaseException], None] | None,
        outcome: Outcome,
    ) -> None:
        if generation != self._generation:
            return
        error = outcome.error
        try:
            if error is None:
                done(outcome.value)
            elif isinstance(error, Cancelled):
                pass
            elif failed is not None:
                failed(error)
            else:
                self.error = message(error)
        finally:
            if generation == self._generation:
                self.param.update(running=False, progress=1.0 if error is None else 0.0, stage="")


class Jobs(param.Parameterized):
    """Every job of a session: the answer, integrated gradients, the trust computations and the dataset pages' work."""

    answer = param.ClassSelector(class_=Job, doc="Answer, attention and gradient saliency (one forward and backward).")
    saliency = param.ClassSelector(class_=Job, doc="Integrated gradients, after the answer is on show.")
    faithfulness = param.ClassSelector(class_=Job, doc="Deletion and insertion curves of every explainer.")
    sanity = param.ClassSelector(class_=Job, doc="The model-randomisation sanity check.")
    comparison = param.ClassSelector(class_=Job, doc="Other models on the same question, side by side.")
    heads = param.ClassSelector(class_=Job, doc="Head importance: every head masked in turn, and its gradient.")
    whatif = param.ClassSelector(class_=Job, doc="The answer over an edited context (one forward pass).")
    slice_statistics = param.ClassSelector(
        class_=Job, doc="The Dataset page's slice: EM and F1 with bootstrap intervals."
    )
    failure_groups = param.ClassSelector(class_=Job, doc="The dataset run's failure groups (the slice finder).")
    run_comparison = param.ClassSelector(class_=Job, doc="Two dataset runs compared question by question.")
    slice_heads = param.ClassSelector(class_=Job, doc="Per-example head values the atlas averages over a slice.")

    NAMES = (
        "answer",
        "saliency",
        "faithfulness",
        "sanity",
        "comparison",
        "heads",
        "whatif",
        "slice_statistics",
        "failure_groups",
        "run_comparison",
        "slice_heads",
    )
    WHOLE_RUN = ("slice_statistics", "failure_groups", "run_comparison", "slice_heads")
    """Work on a dataset run rather than on the answer on show: a new question must not throw it away (opening
    an example of a failure group in the explorer leaves the groups being found)."""

    def __init__(self, **params: Any) -> None:
        for name in self.NAMES:
            params.setdefault(name, Job(name=name))
        super().__init__(**params)

    @property
    def all(self) -> dict[str, Job]:
        return {name: getattr(self, name) for name in self.NAMES}

    @property
    def background(self) -> list[Job]:
        """The jobs that follow an answer (everything but the answer itself)."""
        return [job for name, job in self.all.items() if name != "answer"]

    def use_runners(self, answer: Runner, background: Runner) -> None:
        """Run the answer on ``answer`` and everything else on ``background``."""
        self.answer.runner = answer
        for job in self.background:
            job.runner = background

    def cancel_all(self) -> None:
        """Supersede every answer's work in flight (a new question, another model); whole-run work goes on."""
        for name, job in self.all.items():
            if name not in self.WHOLE_RUN:
                job.cancel()

    def cancel_everything(self) -> None:
        """Supersede every run in flight, whole-run work too (a closed page)."""
        for job in self.all.values():
            job.cancel()


__all__ = ["Job", "Jobs", "Work", "message"]
