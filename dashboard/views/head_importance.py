"""Head importance beside the model view: which heads the answer needs, by masking them and by gradient.

One cell per layer x head, computed on request (``core.head_importance``: every head masked in turn,
batched, and the gradient estimate of the same drop from one backward pass, Michel et al., 2019).
Clicking a cell selects that layer and head everywhere; the current head is outlined, as in the model
view, so the two grids read together.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
import panel as pn
from bokeh.models import BoxAnnotation

from dashboard.escaping import html_text
from dashboard.labels import label
from dashboard.theme import ATTENTION_CMAP, SALIENCY_CMAP, SELECTION_COLOR
from dashboard.views.base import PlotView


class HeadImportanceGrid(PlotView):
    """Layer x head grid of the answer's dependence on each head; a click looks at that head everywhere."""

    title = "Head importance"
    description = "How much the answer's probability drops when each head is masked (or its gradient estimate)."
    stretch = False
    rebuild_on = ("result.result_id", "trust.heads.report", "trust.heads.measure")
    decorations_on = ("view.layer", "view.head")
    empty_message = "Run a question to see this view."

    def __init__(self, **params: Any) -> None:
        self.compute_button = pn.widgets.Button(label="Compute head importance", color="primary", width=240)
        super().__init__(**params)
        self.compute_button.on_click(lambda _event: self.state.trust.heads.compute())
        self.measure = pn.widgets.RadioButtonGroup.from_param(self.state.trust.heads.param.measure, color="default")
        self.layout.insert(2, pn.Row(self.compute_button, self.measure))
        self.state.jobs.heads.param.watch(self._on_job, ["running", "progress", "error"])
        self._on_job()

    def _on_job(self, *_events: Any) -> None:
        job, report = self.state.jobs.heads, self.state.trust.heads.report
        self.compute_button.disabled = job.running or self.state.result.explanation is None
        self.compute_button.visible = report is None
        self.measure.visible = report is not None
        if job.error:
            self.caption.object = f"<span style='color:#b00020'>{html_text(job.error)}</span>"
        elif job.running:
            self.caption.object = f"masking heads… {job.progress:.0%}"

    def build(self) -> Any:
        heads = self.state.trust.heads
        report = heads.report
        self._on_job()
        if report is None:
            return hv.Overlay([hv.Text(0, 0, "Press the button: every head is masked in turn (a few seconds)")]).opts(
                xaxis=None, yaxis=None, frame_width=300, frame_height=120, toolbar=None
            )
        values = heads.grid()
        layers, count = values.shape
        self.layers, self.heads = layers, count
        peak = float(np.abs(values).max()) or 1.0
        signed = heads.measure == "ablation"
        image = hv.Image(
            np.flipud(values),
            bounds=(0, 0, count, layers),
            kdims=["head", "layer"],
            vdims=[hv.Dimension("importance", range=(-peak, peak) if signed else (0, peak))],
        )
        self.tap = hv.streams.Tap(source=image, transient=True)
        self.tap.add_subscriber(self._on_tap)
        cell = int(np.clip(420 / count, 28, 60))
        self.set_width(cell * count + 140)
        rho = report.spearman
        self.caption.object = (
            f"<b>{label(heads.measure)}</b> · answer probability {report.probability:.3g} · ablation and gradient "
            f"agree with Spearman ρ {rho:.2f} · {report.seconds.get('total', 0.0):.1f} s"
            if np.isfinite(rho)
            else f"<b>{label(heads.measure)}</b> · answer probability {report.probability:.3g}"
        )
        return image.opts(
            cmap=SALIENCY_CMAP if signed else ATTENTION_CMAP,
            colorbar=True,
            frame_width=cell * count,
            frame_height=cell * layers,
            xticks=[(h + 0.5, str(h)) for h in range(count)],
            yticks=[(layers - layer - 0.5, str(layer)) for layer in range(layers)],
            xlabel="head",
            ylabel="layer",
            tools=["hover", "tap"],
            hover_tooltips=[("importance", "@image{0.0000}")],
            default_tools=["save"],
            title="",
            hooks=[self.decoration_hook],
        )

    def decorate(self, plot: Any) -> dict[str, Any]:
        if self.state.trust.heads.report is None:
            return {}
        current = BoxAnnotation(fill_alpha=0, line_color=SELECTION_COLOR, line_width=3, level="overlay")
        plot.state.add_layout(current)
        return {"current": current}

    def update_decorations(self, handles: dict[str, Any], changed: set[str]) -> None:
        if "current" not in handles:
            return
        top = float(self.layers - self.state.view.layer)
        head = self.state.view.head
        left, right = (0.0, float(self.heads)) if head in ("mean", "rollout") else (float(head), float(head) + 1)
        handles["current"].update(left=left, right=right, bottom=top - 1, top=top)

    def _on_tap(self, x: float | None, y: float | None) -> None:
        if x is None or y is None or self.state.trust.heads.report is None:
            return
        head, layer = int(np.floor(x)), self.layers - 1 - int(np.floor(y))
        if 0 <= head < self.heads and 0 <= layer < self.layers:
            self.state.update(layer=layer, head=head)


__all__ = ["HeadImportanceGrid"]
