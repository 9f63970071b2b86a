"""The dashboard's colours and display labels, in one place.

Labels are defined once, value -> label (``gradient_x_input`` -> ``gradient × input``); selectors
that show labels and hold values build their ``{label: value}`` objects with ``choices``, and a
caption that shows a value's name uses ``label``. Plain strings only: the state (no Panel import)
and the views both read this module.
"""

from __future__ import annotations

from collections.abc import Iterable

# ---------------------------------------------------------------------------------------- colours

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

# ---------------------------------------------------------------------------------------- labels

LABELS: dict[str, str] = {
    # saliency methods and attention-based explainers
    "gradient": "gradient",
    "gradient_x_input": "gradient × input",
    "integrated_gradients": "integrated gradients",
    "attention_mean": "attention (mean of heads)",
    "attention_rollout": "attention rollout",
    "question_to_context": "question → context attention",
    "random": "random order",
    "occlusion": "occlusion (words left out)",
    "smoothgrad": "SmoothGrad",
    "lime": "LIME (words)",
    "kernel_shap": "Kernel SHAP (words)",
    # saliency targets
    "start": "answer start",
    "end": "answer end",
    "contrast": "answer vs runner-up",
    "null": "no answer vs answer",
    "probability": "answer probability",
    # integrated-gradients baselines
    "pad": "[PAD] tokens",
    "mask": "[MASK] tokens",
    "zero": "zero embeddings",
    "average": "average of the three",
    # head choices besides a head index
    "mean": "mean of heads",
    "rollout": "rollout",
    # attention colour scales
    "linear": "linear",
    "log": "log",
    "eq_hist": "equalised histogram",
    # head importance measures
    "ablation": "head masked (ablation)",
    # plot export formats
    "png": "PNG",
    "svg": "SVG",
    # faithfulness curves and sanity correlations
    "deletion": "deletion",
    "insertion": "insertion",
    "spearman": "Spearman (signed)",
    "spearman_abs": "Spearman of |values|",
}
"""Every value the page names, and the name it shows."""


def label(value: object) -> str:
    """The name shown for ``value`` (a head index reads ``head 3``; unknown strings show as they are)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"head {value}"
    return LABELS.get(str(value), str(value))


def choices(values: Iterable[object]) -> dict[str, object]:
    """``{label: value}`` for a ``param.Selector``'s objects, so its widget shows labels and holds values."""
    return {label(value): value for value in values}


def short_name(model: str) -> str:
    """The last path component of a model id or directory (``distilbert/x`` -> ``x``)."""
    return model.rstrip("/").split("/")[-1] or model


__all__ = [
    "ANSWER_COLOR",
    "ATTENTION_CMAP",
    "EXPLAINER_COLORS",
    "EXTRA_COLORS",
    "FLAG_COLOR",
    "LABELS",
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
    "choices",
    "label",
    "short_name",
]
