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

Method = Literal["gradient", "gradient_x_input", "integrated_gradients"]
Target = Literal["start", "end"]
Role = Literal["special", "question", "context"]

METHODS: tuple[Method, ...] = ("gradient", "gradient_x_input", "integrated_gradients")
TARGETS: tuple[Target, ...] = ("start", "end")
ROLES: tuple[Role, ...] = ("special", "question", "context")

DEFAULT_MODEL = "distilbert/distilbert-base-cased-distilled-squad"
