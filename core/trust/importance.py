"""One importance score per token, from a saliency method or an attention variant, and the order it implies.

Faithfulness curves, the randomisation sanity check and the side-by-side comparison of models all
rank tokens; they rank them the same way, defined here once.

**Explainers.** Every saliency method (``core.METHODS``: ``gradient``, ``gradient_x_input``,
``integrated_gradients``, ``smoothgrad``, ``occlusion``, ``lime``, ``kernel_shap``) and three attention variants:

- ``attention_mean``: the last layer's mean over heads, attention *from* the answer's tokens
  (rows averaged) *to* each token: what the positions the QA head reads looked at last.
- ``attention_rollout``: attention rollout (Abnar & Zuidema, 2020) up to the last layer, rows of
  the answer's tokens averaged: where the answer positions' information came from, through all layers.
- ``question_to_context``: mean attention from the question's tokens to each context token, over
  all layers and heads (``Explanation.question_to_context()``); 0 outside the context.

**How the start and end maps combine.** Saliency is computed per target (the answer's start logit
and its end logit). The importance of a token is their **sum**, ``s_start + s_end``:

- the tracked quantity of the faithfulness curves is ``p_start(s) * p_end(e - 1)``, whose log is
  ``start_logit(s) + end_logit(e - 1)`` minus the two log-partition terms, so a sum of the two
  logits' attributions is an attribution of (most of) the log of the tracked probability; both
  targets are in logit units, so no re-scaling is needed;
- for the **signed** methods (``gradient_x_input``, ``integrated_gradients``, ``occlusion``, ``lime``,
  ``kernel_shap``) the sum keeps its sign: a positive value is evidence *for* the answer, a negative
  one *against* it. Deletion then removes the strongest evidence for the answer first and the
  evidence against it last, which is what "in order of importance" means for an attribution with a
  sign (Samek et al., 2017's MoRF order). Taking absolute values would remove counter-evidence
  early and make a faithful signed map look worse than it is. ``combine="absolute"`` gives
  ``|s_start| + |s_end|`` for who wants it;
- ``gradient`` and ``smoothgrad`` are L2 norms (never negative), and attention weights are
  non-negative, so for them signed and absolute coincide;
- the perturbation methods' start and end maps are also in logit units (occlusion: the drop of each
  logit when a word is masked; LIME and Kernel SHAP: each word's linear coefficient for that logit), so
  they add up the same way. Occlusion's ``probability`` map and the ``contrast`` and ``null`` targets
  are not part of the importance (they explain other quantities).

**Order.** Only context tokens are ranked (question and special tokens are never removed):
descending importance, ties broken by position (a stable sort), so the order is deterministic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np

from core.explanation import Explanation
from core.types import DEFAULT_METHODS, METHODS, TokenScores

ATTENTION_VARIANTS: tuple[str, ...] = ("attention_mean", "attention_rollout", "question_to_context")
"""Attention-based explainers, named as in the report's ``faithfulness`` section."""

EXPLAINERS: tuple[str, ...] = (*METHODS, *ATTENTION_VARIANTS)
"""Every explainer that ranks tokens: the saliency methods, then the attention variants."""

DEFAULT_EXPLAINERS: tuple[str, ...] = (*DEFAULT_METHODS, *ATTENTION_VARIANTS)
"""What reports rank unless told otherwise: the default saliency methods (the others are opt-in, and
ranked whenever an explanation already has them) and the attention variants."""

SIGNED_METHODS: tuple[str, ...] = ("gradient_x_input", "integrated_gradients", "occlusion", "lime", "kernel_shap")
"""Explainers whose scores carry a sign (evidence for or against the answer)."""

UNSIGNED_METHODS: tuple[str, ...] = ("gradient", "smoothgrad")
"""Saliency methods whose scores are norms (never negative)."""

Combine = Literal["signed", "absolute"]


def token_importance(explanation: Explanation, name: str, combine: Combine = "signed") -> TokenScores:
    """Importance of every token of the explained window for explainer ``name``, float64 ``[tokens]``.

    Raises ``KeyError`` when ``name`` is a saliency method the explanation has not computed, and
    ``ValueError`` for an unknown name.
    """
    if combine not in ("signed", "absolute"):
        raise ValueError(f"combine must be 'signed' or 'absolute', not {combine!r}.")
    if name in METHODS:
        if name not in explanation.saliency:
            raise KeyError(f"The explanation has no {name!r} saliency; compute it with core.add_saliency.")
        return combine_targets(explanation.saliency[name], combine)
    answer_rows = slice(explanation.answer.start_token, explanation.answer.end_token)
    if name == "attention_mean":
        return explanation.mean_attention()[-1][answer_rows].mean(axis=0).astype(np.float64)
    if name == "attention_rollout":
        return explanation.rollout()[-1][answer_rows].mean(axis=0).astype(np.float64)
    if name == "question_to_context":
        return explanation.question_to_context().astype(np.float64)
    raise ValueError(f"Unknown explainer {name!r}; choose from {list(EXPLAINERS)}.")


def combine_targets(per_target: Mapping[str, np.ndarray], combine: Combine = "signed") -> TokenScores:
    """One map from a method's start and end maps: ``s_start + s_end`` (or ``|s_start| + |s_end|``)."""
    if combine not in ("signed", "absolute"):
        raise ValueError(f"combine must be 'signed' or 'absolute', not {combine!r}.")
    start = np.asarray(per_target["start"], dtype=np.float64)
    end = np.asarray(per_target["end"], dtype=np.float64)
    if combine == "absolute":
        return np.abs(start) + np.abs(end)
    return start + end


def importance_order(scores: np.ndarray, positions: Sequence[int] | np.ndarray) -> np.ndarray:
    """``positions`` sorted by descending ``scores`` (ties by position): the most important first."""
    positions = np.asarray(positions, dtype=np.int64)
    if positions.size == 0:
        return positions
    values = np.nan_to_num(np.asarray(scores, dtype=np.float64)[positions], nan=-np.inf)
    ranked = np.lexsort((positions, -values))
    return positions[ranked]


__all__ = [
    "ATTENTION_VARIANTS",
    "DEFAULT_EXPLAINERS",
    "EXPLAINERS",
    "SIGNED_METHODS",
    "UNSIGNED_METHODS",
    "combine_targets",
    "importance_order",
    "token_importance",
]
