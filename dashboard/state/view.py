"""How to look at the current answer: layer, head, attention colour scale, saliency method and target.

Changing any of these only slices what is already computed; no model runs.
"""

from __future__ import annotations

from typing import Any

import param

import core
from core.types import EXPLAINABLE_TARGETS
from dashboard.labels import choices, label

HEAD_MODES: tuple[str, ...] = ("mean", "rollout")
"""Head choices besides a single head index: the layer's mean over heads, and attention rollout
(Abnar & Zuidema, 2020) up to the layer."""

COLOR_SCALES: tuple[str, ...] = ("linear", "log", "eq_hist")


def head_choices(num_heads: int) -> dict[str, Any]:
    """``{label: value}`` of the Head selector for a model with ``num_heads`` heads."""
    return choices([*HEAD_MODES, *range(num_heads)])


class ViewChoices(param.Parameterized):
    """Which slice of the answer's attention and saliency every view shows."""

    layer = param.Integer(default=0, bounds=(0, 0), doc="Transformer layer whose attention is shown (0 = first).")
    head = param.Selector(
        default="mean",
        objects=head_choices(0),
        doc="Attention head shown: an index, 'mean' (mean of the layer's heads) or 'rollout' "
        "(attention rollout up to the layer).",
    )
    color_scale = param.Selector(
        default="linear",
        objects=choices(COLOR_SCALES),
        doc="Colour normalisation of attention maps; 'eq_hist' reveals structure next to [CLS]/[SEP] peaks.",
    )
    method = param.Selector(
        default="gradient_x_input",
        objects=choices(core.METHODS),
        doc="Saliency method shown in the saliency views (methods beyond the first three compute on request).",
    )
    target = param.Selector(
        default="start",
        objects=choices(EXPLAINABLE_TARGETS),
        doc="What saliency explains: the answer's start or end logit, the answer against runner-up #k, or the "
        "no-answer score against the answer's (SQuAD 2.0).",
    )
    null_threshold = param.Number(
        default=0.0,
        doc="The model abstains when its no-answer score beats the answer's span score by more than this (SQuAD 2.0).",
    )
    plot_format = param.Selector(
        default="png",
        objects=choices(["png", "svg"]),
        doc="What a plot's save tool writes: PNG (canvas) or SVG (the plots redraw as SVG, slower for big maps).",
    )
    scale_without_special = param.Boolean(
        default=True,
        doc="Scale saliency colours and bars by question and context tokens only: [CLS]/[SEP] often carry the largest "
        "scores and would wash the rest out (they are still shown, capped at full strength).",
    )

    def fit(self, num_layers: int, num_heads: int) -> None:
        """Fit the layer bounds and head choices to a model, keeping the current view when it fits."""
        self.param.layer.bounds = (0, max(num_layers - 1, 0))
        objects = head_choices(num_heads)
        if list(objects.values()) != list(self.param.head.objects):
            self.param.head.objects = objects
        updates: dict[str, Any] = {}
        if self.layer > num_layers - 1:
            updates["layer"] = max(num_layers - 1, 0)
        if self.head not in objects.values():
            updates["head"] = "mean"
        if updates:
            self.param.update(**updates)

    def attention_title(self) -> str:
        """``layer 2, head 5`` / ``layer 2, mean of heads`` / ``layer 2, rollout up to layer``."""
        what = "rollout up to layer" if self.head == "rollout" else label(self.head)
        return f"layer {self.layer}, {what}"


__all__ = ["COLOR_SCALES", "HEAD_MODES", "ViewChoices", "head_choices"]
