"""Names for the shapes and vocabularies that cross module boundaries.

Shapes live in the alias names so a reader never has to guess which axis is which.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

import numpy as np

AttentionArray: TypeAlias = np.ndarray
"""float32 ``[layers, heads, tokens, tokens]``; each row (last axis) sums to 1."""

LayerHeadsArray: TypeAlias = np.ndarray
"""float32 ``[layers, tokens, tokens]``: one map per layer (mean of heads, rollout)."""

TokenScores: TypeAlias = np.ndarray
"""float32 ``[tokens]``: one value per token of the explained window."""

LayerHeadScores: TypeAlias = np.ndarray
"""float64 ``[layers, heads]``: one figure per attention head (a head statistic)."""

LayerTokenScores: TypeAlias = np.ndarray
"""float32 ``[layers + 1, tokens]``: row 0 is the embedding output, row ``l`` layer ``l``."""

Method = Literal[
    "gradient", "gradient_x_input", "integrated_gradients", "smoothgrad", "occlusion", "lime", "kernel_shap"
]
Target = Literal["start", "end", "contrast", "null", "probability"]
Role = Literal["special", "question", "context"]
Baseline = Literal["pad", "mask", "zero", "average"]

METHODS: tuple[Method, ...] = (
    "gradient",
    "gradient_x_input",
    "integrated_gradients",
    "smoothgrad",
    "occlusion",
    "lime",
    "kernel_shap",
)
"""Every saliency method ``explain`` and ``add_saliency`` know (``core.attribution``)."""
DEFAULT_METHODS: tuple[Method, ...] = ("gradient", "gradient_x_input", "integrated_gradients")
"""What ``explain`` computes unless told otherwise; the others are opt-in (they cost many forward passes)."""
GRADIENT_METHODS: tuple[Method, ...] = ("gradient", "gradient_x_input", "integrated_gradients", "smoothgrad")
"""Methods that differentiate the model (on the word embeddings)."""
PERTURBATION_METHODS: tuple[Method, ...] = ("occlusion", "lime", "kernel_shap")
"""Methods that only run the model, on inputs with words replaced by the mask (or pad) token."""

TARGETS: tuple[Target, ...] = ("start", "end")
"""The two targets every computed method always has: the answer's start logit and its end logit."""
CONTRAST_TARGET: Target = "contrast"
"""Why this span rather than runner-up #k: (start + end logit of the answer) - (the same of span #k)."""
NULL_TARGET: Target = "null"
"""SQuAD 2.0's no-answer decision: (start + end logit of the first token) - (start + end logit of the answer)."""
PROBABILITY_TARGET: Target = "probability"
"""Occlusion only: the drop in the answer's probability ``p_start * p_end``; always computed with occlusion."""
EXPLAINABLE_TARGETS: tuple[Target, ...] = ("start", "end", CONTRAST_TARGET, NULL_TARGET)
"""What ``explain(targets=...)`` and ``add_saliency(targets=...)`` accept."""

IG_BASELINES: tuple[Baseline, ...] = ("pad", "mask", "zero", "average")
"""Integrated gradients' baselines (``core.attribution.baseline_embeddings``)."""

ROLES: tuple[Role, ...] = ("special", "question", "context")

DEFAULT_MODEL = "distilbert/distilbert-base-cased-distilled-squad"
