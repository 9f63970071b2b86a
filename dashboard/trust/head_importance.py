"""Head importance beside the model view: which heads the answer needs, by masking them and by gradient.

One cell per layer x head, computed on request (``core.head_importance``: every head masked in turn,
batched, and the gradient estimate of the same drop from one backward pass, Michel et al., 2019).
The grid, its click (that layer and head everywhere) and the current head's outline are
``HeadGrid``'s, as in the model view beside it, so the two grids read together.
"""

from __future__ import annotations

from typing import Any

import holoviews as hv
import numpy as np
import panel as pn

from dashboard.escaping import html_text
from dashboard.labels import label
from dashboard.theme import ATTENTION_CMAP, SALIENCY_CMAP
from dashboard.views.head_grid import HeadGrid
from dashboard.views.job_button import JobButton
from dashboard.views.plot_view import PlotView


class HeadImportanceGrid(PlotView):
    """Layer x head grid of the answer's dependence on each head; a click looks at that head everywhere."""

    title = "Head importance"
    description = "How much the answer's probability drops when each head is masked (or its gradient estimate)."
    stretch = False
    rebuild_on = ("result.result_id", "trust.heads.report", "trust.heads.measure")
    decorations_on = ("view.layer", "view.head")
    empty_message = "Run a question to see this view."

    def add_controls(self) -> None:
        heads = self.state.trust.heads
        self.job_button = JobButton(
            **self.wiring,
            job_name="heads",
            label="Compute head importance",
            action=heads.compute,
            running_text="Masking heads…",
            needs_answer=True,
            button_width=240,
        )
        self.compute_button = self.job_button.button
        self.measure = pn.widgets.RadioButtonGroup.from_param(heads.param.measure, color="default")
        self.layout.insert(2, pn.Row(self.job_button, self.measure))
        self.on(("trust.heads.report",), self._show_choices)
        self._show_choices()

    def _show_choices(self) -> None:
        """The button until there is a result, then the choice of measure."""
        computed = self.state.trust.heads.report is not None
        self.compute_button.visible = not computed
        self.measure.visible = computed

    def build(self) -> Any:
        heads = self.state.trust.heads
        report = heads.report
        if report is None:
            return hv.Overlay([hv.Text(0, 0, "Press the button: every head is masked in turn (a few seconds)")]).opts(
                xaxis=None, yaxis=None, frame_width=300, frame_height=120, toolbar=None
            )
        values = heads.grid()
        self.grid = HeadGrid(self.state, *values.shape)
        peak = float(np.abs(values).max()) or 1.0
        signed = heads.measure == "ablation"
        importance = hv.Dimension("importance", range=(-peak, peak) if signed else (0, peak))
        image = self.grid.image(values, vdims=[importance])
        self.tap = self.grid.listen(image)
        cell = self.grid.cell_pixels(420, 28, 60)
        self.set_width(cell * self.grid.heads + 140)
        rho = report.spearman
        measure = html_text(label(heads.measure))
        self.caption.object = (
            f"<b>{measure}</b> · answer probability {report.probability:.3g} · ablation and gradient "
            f"agree with Spearman ρ {rho:.2f} · {report.seconds.get('total', 0.0):.1f} s"
            if np.isfinite(rho)
            else f"<b>{measure}</b> · answer probability {report.probability:.3g}"
        )
        return image.opts(
            cmap=SALIENCY_CMAP if signed else ATTENTION_CMAP,
            colorbar=True,
            **self.grid.frame_options(cell),
            **self.grid.axis_options(),
            tools=["hover", "tap"],
            hover_tooltips=[("importance", "@image{0.0000}")],
            default_tools=["save"],
            title="",
            hooks=[self.decoration_hook],
        )

    def decorate(self, plot: Any) -> dict[str, Any]:
        if self.state.trust.heads.report is None:
            return {}
        return {"current": self.grid.add_outline(plot.state)}

    def update_decorations(self, handles: dict[str, Any], changed: set[str]) -> None:
        if "current" in handles:
            self.grid.move_outline(handles["current"])


__all__ = ["HeadImportanceGrid"]
