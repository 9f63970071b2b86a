"""``StateView``: the one way a view follows the state, through its page's ``StateFanOut``.

Every view of every page (explorer, trust, what-if, dataset) takes the session's one
``ExplorerState`` and the page's fan-out, reads and writes only the state, and hears of a change
only from the fan-out, by the changed parameter's path in the state (``"view.layer"``,
``"trust.faithfulness.report"``, ``"dataset.revision"``, ``"jobs.heads.running"``):

- ``on(paths, callback)``: for the view's whole life (a table refilled when the filters change);
- ``follow(paths, callback)``: now and on every change, until the view's next drawing (a caption);
- ``watch(*paths)`` and ``dynamic(callback, *paths)``: HoloViews streams and DynamicMaps redrawn
  through the fan-out, until the view's next drawing (``release_drawing``).

Why only this way: the fan-out runs every view's update of one change in one batch
(``batched_model_updates``), and the served page asks it once more after loading (``refresh``), so a
change that landed before the page listened is sent again. A view made on its own (a notebook cell)
gets a fan-out of its own; a page hands its fan-out to the views it is made of (``wiring``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import holoviews as hv
import panel as pn
import param

from dashboard.state import ExplorerState
from dashboard.views.fan_out import StateFanOut, resolve


class StateView(pn.viewable.Viewer):
    """A view of the session's state that follows it through the page's fan-out, and only so."""

    state = param.ClassSelector(class_=ExplorerState, doc="The shared dashboard state this view reads and writes.")
    fan_out = param.ClassSelector(
        class_=StateFanOut, default=None, allow_None=True, precedence=-1, doc="The page's fan-out (own one if none)."
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        if self.fan_out is None:
            self.fan_out = StateFanOut(self.state)
        self._drawing: list[int] = []

    @property
    def wiring(self) -> dict[str, Any]:
        """What a view made by this one needs to be on the same page: ``View(**self.wiring)``."""
        return {"state": self.state, "fan_out": self.fan_out}

    def on(self, paths: Sequence[str], callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever any of the named state parameters change, for the view's life."""
        self.fan_out.subscribe(paths, lambda _changed: callback())

    def follow(self, paths: Sequence[str], callback: Callable[[], None]) -> None:
        """Call ``callback()`` now and whenever the named state parameters change, until the next drawing."""
        self._drawing.append(self.fan_out.subscribe(paths, lambda _changed: callback()))
        callback()

    def watch(self, *paths: str) -> list[hv.streams.Params]:
        """Streams on state parameters (one per part), fired through the fan-out until the next drawing."""
        by_owner: dict[int, tuple[param.Parameterized, list[str]]] = {}
        for path in paths:
            owner, name = resolve(self.state, path)
            by_owner.setdefault(id(owner), (owner, []))[1].append(name)
        streams = [hv.streams.Params(owner, names, watch=False) for owner, names in by_owner.values()]

        def fire(_changed: set[str]) -> None:
            # Once for all of them: a DynamicMap on two parts' streams must redraw once, not once per stream.
            hv.streams.Stream.trigger(streams)

        self._drawing.append(self.fan_out.subscribe(paths, fire))
        return streams

    def dynamic(self, callback: Callable[..., Any], *paths: str) -> hv.DynamicMap:
        """A DynamicMap redrawn when the named state parameters change (keeps one frame only).

        ``callback`` receives each parameter by its own name (``"view.layer"`` -> ``layer=``).
        """
        return hv.DynamicMap(callback, streams=self.watch(*paths), cache_size=1)

    def release_drawing(self) -> None:
        """Stop what the last drawing followed (``follow``, ``watch``, ``dynamic``): a new drawing follows anew."""
        for token in self._drawing:
            self.fan_out.unsubscribe(token)
        self._drawing = []


__all__ = ["StateView"]
