"""``StateFanOut``: one watcher per state part for all the views of a page, dispatching together.

Why one object: a head switch changes one parameter that several plots follow. Watching it once
and running every interested view's update in one batch (``batched_model_updates``) keeps the
switch cheap, and dispatching through ``pn.state.execute`` under ``pn.io.unlocked`` makes updates
that arrive from a HoloViews stream (a tap, a box select: a task without the Bokeh document lock)
reach the page. The app owns one fan-out and hands it to every view (``StateView``); a view made on
its own gets one of its own.

Parameters are named by their path in the state, however deep: ``"view.layer"``,
``"selection.tokens"``, ``"result.result_id"``, ``"jobs.saliency.running"``,
``"trust.faithfulness.report"``, ``"dataset.run"``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import panel as pn
import param

from dashboard.state import ExplorerState
from dashboard.views.bokeh_batching import batched_model_updates

logger = logging.getLogger(__name__)

Callback = Callable[[set[str]], None]


def resolve(state: ExplorerState, path: str) -> tuple[param.Parameterized, str]:
    """``"view.layer"`` -> ``(state.view, "layer")``; ``"trust.sanity.step"`` -> ``(state.trust.sanity, "step")``."""
    *parts, name = path.split(".")
    owner: Any = state
    for part in parts:
        owner = getattr(owner, part)
    if not isinstance(owner, param.Parameterized) or name not in owner.param:
        raise ValueError(f"{path!r} is not a parameter of the state.")
    return owner, name


class StateFanOut:
    """Call subscribers when state parameters they named change, in one batch per change."""

    def __init__(self, state: ExplorerState) -> None:
        self.state = state
        self._subscribers: dict[int, tuple[frozenset[str], Callback]] = {}
        self._next = 0
        self._watchers: dict[str, tuple[param.Parameterized, Any, frozenset[str]]] = {}

    def subscribe(self, paths: Sequence[str], callback: Callback) -> int:
        """Call ``callback(changed_paths)`` when any of ``paths`` change; returns a token for ``unsubscribe``."""
        self._next += 1
        self._subscribers[self._next] = (frozenset(paths), callback)
        for path in paths:
            self._watch(path)
        return self._next

    def unsubscribe(self, token: int) -> None:
        self._subscribers.pop(token, None)

    def _watch(self, path: str) -> None:
        owner, name = resolve(self.state, path)
        prefix = path.rsplit(".", 1)[0] if "." in path else ""
        current = self._watchers.get(prefix)
        names = frozenset({name}) | (current[2] if current else frozenset())
        if current is not None and current[2] == names:
            return
        if current is not None:
            current[0].param.unwatch(current[1])
        watcher = owner.param.watch(partial(self._on_change, prefix), sorted(names))
        self._watchers[prefix] = (owner, watcher, names)

    def _on_change(self, prefix: str, *events: param.parameterized.Event) -> None:
        """Dispatch now if this thread may edit the page's Bokeh models, else on the document's next tick.

        ``pn.state.execute`` runs the dispatch at once on the session's own thread and loop, else as a
        next-tick callback; the dispatch runs under ``pn.io.unlocked``, which collects the model changes
        and writes them to the session's websocket whether or not the lock is held, as Panel does for
        its own widgets. Without a server session (notebooks, tests) both are plain calls.
        """
        changed = {f"{prefix}.{event.name}" if prefix else event.name for event in events}
        pn.state.execute(partial(self._dispatch, changed), schedule="auto")

    def refresh(self) -> None:
        """Call every subscriber as if all it follows had changed, without changing the state.

        For a page that connects after results arrived: updates dispatched before its websocket
        subscribed never reach it (``pn.io.unlocked`` writes to the connections of that moment), so
        the served app calls this once the page has loaded (``pn.state.onload``).
        """
        followed = [paths for paths, _callback in self._subscribers.values()]
        if followed:
            self._dispatch(set().union(*followed))

    def _dispatch(self, changed: set[str]) -> None:
        began = time.perf_counter()
        with pn.io.unlocked(), batched_model_updates(pn.state.curdoc):
            for token, (paths, callback) in list(self._subscribers.items()):
                # A view that redrew earlier in this dispatch dropped its old drawing's subscriptions: skip them.
                if changed & paths and token in self._subscribers:
                    try:
                        callback(changed)
                    except Exception:  # one view that cannot update must not stop the others
                        logger.exception("a view could not follow %s", sorted(changed))
        logger.debug("views updated for %s in %.0f ms", sorted(changed), (time.perf_counter() - began) * 1000)


__all__ = ["StateFanOut", "resolve"]
