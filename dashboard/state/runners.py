"""Where the state's model work runs: inline, or on a worker thread with results handed back.

Why: under ``panel serve`` every session shares one event loop, so a forward pass (or a minute of
integrated gradients) run inline would freeze every open page. A ``ThreadRunner`` runs the work on
a small process-wide pool and hands the outcome to ``dispatch``, which the app sets to "schedule on
this session's document" (``Document.add_next_tick_callback``, the thread-safe entry point Bokeh
documents for updates from threads). ``SyncRunner`` runs inline: tests and scripts get
deterministic, blocking behaviour.

No Panel import here: the state and its runners are testable without a browser.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

WORKERS = 2
"""Model work in flight at once per pool, over all sessions (core guards each model with a lock)."""

_executors: dict[int | None, ThreadPoolExecutor] = {}
_executor_lock = threading.Lock()


def background_threads() -> int:
    """Torch threads for background work: all cores but one, which stays free for the page.

    On a two-core laptop integrated gradients on every core made a head switch ~3x slower
    (0.56 s instead of 0.19 s in bench/bench_dashboard.py's setting); on one core, 1.6x.
    """
    return max(1, (os.cpu_count() or 2) - 1)


@dataclass(frozen=True)
class Outcome:
    """What a piece of work produced: its value, or the exception it raised."""

    value: Any = None
    error: Exception | None = None


Work = Callable[[], Any]
Done = Callable[[Outcome], None]
Dispatch = Callable[[Callable[[], None]], None]


def call(work: Work) -> Outcome:
    """Run ``work`` and capture its result or its exception (never raises ``Exception``)."""
    try:
        return Outcome(value=work())
    except Exception as error:  # the state turns every failure into a message
        return Outcome(error=error)


class Runner:
    """Runs work and hands its ``Outcome`` to a callback; ``dispatch`` runs small updates."""

    def submit(self, work: Work, done: Done) -> None:
        raise NotImplementedError

    def dispatch(self, callback: Callable[[], None]) -> None:
        callback()


class SyncRunner(Runner):
    """Run inline: ``submit`` returns after ``done`` has run."""

    def submit(self, work: Work, done: Done) -> None:
        done(call(work))


class ThreadRunner(Runner):
    """Run on the shared worker pool; ``done`` and progress updates go through ``dispatch_to``.

    ``dispatch_to`` must be thread-safe (``Document.add_next_tick_callback``,
    ``loop.call_soon_threadsafe``); without one, callbacks run on the worker thread.
    ``torch_threads`` caps the intra-op threads of the pool's workers (``torch.set_num_threads``
    applies to the calling thread's parallel regions), e.g. ``background_threads()``.
    """

    def __init__(self, dispatch_to: Dispatch | None = None, torch_threads: int | None = None) -> None:
        self._dispatch_to = dispatch_to
        self.torch_threads = torch_threads

    def submit(self, work: Work, done: Done) -> None:
        future = _pool(self.torch_threads).submit(call, work)
        future.add_done_callback(lambda finished: self.dispatch(lambda: done(finished.result())))

    def dispatch(self, callback: Callable[[], None]) -> None:
        if self._dispatch_to is None:
            _guarded(callback)
            return
        try:
            self._dispatch_to(lambda: _guarded(callback))
        except Exception:  # the session is gone (closed tab): nothing left to update
            logger.debug("could not dispatch a callback to its session", exc_info=True)


def _guarded(callback: Callable[[], None]) -> None:
    try:
        callback()
    except Exception:
        logger.exception("a dashboard update failed")


def _limit_torch_threads(count: int) -> None:
    import torch  # already imported by core; only the thread count is set here

    torch.set_num_threads(count)


def _pool(torch_threads: int | None = None) -> ThreadPoolExecutor:
    with _executor_lock:
        executor = _executors.get(torch_threads)
        if executor is None:
            initializer = None if torch_threads is None else _limit_torch_threads
            executor = ThreadPoolExecutor(
                max_workers=WORKERS,
                thread_name_prefix=f"qa-lens-{torch_threads or 'all'}",
                initializer=initializer,
                initargs=() if torch_threads is None else (torch_threads,),
            )
            _executors[torch_threads] = executor
        return executor


__all__ = ["Outcome", "Runner", "SyncRunner", "ThreadRunner", "background_threads", "call"]
