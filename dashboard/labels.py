"""Every name the page shows for a value: methods, targets, statistics, measures, and the other choices.

Defined once, value -> label (``gradient_x_input`` -> ``gradient × input``): selectors that show
labels and hold values build their ``{label: value}`` objects with ``choices``; a caption, a table
header, a hover or a report that names a value uses ``label``. Plain strings only: the state (no
Panel import), the views and the exports all read this module.
"""

from __future__ import annotations

from collections.abc import Iterable

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
    # per-head attention statistics (core.HEAD_STATISTICS)
    "entropy": "entropy (0 focused, 1 uniform)",
    "to_cls": "to the first special token",
    "to_sep": "to the other special tokens",
    "to_special": "to special tokens",
    "previous": "to previous token",
    "question_to_answer": "question → answer",
    "answer_to_question": "answer → question",
    "answer_to_context": "answer → context",
    # head importance measures ("gradient" is named above)
    "ablation": "head masked (ablation)",
    # plot export formats
    "png": "PNG",
    "svg": "SVG",
    # faithfulness curves and measures, sanity correlations
    "deletion": "deletion",
    "insertion": "insertion",
    "deletion_aopc": "deletion AOPC ↑",
    "insertion_aopc": "insertion AOPC ↑",
    "comprehensiveness": "comprehensiveness ↑",
    "sufficiency": "sufficiency ↓",
    "beats_random": "beats random",
    "spearman": "Spearman (signed)",
    "spearman_abs": "Spearman of |values|",
}
"""Every value the page names, and the name it shows."""


def label(value: object) -> str:
    """The name shown for ``value`` (a head index reads ``head 3``; unknown strings show as they are)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"head {value}"
    return LABELS.get(str(value), str(value))


def method_and_target(method: str, target: str) -> str:
    """``gradient × input · answer start``: one saliency map's name."""
    return f"{label(method)} · {label(target)}"


def choices(values: Iterable[object]) -> dict[str, object]:
    """``{label: value}`` for a ``param.Selector``'s objects, so its widget shows labels and holds values."""
    return {label(value): value for value in values}


def short_name(model: str) -> str:
    """The last path component of a model id or directory (``distilbert/x`` -> ``x``)."""
    return model.rstrip("/").split("/")[-1] or model


__all__ = ["LABELS", "choices", "label", "method_and_target", "short_name"]
