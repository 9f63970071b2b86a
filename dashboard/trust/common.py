"""What the trust views share: labels and colours per explainer, token labels, and a base view with a compute button.

Every trust view is a ``pn.viewable.Viewer`` over **plain data from core** (a
``core.FaithfulnessReport``, ``SanityReport``, ``LayerwiseReport`` or ``Comparison``) plus a
``selected_tokens`` (token positions of the explained window) or ``selected_words`` (indices of
``core.context_words``) parameter, so it works on its own in a notebook and can be linked to the
app's ``ExplorerState`` (``dashboard.trust.TrustPanel`` does that).

Heavy work (faithfulness, the sanity check, running other models) happens only when asked: the
view's button or ``view.compute()``, on the view's ``runner`` (inline by default; the app passes
its worker-thread runner so the page never freezes). Changing a parameter only re-slices data.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
import param
from bokeh.models import BasicTicker, CustomJSHover, CustomJSTickFormatter, HoverTool

import core
from dashboard.runners import Outcome, Runner, SyncRunner

logger = logging.getLogger(__name__)

if "bokeh" not in hv.Store.renderers:
    import holoviews.plotting.bokeh  # noqa: F401  (registers the Bokeh backend)
hv.Store.set_current_backend("bokeh")

EXPLAINER_LABELS: dict[str, str] = {
    "gradient": "gradient",
    "gradient_x_input": "gradient × input",
    "integrated_gradients": "integrated gradients",
    "attention_mean": "attention (mean of heads)",
    "attention_rollout": "attention rollout",
    "question_to_context": "question → context attention",
    "random": "random order",
}
EXPLAINER_COLORS: dict[str, str] = {
    "gradient": "#1f77b4",
    "gradient_x_input": "#ff7f0e",
    "integrated_gradients": "#2ca02c",
    "attention_mean": "#9467bd",
    "attention_rollout": "#8c564b",
    "question_to_context": "#e377c2",
    "random": "#555555",
}
EXTRA_COLORS = ("#17becf", "#bcbd22", "#7f7f7f", "#d62728")
ANSWER_COLOR = "#2ca02c"
SELECTION_COLOR = "#ff7f0e"
FLAG_COLOR = "#d62728"
POSITIVE_COLOR = "#d6604d"
NEGATIVE_COLOR = "#4393c3"
PLOT_HEIGHT = 320

_TICK_CODE = """
const i = Math.round(tick);
if (Math.abs(tick - i) > 1e-6 || i < 0 || i >= labels.length) { return ""; }
return labels[i];
"""
_HOVER_CODE = """
const i = Math.round(value);
return (i >= 0 && i < labels.length) ? labels[i] + "  (#" + i + ")" : "";
"""


def explainer_label(name: str) -> str:
    return EXPLAINER_LABELS.get(name, name)


def explainer_color(name: str, index: int = 0) -> str:
    return EXPLAINER_COLORS.get(name, EXTRA_COLORS[index % len(EXTRA_COLORS)])


def label_axis_hook(
    labels: Sequence[str], hover_fields: Sequence[str] = (), pixels_per_label: int = 11
) -> Callable[[Any, Any], None]:
    """A HoloViews hook printing ``labels[i]`` at integer ``i`` on the x axis (and in ``$x`` hover fields).

    Plots are keyed by position (a token, a word), never by string: ``the`` occurs many times. The
    labels thin out when zoomed out and all show when zoomed in. Fresh Bokeh models per plot, idempotent.
    """
    labels = [str(label) for label in labels]

    def hook(plot: Any, element: Any) -> None:
        figure = plot.state
        length = figure.frame_width or figure.width or 600
        for axis in figure.xaxis:
            if isinstance(axis.formatter, CustomJSTickFormatter):
                continue
            axis.ticker = BasicTicker(
                min_interval=1, num_minor_ticks=0, desired_num_ticks=max(2, int(length / pixels_per_label))
            )
            axis.formatter = CustomJSTickFormatter(args={"labels": labels}, code=_TICK_CODE)
            axis.major_label_text_font_size = "8pt"
        for tool in figure.select(type=HoverTool):
            formatters = dict(tool.formatters) if isinstance(tool.formatters, dict) else {}
            if all(isinstance(formatters.get(field), CustomJSHover) for field in hover_fields):
                continue
            for field in hover_fields:
                formatters[field] = CustomJSHover(args={"labels": labels}, code=_HOVER_CODE)
            tool.formatters = formatters

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


def short_name(model: str) -> str:
    """The last path component of a model id or directory."""
    return model.rstrip("/").split("/")[-1] or model


def clean_positions(positions: Sequence[int], count: int) -> list[int]:
    """Sorted unique positions in ``[0, count)``."""
    return sorted({int(p) for p in positions if 0 <= int(p) < count})


def same_example(a: core.Explanation | None, b: core.Explanation | None) -> bool:
    """Whether two explanations are of the same model, question, context and window (so results carry over)."""
    if a is None or b is None:
        return a is b
    return (a.model, a.question, a.context, a.window_index, a.tokens) == (
        b.model,
        b.question,
        b.context,
        b.window_index,
        b.tokens,
    )


class TrustView(pn.viewable.Viewer):
    """A view with a result computed on request (``compute()`` or its button), never on a parameter change.

    Subclasses set ``result_name`` (the parameter holding core's result) and ``button_label``, and
    implement ``work(inputs, progress)`` (runs core, returns the result); ``inputs()`` defaults to
    the explanation.
    """

    explanation = param.ClassSelector(
        class_=core.Explanation,
        default=None,
        allow_None=True,
        doc="The explanation the result is computed from (and whose tokens the plots are keyed by).",
    )
    selected_tokens = param.List(
        default=[], item_type=int, doc="Selected token positions of the explained window (shared with other views)."
    )
    runner = param.ClassSelector(
        class_=Runner,
        default=SyncRunner(),
        instantiate=False,
        precedence=-1,
        doc="Runs the computation: inline by default; the app passes a worker-thread runner.",
    )
    busy = param.Boolean(default=False, doc="The computation is running.")
    progress = param.Number(default=0.0, bounds=(0.0, 1.0), doc="Progress of the computation, 0 to 1.")
    status = param.String(default="", doc="What happened last (timing, number of forward passes).")
    error = param.String(default="", doc="Why the last computation failed; empty when fine.")

    result_name = "result"
    button_label = "Compute"
    empty_message = "Run a question first."

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._job = 0
        self.button = pn.widgets.Button(label=self.button_label, color="primary", width=220)
        self.button.on_click(lambda _event: self.compute())
        self.progress_bar = pn.indicators.Progress(value=0, max=100, width=220, visible=False)
        self.message = pn.pane.Markdown("", styles={"color": "#555"}, margin=(0, 10))
        self.param.watch(self._on_explanation, ["explanation"])
        self.param.watch(self._on_busy, ["busy", "progress", "status", "error"])
        self._on_busy()

    # ---------------------------------------------------------------- computing

    def work(self, inputs: Any, progress: Callable[[str, float], None]) -> Any:
        """Run core on ``inputs`` (see ``inputs()``) and return the result; may call ``progress(stage, fraction)``."""
        raise NotImplementedError

    def describe(self, result: Any) -> str:
        """One status line about a fresh result."""
        return ""

    def inputs(self) -> Any:
        """What ``work`` computes from (the explanation; ``None`` when there is nothing to compute yet)."""
        return self.explanation

    def is_current(self, inputs: Any) -> bool:
        """Whether a result computed from ``inputs`` still belongs on screen."""
        return same_example(inputs, self.explanation)

    def compute(self) -> None:
        """Compute the result for the current inputs on ``runner`` (inline: returns when done)."""
        inputs = self.inputs()
        if inputs is None:
            self.error = self.empty_message
            return
        self._job += 1
        job = self._job
        runner = self.runner
        self.param.update(busy=True, progress=0.0, error="", status="")

        def report(stage: str, fraction: float) -> None:
            runner.dispatch(partial(self._progress, job, fraction))

        runner.submit(partial(self.work, inputs, report), partial(self._done, job, inputs))

    def _progress(self, job: int, fraction: float) -> None:
        if job == self._job:
            self.progress = min(max(float(fraction), 0.0), 1.0)

    def _done(self, job: int, inputs: Any, outcome: Outcome) -> None:
        if job != self._job or not self.is_current(inputs):
            return
        if outcome.error is not None:
            error = outcome.error
            if not isinstance(error, (ValueError, KeyError, core.ModelLoadError)):
                logger.error("%s failed", type(self).__name__, exc_info=error)
            self.param.update(busy=False, error=f"{type(error).__name__}: {error}")
            return
        self.param.update(**{self.result_name: outcome.value})
        self.param.update(busy=False, progress=1.0, status=self.describe(outcome.value))

    def _on_explanation(self, event: param.parameterized.Event) -> None:
        if not same_example(event.old, event.new):
            self._job += 1  # a result still being computed is for the old example: drop it
            self.param.update(**{self.result_name: None}, busy=False, error="", status="", selected_tokens=[])

    def _on_busy(self, *_events: Any) -> None:
        self.button.disabled = self.busy
        self.progress_bar.visible = self.busy
        self.progress_bar.value = int(round(self.progress * 100))
        text = ""
        if self.error:
            text = f"<span style='color:#b00020'>{_escape(self.error)}</span>"
        elif self.busy:
            text = "Computing…"
        elif self.status:
            text = _escape(self.status)
        self.message.object = text

    def controls(self) -> pn.viewable.Viewable:
        return pn.Row(self.button, self.progress_bar, self.message, sizing_mode="stretch_width")


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


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


__all__ = [
    "ANSWER_COLOR",
    "EXPLAINER_COLORS",
    "EXPLAINER_LABELS",
    "FLAG_COLOR",
    "SELECTION_COLOR",
    "TrustView",
    "clean_positions",
    "explainer_color",
    "explainer_label",
    "label_axis_hook",
    "position_bars",
    "runs",
    "selection_bands",
    "same_example",
    "select_positions_between",
    "short_name",
]


def position_bars(
    positions: Sequence[int],
    values: np.ndarray,
    labels: Sequence[str],
    value_label: str,
    colors: Sequence[str] | None = None,
) -> hv.Rectangles:
    """One bar per token position, heights scaled to the largest |value| (the hover shows the raw value).

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
        tools=["hover", "tap", "box_select"],
        active_tools=["box_select"],
        hover_tooltips=[("token", "@token"), ("position", "@position"), (value_label, "@value{0.0000}")],
    )


def selection_bands(positions: Sequence[int]) -> hv.VSpans:
    """Bands behind the selected positions (runs of neighbours merged) on a position axis.

    Views draw the shared selection this way, as an overlay, rather than as Bokeh's selected glyphs:
    the bars that feed a ``Selection1D`` never change when the selection does (less data sent, and
    no server-side selection change that would echo back into the stream).
    """
    spans = [(first - 0.5, last + 0.5) for first, last in runs(positions)]
    return hv.VSpans(spans).opts(color=SELECTION_COLOR, alpha=0.25, line_alpha=0)
