"""The dashboard's colours, in one place (the names it shows for values are in ``dashboard.labels``).

Plain strings only: the state (no Panel import) and the views both read this module.
"""

from __future__ import annotations

ROLE_COLORS = {"question": "#8c6bb1", "context": "#4c78a8", "special": "#a0a0a0"}
ANSWER_COLOR = "#2ca02c"
SELECTION_COLOR = "#ff7f0e"
POSITIVE_COLOR = "#d6604d"
"""Saliency that pushes the explained logit up."""
NEGATIVE_COLOR = "#4393c3"
"""Saliency that pushes it down."""
POSITIVE_RGB = (214, 96, 77)
NEGATIVE_RGB = (67, 147, 195)
FLAG_COLOR = "#d62728"
OUTSIDE_COLOR = "#d0d0d0"
"""Words outside a model's explained window."""
ATTENTION_CMAP = "Blues"
SALIENCY_CMAP = "RdBu_r"

ROLE_PALETTE = [ROLE_COLORS["context"], ROLE_COLORS["question"], ROLE_COLORS["special"], ANSWER_COLOR]
"""Token bar colours by role code: 0 context, 1 question, 2 special, 3 answer."""
SIGN_PALETTE = [NEGATIVE_COLOR, POSITIVE_COLOR]
"""Bar colours by ``values >= 0``."""

EXPLAINER_COLORS: dict[str, str] = {
    "gradient": "#1f77b4",
    "gradient_x_input": "#ff7f0e",
    "integrated_gradients": "#2ca02c",
    "attention_mean": "#9467bd",
    "attention_rollout": "#8c564b",
    "question_to_context": "#e377c2",
    "random": "#555555",
    "occlusion": "#bcbd22",
    "smoothgrad": "#17becf",
    "lime": "#7f7f7f",
    "kernel_shap": "#d62728",
}
EXTRA_COLORS = ("#17becf", "#bcbd22", "#7f7f7f", "#d62728")
"""For explainers without a colour of their own (custom orders)."""


def explainer_color(name: str, index: int = 0) -> str:
    """An explainer's colour; the ``index``-th extra colour for one without its own."""
    return EXPLAINER_COLORS.get(name, EXTRA_COLORS[index % len(EXTRA_COLORS)])


__all__ = [
    "ANSWER_COLOR",
    "ATTENTION_CMAP",
    "EXPLAINER_COLORS",
    "EXTRA_COLORS",
    "FLAG_COLOR",
    "NEGATIVE_COLOR",
    "NEGATIVE_RGB",
    "OUTSIDE_COLOR",
    "POSITIVE_COLOR",
    "POSITIVE_RGB",
    "ROLE_COLORS",
    "ROLE_PALETTE",
    "SALIENCY_CMAP",
    "SELECTION_COLOR",
    "SIGN_PALETTE",
    "explainer_color",
]
