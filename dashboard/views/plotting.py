"""What every plot shares: the token-position axis, token bars, selection bands and strips, saved-file names.

Every token plot is keyed by token POSITION on a numeric axis (HoloViews' HeatMap keeps only the
first value for duplicate keys, and ``the`` or ``[SEP]`` occur many times); the token's text is
printed on the axis by a JavaScript tick formatter (labels thin out when zoomed out and all show
when zoomed in) and in every hover. The pages' views and the offline export (``dashboard.export``) draw with these.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import holoviews as hv
import numpy as np
from bokeh.models import (
    BasicTicker,
    BoxAnnotation,
    ColumnDataSource,
    CustomJSHover,
    CustomJSTickFormatter,
    HoverTool,
    LinearAxis,
    SaveTool,
)

from dashboard.state import ExplorerState
from dashboard.theme import ANSWER_COLOR, NEGATIVE_COLOR, POSITIVE_COLOR, ROLE_PALETTE, SELECTION_COLOR

if "bokeh" not in hv.Store.renderers:
    import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend and its options)
hv.Store.set_current_backend("bokeh")

TOOLS = ["hover", "tap", "box_select"]
BAR_HEIGHT = 220
PLOT_HEIGHT = 320
DEFAULT_TOOLS = ["pan", "wheel_zoom", "reset", "save"]

_TICK_CODE = """
const i = Math.round(tick);
if (Math.abs(tick - i) > 1e-6 || i < 0 || i >= labels.length) { return ""; }
return labels[i];
"""

_HOVER_CODE = """
const i = Math.round(value);
if (i < 0 || i >= labels.length) { return ""; }
return labels[i] + "   #" + i + (roles.length ? " · " + roles[i] : "");
"""


def _ticker(desired: int) -> BasicTicker:
    return BasicTicker(min_interval=1, num_minor_ticks=0, desired_num_ticks=max(2, desired))


def name_saved_files(figure: Any, title: str) -> None:
    """Give the figure's save tool a file name (``qa-lens-attention``): without one, Bokeh asks for it in a
    prompt, which a browser may block."""
    stem = "-".join("".join(ch if ch.isalnum() else " " for ch in title.lower()).split()) or "plot"
    for tool in figure.toolbar.tools:
        if isinstance(tool, SaveTool):
            tool.filename = f"qa-lens-{stem}"


def label_positions(
    figure: Any,
    labels: Sequence[str],
    axes: Sequence[str] = ("x",),
    hover_fields: Sequence[str] = (),
    roles: Sequence[str] = (),
    right_axis: bool = False,
    pixels_per_label: int = 14,
) -> None:
    """Print ``labels[i]`` at integer position ``i`` on a Bokeh figure's axes, and in hover fields.

    ``hover_fields`` (``"@position"``, ``"$x"``, ...) show as ``label  #position · role`` through a
    ``CustomJSHover``: elements then carry no string columns, whose ranges HoloViews would recompute
    on every redraw. Fresh Bokeh models for each figure (a model belongs to one document).
    """
    labels = [str(text) for text in labels]
    roles = [str(role) for role in roles]
    for name in axes:
        length = (figure.frame_height or figure.height) if name == "y" else (figure.frame_width or figure.width)
        desired = int((length or 400) / pixels_per_label)
        for axis in getattr(figure, f"{name}axis"):
            axis.ticker = _ticker(desired)
            axis.formatter = CustomJSTickFormatter(args={"labels": labels}, code=_TICK_CODE)
            axis.major_label_text_font_size = "8pt"
    if right_axis:
        left = figure.yaxis[0]
        figure.add_layout(
            LinearAxis(
                ticker=_ticker(left.ticker.desired_num_ticks),
                formatter=CustomJSTickFormatter(args={"labels": labels}, code=_TICK_CODE),
                major_label_text_font_size="8pt",
            ),
            "right",
        )
    for tool in figure.select(type=HoverTool):
        formatters = dict(tool.formatters) if isinstance(tool.formatters, dict) else {}
        for field in hover_fields:
            formatters[field] = CustomJSHover(args={"labels": labels, "roles": roles}, code=_HOVER_CODE)
        tool.formatters = formatters


def label_token_axes(
    plot: Any,
    state: ExplorerState,
    axes: Sequence[str] = ("x",),
    hover_fields: Sequence[str] = (),
    right_axis: bool = False,
    pixels_per_label: int = 14,
) -> None:
    """``label_positions`` with the explanation's token labels and roles, on a rendered HoloViews plot."""
    label_positions(
        plot.state,
        state.result.token_labels(),
        axes=axes,
        hover_fields=hover_fields,
        roles=state.result.require().roles,
        right_axis=right_axis,
        pixels_per_label=pixels_per_label,
    )


def label_axis_hook(
    labels: Sequence[str], hover_fields: Sequence[str] = (), pixels_per_label: int = 11
) -> Callable[[Any, Any], None]:
    """A HoloViews hook printing ``labels[i]`` at integer ``i`` on the x axis (and in ``hover_fields``)."""
    labels = list(labels)

    def hook(plot: Any, element: Any) -> None:
        figure = plot.state
        if any(isinstance(axis.formatter, CustomJSTickFormatter) for axis in figure.xaxis):
            return  # already labelled: hooks run on every redraw
        label_positions(figure, labels, hover_fields=hover_fields, pixels_per_label=pixels_per_label)

    return hook


def runs(positions: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive positions as ``(first, last)`` runs: ``[1, 2, 3, 7] -> [(1, 3), (7, 7)]``."""
    result: list[tuple[int, int]] = []
    for position in sorted({int(p) for p in positions}):
        if result and position == result[-1][1] + 1:
            result[-1] = (result[-1][0], position)
        else:
            result.append((position, position))
    return result


def token_spans(positions: Sequence[int]) -> list[tuple[float, float]]:
    """Runs of positions as ``(first - 0.5, last + 0.5)`` extents on a position axis."""
    return [(first - 0.5, last + 0.5) for first, last in runs(positions)]


def clean_positions(positions: Sequence[int], count: int) -> list[int]:
    """Sorted unique positions in ``[0, count)``."""
    return sorted({int(p) for p in positions if 0 <= int(p) < count})


def select_positions_between(low: float, high: float, positions: Sequence[int]) -> list[int]:
    """The positions whose value lies in ``[low, high]``, or the nearest one when none does (a box inside a cell)."""
    low, high = sorted((float(low), float(high)))
    array = np.asarray(list(positions), dtype=np.float64)
    if array.size == 0:
        return []
    inside = [int(p) for p in array[(array >= low) & (array <= high)]]
    if inside:
        return inside
    centre = (low + high) / 2
    return [int(array[int(np.argmin(np.abs(array - centre)))])]


def add_strips(
    figure: Any, direction: str, across: tuple[float, float], color: str = SELECTION_COLOR, alpha: float = 0.2
) -> ColumnDataSource:
    """Horizontal (``"h"``) or vertical (``"v"``) bands spanning ``across`` on the other axis (see ``set_strips``)."""
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


def selection_bands(positions: Sequence[int]) -> hv.VSpans:
    """Bands behind the selected positions (runs of neighbours merged), as an overlay on a position axis."""
    return hv.VSpans(token_spans(positions)).opts(color=SELECTION_COLOR, alpha=0.25, line_alpha=0)


def role_codes(state: ExplorerState) -> np.ndarray:
    """0 context, 1 question, 2 special, 3 answer: indices into ``ROLE_PALETTE``."""
    roles = np.asarray(state.result.require().roles)
    codes = np.select([roles == "question", roles == "special"], [1, 2], default=0)
    codes[list(state.result.answer_positions())] = 3
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

    Colours are integer ``codes`` into ``palette`` (default: by role, the answer green), mapped by a
    colour mapper in the browser: HoloViews checks every value of a column of colour *strings* in
    Python on each redraw, which costs more than the rest of the redraw. ``heights`` default to
    ``values``; pass normalised heights to keep a fixed y range while the hover shows raw ``values``.
    """
    count = state.result.num_tokens
    position = np.arange(count)
    heights = np.nan_to_num(np.asarray(values if heights is None else heights, dtype=np.float64))
    codes = role_codes(state) if codes is None else np.asarray(codes)
    data = {
        "x0": position - 0.42,
        "y0": np.minimum(heights, 0.0),
        "x1": position + 0.42,
        "y1": np.maximum(heights, 0.0),
        "value": np.asarray(values, dtype=np.float64),
        "position": position,
        "kind": codes.astype(np.float64),
    }
    bars = hv.Rectangles(data, kdims=[hv.Dimension("x0", label="token"), "y0", "x1", "y1"], vdims=list(data)[4:])
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


def position_bars(
    positions: Sequence[int],
    values: np.ndarray,
    labels: Sequence[str],
    value_label: str,
    colors: Sequence[str] | None = None,
) -> hv.Rectangles:
    """Bars at the given token positions, scaled to the largest |value| (the hover shows the raw value).

    Row ``i`` of the element is ``positions[i]``: a ``Selection1D`` index maps back through ``positions``.
    """
    positions = np.asarray(list(positions), dtype=np.int64)
    values = np.nan_to_num(np.asarray(values, dtype=np.float64))
    peak = float(np.abs(values).max()) if values.size else 0.0
    heights = values / peak if peak > 0 else values
    if colors is None:
        colors = np.where(values >= 0, POSITIVE_COLOR, NEGATIVE_COLOR)
    data = {
        "x0": positions - 0.42,
        "y0": np.minimum(heights, 0.0),
        "x1": positions + 0.42,
        "y1": np.maximum(heights, 0.0),
        "value": values,
        "position": positions,
        "token": np.array([labels[p] if 0 <= p < len(labels) else str(p) for p in positions], dtype=object),
        "color": np.asarray(list(colors), dtype=object),
    }
    bars = hv.Rectangles(data, kdims=["x0", "y0", "x1", "y1"], vdims=["value", "position", "token", "color"])
    return bars.opts(
        color="color",
        line_alpha=0,
        selection_alpha=1.0,
        nonselection_alpha=1.0,
        tools=TOOLS,
        active_tools=["box_select"],
        hover_tooltips=[("token", "@token"), ("position", "@position"), (value_label, "@value{0.0000}")],
    )


def position_axis_opts(state: ExplorerState, height: int = BAR_HEIGHT, **extra: Any) -> dict[str, Any]:
    """Options for a chart whose x axis is token position."""
    return {
        "height": height,
        "responsive": True,
        "xlim": (-0.5, state.result.num_tokens - 0.5),
        "xlabel": "token",
        "xrotation": 90,
        "show_grid": False,
        "toolbar": "right",
        "default_tools": DEFAULT_TOOLS,
        **extra,
    }


__all__ = [
    "BAR_HEIGHT",
    "DEFAULT_TOOLS",
    "PLOT_HEIGHT",
    "TOOLS",
    "add_answer_box",
    "add_strips",
    "clean_positions",
    "label_axis_hook",
    "label_positions",
    "label_token_axes",
    "name_saved_files",
    "position_axis_opts",
    "position_bars",
    "role_codes",
    "runs",
    "select_positions_between",
    "selection_bands",
    "set_selected",
    "set_strips",
    "token_bars",
    "token_spans",
]
