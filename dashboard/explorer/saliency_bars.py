"""Saliency per token for the chosen method and target, as a bar chart.

Bars are scaled to the largest absolute value (the hover shows the raw score), so the y range stays
put while the target, the selection or the arrival of integrated gradients change the bars.
"""

from __future__ import annotations

import html
from typing import Any

import holoviews as hv
import numpy as np

from core.trust import SIGNED_METHODS
from dashboard.labels import label, method_and_target
from dashboard.state.result import saliency_peak, scaled_saliency
from dashboard.theme import SIGN_PALETTE
from dashboard.views.job_button import JobButton
from dashboard.views.plot_view import TokenBarsView
from dashboard.views.plotting import position_axis_opts, token_bars


class SaliencyBars(TokenBarsView):
    """Saliency of each token for the answer's start or end logit."""

    title = "Saliency"
    description = (
        "Red pushes the logit up, blue down; scaled to the largest |score| of the question and context (special "
        "tokens capped; see Settings). Green band: the answer."
    )
    rebuild_on = ("result.result_id", "view.method")
    data_on = ("view.target", "result.saliency_revision", "view.scale_without_special")

    def add_controls(self) -> None:
        self.job_button = JobButton(
            **self.wiring,
            job_name="saliency",
            action=self.state.compute_shown_saliency,
            needs_answer=True,
            color="default",
            variant="outline",
            button_width=320,
        )
        self.compute_button = self.job_button.button
        self.job_button.layout.visible = False
        self.layout.insert(2, self.job_button)

    def build(self) -> Any:
        self.follow(
            (
                "view.target",
                "view.method",
                "view.scale_without_special",
                "result.saliency_revision",
                "jobs.saliency.running",
            ),
            self._caption,
        )
        return super().build()

    def bars_for(self, target: str, saliency_revision: int, scale_without_special: bool) -> hv.Rectangles:
        values = self.state.saliency_values(self.state.view.method, target)
        values = np.zeros(self.state.result.num_tokens) if values is None else np.asarray(values, dtype=np.float64)
        heights, _peak = scaled_saliency(values, self.state.result.require().roles, scale_without_special)
        return token_bars(
            self.state, values, label(self.state.view.method), codes=values >= 0, palette=SIGN_PALETTE, heights=heights
        )

    def axis_options(self) -> dict[str, Any]:
        signed = self.state.view.method in SIGNED_METHODS
        return position_axis_opts(
            self.state, ylabel="share of largest |score|", ylim=(-1.08, 1.08) if signed else (0, 1.08)
        )

    def _caption(self) -> None:
        """The caption, and the job button while the map on show is missing (the progress, or the button)."""
        state = self.state
        what = method_and_target(state.view.method, state.view.target)
        if state.result.explanation is None:
            self.job_button.layout.visible = False
            self.set_caption()
            return
        values = state.saliency_values()
        job = state.jobs.saliency
        self.job_button.layout.visible = values is None
        self.compute_button.visible = values is None and not job.running
        if values is None and job.running:
            self.set_caption(what, "computing… (the bars fill in when it is done)")
            return
        if values is None:
            self.job_button.label = f"Compute {label(state.view.method)} for the {label(state.view.target)}"
            self.set_caption(what, "not computed yet: it runs only when you ask (the button below)")
            return
        roles, without = state.result.require().roles, state.view.scale_without_special
        peak = saliency_peak(values, roles, without)
        self.set_caption(what, f"full height at |score| {peak:.3g}" + (" (special tokens capped)" if without else ""))
        note = state.integrated_gradients_note()
        if note:
            self.caption.object += f" · <span style='color:#b35900'>{html.escape(note)}</span>"
