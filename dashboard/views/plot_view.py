"""The base of every plot view (``PlotView``), and of the token bar charts (``TokenBarsView``).

A plot view is a ``StateView``: it takes the one ``ExplorerState`` and the page's ``StateFanOut``
and reads and writes only the state. Two kinds of update keep interactions cheap:

- data (a new attention map, other bars): HoloViews ``DynamicMap``s on ``self.dynamic(...)`` streams,
  redrawn through the fan-out;
- decorations (the selection, the answer, the current head): Bokeh annotations and glyph
  selections that ``decorate`` adds to each rendered figure once and ``update_decorations``
  changes in place, with no HoloViews redraw at all.
"""

from __future__ import annotations

import html
import logging
import weakref
from collections.abc import Callable
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn

from dashboard.views.plotting import (
    add_answer_box,
    label_token_axes,
    name_saved_files,
    position_axis_opts,
    set_selected,
)
from dashboard.views.state_view import StateView

logger = logging.getLogger(__name__)


class PlotView(StateView):
    """A view of one plot: rebuilt when what it shows is replaced (a new answer), updated in place otherwise.

    Subclasses implement ``build`` and, for decorations, ``decorate`` / ``update_decorations`` with
    ``decorations_on`` naming the state parameters (paths like ``"selection.tokens"``) they follow.
    A plot of something other than the answer on show (a dataset run) says when it has something to
    draw with ``has_content`` and what to say otherwise with ``empty_text``.
    """

    title: str = ""
    description: str = ""
    rebuild_on: tuple[str, ...] = ("result.result_id",)
    decorations_on: tuple[str, ...] = ("selection.tokens",)
    empty_message = "Run a question to see this view."
    stretch: bool = True
    """Stretch the plot to the page width (bar charts); fixed-size plots (square maps) set False:
    stretching a figure that has a fixed frame squeezes it, and Bokeh then repaints it only in part."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._elements: dict[Any, Any] = {}
        self._decorated: dict[int, dict[str, Any]] = {}
        self.pane = pn.pane.HoloViews(None, linked_axes=False, sizing_mode="stretch_width" if self.stretch else "fixed")
        self.message = pn.pane.Markdown(self.empty_text(), styles={"color": "#777"})
        # Plain HTML (no Markdown parsing on every head switch); views put only escaped text in it.
        self.caption = pn.pane.HTML("", margin=(0, 10), styles={"color": "#555", "font-size": "12px"})
        # Fixed-size views give their columns a width and no sizing mode: Bokeh's "fixed" also wants a
        # height, which these columns cannot know before their plot is drawn (validation warning W-1005).
        sizing = "stretch_width" if self.stretch else None
        self.body = pn.Column(self.message, sizing_mode=sizing, width=None if self.stretch else 420)
        header = f"#### {self.title}" + (f"\n<small>{self.description}</small>" if self.description else "")
        self.layout = pn.Column(
            pn.pane.Markdown(header, margin=(0, 10)),
            self.caption,
            self.body,
            sizing_mode=sizing,
            width=None if self.stretch else 420,
        )
        self.fan_out.subscribe(self.rebuild_on, self._rebuild)
        if self.decorations_on:
            self.fan_out.subscribe(self.decorations_on, self._redecorate)
        self.fan_out.subscribe(("view.plot_format",), self._set_backend)
        self.add_controls()
        self._rebuild()

    def add_controls(self) -> None:
        """Add what the view shows besides its plot (a job button, a choice), before its first drawing."""

    # ------------------------------------------------------------------ decorations (Bokeh)

    @property
    def decoration_hook(self) -> Callable[[Any, Any], None]:
        """The HoloViews hook (``hooks=[self.decoration_hook]``) that calls ``decorate_plot``, holding this view weakly.

        Why weakly: HoloViews keeps an element's options, hooks included, in a process-wide registry
        (``Store._custom_options``) until the element is garbage collected. A hook bound to the view that
        holds the element kept both alive for good, and with them the page's state, plots and Bokeh
        models: no closed page was ever freed (tests/load/test_sessions.py counts them).
        """
        method = weakref.WeakMethod(self.decorate_plot)

        def hook(plot: Any, element: Any) -> None:
            bound = method()
            if bound is not None:
                bound(plot, element)

        return hook

    def decorate_plot(self, plot: Any, element: Any) -> None:
        """Decorate each rendered figure once, then keep it in step with the state."""
        key = id(plot.state)
        if key in self._decorated:
            return
        # HoloViews asks for WebGL by default; there (SwiftShader in headless Chromium at least) the
        # selection bands were drawn cut short. These plots are small enough for the 2D canvas; SVG when the
        # user wants the save tool to write SVG.
        plot.state.output_backend = self._backend()
        name_saved_files(plot.state, self.title)
        handles = {"figure": plot.state, **(self.decorate(plot) or {})}
        self._decorated[key] = handles
        self._apply(handles, set(self.decorations_on))

    def _backend(self) -> str:
        return "svg" if self.state.view.plot_format == "svg" else "canvas"

    def _set_backend(self, _changed: set[str]) -> None:
        """Draw the plot again, as new figures, with the backend the save tool exports from (canvas: PNG, svg: SVG).

        Why not change ``output_backend`` in place: BokehJS reads it once, when it builds a figure's view and
        canvas; a later change only repaints on the same canvas, so the save tool kept writing PNG.
        """
        backend = self._backend()
        if any(handles["figure"].output_backend != backend for handles in self._decorated.values()):
            self._rebuild()

    def decorate(self, plot: Any) -> dict[str, Any]:
        """Add annotations to a freshly rendered figure; return what ``update_decorations`` needs."""
        return {}

    def update_decorations(self, handles: dict[str, Any], changed: set[str]) -> None:
        """Bring one figure's annotations in line with the state."""

    def decorations(self) -> list[dict[str, Any]]:
        """The decoration handles of every figure this view has rendered (tests look here)."""
        return list(self._decorated.values())

    def _redecorate(self, changed: set[str]) -> None:
        for key, handles in list(self._decorated.items()):
            if handles["figure"].document is None:  # a figure no page shows any more
                del self._decorated[key]
                continue
            self._apply(handles, changed)

    def _apply(self, handles: dict[str, Any], changed: set[str]) -> None:
        if not self.has_content():
            return
        try:
            self.update_decorations(handles, changed)
        except Exception:  # one broken figure must not stop the others; the log says which and why
            logger.warning("could not update %s decorations", type(self).__name__, exc_info=True)

    # ------------------------------------------------------------------ lifecycle

    def has_content(self) -> bool:
        """Whether there is something to draw: by default, an answer on show."""
        return self.state.result.explanation is not None

    def empty_text(self) -> str:
        """What the view says while it has nothing to draw."""
        return self.empty_message

    def _rebuild(self, *_events: Any) -> None:
        self.release_drawing()
        self._elements = {}
        self._decorated = {}
        self.caption.object = ""
        if not self.has_content():
            self.pane.object = None
            self.message.object = self.empty_text()
            self.body.objects = [self.message]
            return
        try:
            self.pane.object = self.build()
        except Exception as error:  # a view that cannot draw must not take the session down
            logger.exception("%s could not be drawn", type(self).__name__)
            self.pane.object = None
            self.message.object = f"This view could not be drawn ({type(error).__name__}); the server log has details."
            self.body.objects = [self.message]
            return
        if self.body.objects != [self.pane]:
            self.body.objects = [self.pane]
        else:  # the same child: send it again anyway, in case the page missed the change that put it there
            self.body.param.trigger("objects")

    def build(self) -> Any:
        raise NotImplementedError

    def __panel__(self) -> pn.viewable.Viewable:
        return self.layout

    def set_width(self, width: int) -> None:
        """Width of a fixed-size view's column (so it sits beside others in a wrapping row)."""
        self.layout.width = self.body.width = width

    def set_caption(self, *parts: str) -> None:
        """The caption line: ``parts`` are escaped and joined with `` · `` (the first in bold)."""
        if not parts:
            self.caption.object = ""
            return
        first, *rest = (html.escape(part) for part in parts)
        self.caption.object = " · ".join([f"<b>{first}</b>", *rest])


class TokenBarsView(PlotView):
    """One bar per token of the window (position on x), the answer boxed, the shared selection shown.

    Subclasses give ``bars(**values)`` (the bars for the current values of ``data_on``) and
    ``axis_options()``; taps and box selects on the bars select those tokens everywhere.
    """

    data_on: tuple[str, ...] = ()
    """State parameters the bars depend on (paths)."""

    def build(self) -> Any:
        self.bars = self.dynamic(self.bars_for, *self.data_on) if self.data_on else self.bars_for()
        self.selection = hv.streams.Selection1D(source=self.bars)
        self.selection.add_subscriber(self._on_select)
        return self.bars.opts(**self.axis_options(), hooks=[self.decoration_hook])

    def bars_for(self, **values: Any) -> hv.Rectangles:
        raise NotImplementedError

    def axis_options(self) -> dict[str, Any]:
        return position_axis_opts(self.state)

    def decorate(self, plot: Any) -> dict[str, Any]:
        label_token_axes(plot, self.state, hover_fields=("@position",), pixels_per_label=11)
        add_answer_box(plot.state, self.state.result.answer_positions())
        return {"source": plot.handles["source"]}

    def update_decorations(self, handles: dict[str, Any], changed: set[str]) -> None:
        set_selected(handles["source"], self.state.selection.positions())

    def _on_select(self, index: list[int]) -> None:
        self.state.select(index)


def scaled(values: np.ndarray) -> tuple[np.ndarray, float]:
    """``values`` divided by their largest |value| (unchanged when all are 0), and that largest |value|."""
    values = np.asarray(values, dtype=np.float64)
    peak = float(np.abs(values).max()) if len(values) else 0.0
    return (values / peak if peak > 0 else values), peak


__all__ = ["PlotView", "TokenBarsView", "scaled"]
