"""What the views share: colours, the token-position axis, token bars and a base class.

Every token plot is keyed by token POSITION on a numeric axis (HoloViews' HeatMap keeps only the
first value for duplicate keys, and ``the`` or ``[SEP]`` occur many times); the token's text is
printed on the axis by a JavaScript tick formatter (labels thin out when zoomed out and all show
when zoomed in) and in every hover.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
import param
from bokeh.models import (
    BasicTicker,
    BoxAnnotation,
    ColumnDataSource,
    CustomJSHover,
    CustomJSTickFormatter,
    HoverTool,
    LinearAxis,
)

from dashboard.state import ExplorerState

logger = logging.getLogger(__name__)

if "bokeh" not in hv.Store.renderers:
    import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend and its options)
hv.Store.set_current_backend("bokeh")

ROLE_COLORS = {"question": "#8c6bb1", "context": "#4c78a8", "special": "#a0a0a0"}
ANSWER_COLOR = "#2ca02c"
SELECTION_COLOR = "#ff7f0e"
POSITIVE_COLOR = "#d6604d"
NEGATIVE_COLOR = "#4393c3"
ATTENTION_CMAP = "Blues"
SALIENCY_CMAP = "RdBu_r"
TOOLS = ["hover", "tap", "box_select"]
BAR_HEIGHT = 220

_TICK_CODE = """
const i = Math.round(tick);
if (Math.abs(tick - i) > 1e-6 || i < 0 || i >= labels.length) { return ""; }
return labels[i];
"""

_HOVER_CODE = """
const i = Math.round(value);
return (i >= 0 && i < labels.length) ? labels[i] + "   #" + i + " · " + roles[i] : "";
"""


def label_token_axes(
    plot: Any,
    state: ExplorerState,
    axes: Sequence[str] = ("x",),
    hover_fields: Sequence[str] = (),
    right_axis: bool = False,
    pixels_per_label: int = 14,
) -> None:
    """Print token labels on a HoloViews plot's position axes, and in hover fields holding positions.

    ``hover_fields`` (``"@position"``, ``"$x"``, ...) are shown as ``token  #position · role`` by a
    ``CustomJSHover`` in every hover tool of the figure: elements then carry no string columns,
    whose ranges HoloViews would recompute on every redraw. Fresh Bokeh models for each plot (a
    model belongs to one document, and an element may be shown in several notebook cells).
    Labels thin out when zoomed out (a ``BasicTicker`` with a minimum interval of one position)
    and all show when zoomed in.
    """
    labels = list(state.token_labels())
    roles = list(state.explanation.roles)
    figure = plot.state
    for name in axes:
        length = (figure.frame_height or figure.height) if name == "y" else (figure.frame_width or figure.width)
        desired = max(2, int((length or 400) / pixels_per_label))
        for axis in getattr(figure, f"{name}axis"):
            axis.ticker = BasicTicker(min_interval=1, num_minor_ticks=0, desired_num_ticks=desired)
            axis.formatter = CustomJSTickFormatter(args={"labels": labels}, code=_TICK_CODE)
            axis.major_label_text_font_size = "8pt"
    if right_axis:
        left = figure.yaxis[0]
        axis = LinearAxis(
            ticker=BasicTicker(min_interval=1, num_minor_ticks=0, desired_num_ticks=left.ticker.desired_num_ticks),
            formatter=CustomJSTickFormatter(args={"labels": labels}, code=_TICK_CODE),
            major_label_text_font_size="8pt",
        )
        figure.add_layout(axis, "right")
    if hover_fields:
        for tool in figure.toolbar.tools:
            if not isinstance(tool, HoverTool):
                continue
            formatters = dict(tool.formatters) if isinstance(tool.formatters, dict) else {}
            for field in hover_fields:
                formatters[field] = CustomJSHover(args={"labels": labels, "roles": roles}, code=_HOVER_CODE)
            tool.formatters = formatters


def add_strips(
    figure: Any,
    direction: str,
    across: tuple[float, float],
    color: str = SELECTION_COLOR,
    alpha: float = 0.2,
) -> ColumnDataSource:
    """Horizontal (``"h"``) or vertical (``"v"``) bands spanning ``across`` on the other axis.

    Quads with explicit extents; the bands' own extents are set with ``set_strips``.
    """
    source = ColumnDataSource(data={"start": [], "end": []})
    low, high = across
    extents = (
        {"left": low, "right": high, "bottom": "start", "top": "end"}
        if direction == "h"
        else {"left": "start", "right": "end", "bottom": low, "top": high}
    )
    figure.quad(**extents, source=source, fill_color=color, fill_alpha=alpha, line_alpha=0, level="overlay")
    return source


def set_strips(source: ColumnDataSource, spans: Sequence[tuple[float, float]]) -> None:
    source.data = {"start": [float(a) for a, _ in spans], "end": [float(b) for _, b in spans]}


def token_spans(positions: Sequence[int]) -> list[tuple[float, float]]:
    """Runs of positions as ``(first - 0.5, last + 0.5)`` extents on a position axis."""
    return [(first - 0.5, last + 0.5) for first, last in runs(positions)]


def add_answer_box(figure: Any, positions: range, dimension: str = "x") -> BoxAnnotation:
    """A light green box behind the answer's tokens on a position axis."""
    extent = {"left": positions.start - 0.5, "right": positions.stop - 0.5}
    if dimension == "y":
        extent = {"bottom": positions.start - 0.5, "top": positions.stop - 0.5}
    box = BoxAnnotation(**extent, fill_color=ANSWER_COLOR, fill_alpha=0.12, line_alpha=0, level="underlay")
    figure.add_layout(box)
    return box


def set_selected(source: ColumnDataSource, indices: Sequence[int]) -> None:
    """Show ``indices`` as the glyphs' Bokeh selection (the rest fade), without a HoloViews redraw."""
    indices = [int(i) for i in indices]
    if list(source.selected.indices) != indices:
        source.selected.indices = indices


def runs(positions: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive positions as ``(first, last)`` runs: ``[1, 2, 3, 7] -> [(1, 3), (7, 7)]``."""
    result: list[tuple[int, int]] = []
    for position in sorted(set(int(p) for p in positions)):
        if result and position == result[-1][1] + 1:
            result[-1] = (result[-1][0], position)
        else:
            result.append((position, position))
    return result


def token_frame(state: ExplorerState) -> dict[str, np.ndarray]:
    """Per-token columns every bar chart carries for its hover: position, token, role, answer flag."""
    explanation = state.explanation
    count = explanation.num_tokens
    answer = np.zeros(count, dtype=bool)
    answer[list(state.answer_positions())] = True
    return {
        "position": np.arange(count),
        "token": np.array(state.token_labels(), dtype=object),
        "role": np.array(explanation.roles, dtype=object),
        "answer": answer,
    }


ROLE_PALETTE = [ROLE_COLORS["context"], ROLE_COLORS["question"], ROLE_COLORS["special"], ANSWER_COLOR]
"""Bar colours by ``role_codes``: context, question, special, answer."""
SIGN_PALETTE = [NEGATIVE_COLOR, POSITIVE_COLOR]
"""Bar colours by ``values >= 0``."""


def role_codes(state: ExplorerState) -> np.ndarray:
    """0 context, 1 question, 2 special, 3 answer: indices into ``ROLE_PALETTE``."""
    frame = token_frame(state)
    codes = np.select([frame["role"] == "question", frame["role"] == "special"], [1, 2], default=0)
    codes[frame["answer"]] = 3
    return codes


def token_bars(
    state: ExplorerState,
    values: np.ndarray,
    value_label: str,
    codes: np.ndarray | None = None,
    palette: Sequence[str] = ROLE_PALETTE,
    heights: np.ndarray | None = None,
) -> hv.Rectangles:
    """One bar per token position (bar ``i`` is token ``i``; selection indices are positions).

    Colours are integer ``codes`` into ``palette`` (default: by role, the answer green), mapped
    by a colour mapper in the browser: HoloViews checks every value of a column of colour
    *strings* in Python on each redraw, which costs more than the rest of the redraw.
    ``heights`` default to ``values``; pass normalised heights to keep a fixed y range while the
    hover shows the raw ``values`` (label the ``@position`` hover field with ``label_token_axes``).
    Selected bars are Bokeh's selected glyphs (``set_selected``), the others fade, so a selection
    made anywhere looks the same here as one made on this plot.
    """
    frame = token_frame(state)
    heights = values if heights is None else heights
    heights = np.nan_to_num(np.asarray(heights, dtype=np.float64))
    codes = role_codes(state) if codes is None else np.asarray(codes)
    data = {
        "x0": frame["position"] - 0.42,
        "y0": np.minimum(heights, 0.0),
        "x1": frame["position"] + 0.42,
        "y1": np.maximum(heights, 0.0),
        "value": np.asarray(values, dtype=np.float64),
        "position": frame["position"],
        "kind": codes.astype(np.float64),
    }
    vdims = ["value", "position", "kind"]
    bars = hv.Rectangles(data, kdims=[hv.Dimension("x0", label="token"), "y0", "x1", "y1"], vdims=vdims)
    return bars.opts(
        color="kind",
        cmap=list(palette),
        color_levels=len(palette),
        clim=(-0.5, len(palette) - 0.5),
        colorbar=False,
        line_alpha=0,
        selection_line_color="black",
        selection_line_alpha=1,
        selection_line_width=1,
        nonselection_alpha=0.22,
        tools=TOOLS,
        active_tools=["box_select"],
        hover_tooltips=[("token", "@position{custom}"), (value_label, "@value{0.0000}")],
    )


def position_axis_opts(state: ExplorerState, height: int = BAR_HEIGHT, **extra: Any) -> dict[str, Any]:
    """Options for a chart whose x axis is token position."""
    count = state.num_tokens
    return {
        "height": height,
        "responsive": True,
        "xlim": (-0.5, count - 0.5),
        "xlabel": "token",
        "xrotation": 90,
        "show_grid": False,
        "toolbar": "right",
        "default_tools": ["pan", "wheel_zoom", "reset", "save"],
        **extra,
    }


@contextmanager
def batched_model_updates(document: Any) -> Iterator[None]:
    """Hold a Bokeh document's model graph while several plots update; walk it once, if at all.

    Bokeh re-walks every model of the document when the outermost ``models.freeze()`` ends (0.1 s
    for this page), and HoloViews freezes around each plot update. Inside this block the graph
    stays frozen, and at the end it is walked only if some property that holds other models
    changed (Bokeh calls ``models.invalidate()`` for exactly those changes): swapping an attention
    map, bars or a title attaches no new models, so a head switch skips the walk entirely.
    """
    models = getattr(document, "models", None)
    if models is None or not hasattr(models, "_push_freeze") or not hasattr(models, "_freeze_count"):
        yield
        return
    dirty = False
    invalidate = models.invalidate

    def record_invalidation() -> None:
        nonlocal dirty
        dirty = True
        invalidate()

    models.invalidate = record_invalidation
    models._push_freeze()
    try:
        yield
    finally:
        del models.invalidate
        if dirty or models._freeze_count != 1:
            models._pop_freeze()
        else:
            models._freeze_count = 0  # nothing attached or detached: the walk would change nothing


class StateFanOut:
    """One watcher on the state for all views, running their updates inside one Bokeh model freeze.

    Why: HoloViews wraps every plot update in ``Document.models.freeze()``, and Bokeh walks the
    whole document's model graph when the outermost freeze ends (~0.1 s for this page). A head
    switch updates several plots; ``batched_model_updates`` around all of them pays that walk at
    most once. ``ExplorerState`` stays Panel-free: the fan-out lives here, attached to the state
    object it serves (``StateFanOut.of(state)``).
    """

    def __init__(self, state: ExplorerState) -> None:
        self.state = state
        self._subscribers: dict[int, tuple[frozenset[str], Callable[[set[str]], None]]] = {}
        self._next = 0
        self._watcher: Any = None
        self._names: frozenset[str] = frozenset()

    @classmethod
    def of(cls, state: ExplorerState) -> StateFanOut:
        fan_out = state.__dict__.get("_view_fan_out")
        if fan_out is None:
            fan_out = cls(state)
            state.__dict__["_view_fan_out"] = fan_out
        return fan_out

    def subscribe(self, names: Sequence[str], callback: Callable[[set[str]], None]) -> int:
        """Call ``callback(changed_names)`` when any of ``names`` change; returns a token."""
        self._next += 1
        self._subscribers[self._next] = (frozenset(names), callback)
        wanted = self._names | frozenset(names)
        if wanted != self._names:
            if self._watcher is not None:
                self.state.param.unwatch(self._watcher)
            self._names = wanted
            self._watcher = self.state.param.watch(self._on_change, sorted(wanted))
        return self._next

    def unsubscribe(self, token: int) -> None:
        self._subscribers.pop(token, None)

    def _on_change(self, *events: param.parameterized.Event) -> None:
        """Dispatch now if this thread may edit the page's Bokeh models, else on the document's next tick.

        A selection made in a plot arrives through a HoloViews stream, which HoloViews triggers from
        a task that does not hold the Bokeh document lock; editing annotations there raises in Bokeh
        (and a tap would change the text but not the other plots). ``pn.state.execute`` runs the
        dispatch at once on the session's own thread and loop, else as a next-tick callback; the
        dispatch itself runs under ``pn.io.unlocked``, which collects the model changes and writes them
        to the session's websocket whether or not the lock is held, as Panel does for its own widgets.
        Without a server session (notebooks, tests) both are plain calls.
        """
        changed = {event.name for event in events}
        pn.state.execute(partial(self._dispatch, changed), schedule="auto")

    def _dispatch(self, changed: set[str]) -> None:
        document = pn.state.curdoc
        began = time.perf_counter()
        with pn.io.unlocked(), batched_model_updates(document):
            for names, callback in list(self._subscribers.values()):
                if changed & names:
                    callback(changed)
        logger.debug("views updated for %s in %.0f ms", sorted(changed), (time.perf_counter() - began) * 1000)


class PlotView(pn.viewable.Viewer):
    """A view of one plot: rebuilt when a new answer arrives, updated in place otherwise.

    Two kinds of update keep interactions cheap:

    - data (a new attention map, other bars): HoloViews ``DynamicMap``s on ``self.watch(...)``
      streams, redrawn through the state's fan-out;
    - decorations (the selection, the answer, the current head): Bokeh annotations and glyph
      selections that ``decorate`` adds to each rendered figure once and ``update_decorations``
      changes in place, with no HoloViews redraw at all.

    Subclasses implement ``build`` and, for decorations, ``decorate`` / ``update_decorations``
    with ``decorations_on`` naming the state parameters they follow.
    """

    state = param.ClassSelector(class_=ExplorerState, doc="The shared dashboard state this view reads and writes.")

    title: str = ""
    description: str = ""
    rebuild_on: tuple[str, ...] = ("result_id",)
    decorations_on: tuple[str, ...] = ("selected_tokens",)
    empty_message = "Run a question to see this view."
    stretch: bool = True
    """Stretch the plot to the page width (bar charts); fixed-size plots (square maps) set False:
    stretching a figure that has a fixed frame squeezes it, and Bokeh then repaints it only in part."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._subscriptions: list[int] = []
        self._elements: dict[Any, Any] = {}
        self._decorated: dict[int, dict[str, Any]] = {}
        self._fan_out = StateFanOut.of(self.state)
        self.pane = pn.pane.HoloViews(None, linked_axes=False, sizing_mode="stretch_width" if self.stretch else "fixed")
        self.message = pn.pane.Markdown(self.empty_message, styles={"color": "#777"})
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
        self._fan_out.subscribe(self.rebuild_on, self._rebuild)
        if self.decorations_on:
            self._fan_out.subscribe(self.decorations_on, self._redecorate)
        self._rebuild()

    # ------------------------------------------------------------------ data (HoloViews)

    def watch(self, *names: str) -> hv.streams.Params:
        """A stream on state parameters, fired through the fan-out until this view rebuilds."""
        stream = hv.streams.Params(self.state, list(names), watch=False)
        self._subscriptions.append(self._fan_out.subscribe(names, lambda _changed: stream.event()))
        return stream

    def dynamic(self, callback: Callable[..., Any], *names: str) -> hv.DynamicMap:
        """A DynamicMap redrawn when the named state parameters change (keeps one frame only)."""
        return hv.DynamicMap(callback, streams=[self.watch(*names)], cache_size=1)

    def follow(self, names: Sequence[str], callback: Callable[[], None]) -> None:
        """Call ``callback()`` now and whenever the named state parameters change, until a rebuild."""
        self._subscriptions.append(self._fan_out.subscribe(names, lambda _changed: callback()))
        callback()

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        """An element made once per build and key."""
        if key not in self._elements:
            if len(self._elements) >= 32:
                self._elements.clear()
            self._elements[key] = make()
        return self._elements[key]

    # ------------------------------------------------------------------ decorations (Bokeh)

    def decoration_hook(self, plot: Any, element: Any) -> None:
        """HoloViews hook: decorate each rendered figure once, then keep it in step with the state."""
        key = id(plot.state)
        if key in self._decorated:
            return
        # HoloViews asks for WebGL by default; there (SwiftShader in headless Chromium at least) the
        # selection bands were drawn cut short. These plots are small enough for the 2D canvas.
        plot.state.output_backend = "canvas"
        handles = {"figure": plot.state, **(self.decorate(plot) or {})}
        self._decorated[key] = handles
        self._apply(handles, set(self.decorations_on))

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
        if self.state.explanation is None:
            return
        try:
            self.update_decorations(handles, changed)
        except Exception:  # one broken figure must not stop the others; the log says which and why
            logger.warning("could not update %s decorations", type(self).__name__, exc_info=True)

    # ------------------------------------------------------------------ lifecycle

    def _rebuild(self, *_events: Any) -> None:
        for token in self._subscriptions:
            self._fan_out.unsubscribe(token)
        self._subscriptions = []
        self._elements = {}
        self._decorated = {}
        self.caption.object = ""
        if self.state.explanation is None:
            self.pane.object = None
            self.message.object = self.empty_message
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

    def build(self) -> Any:
        raise NotImplementedError

    def __panel__(self) -> pn.viewable.Viewable:
        return self.layout

    def set_width(self, width: int) -> None:
        """Width of a fixed-size view's column (so it sits beside others in a wrapping row)."""
        self.layout.width = self.body.width = width
