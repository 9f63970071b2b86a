"""Aggregations of raw attention that the views and reports share.

All inputs are ``[layers, heads, tokens, tokens]`` arrays whose rows sum to 1, and every
aggregation keeps that property so its maps can be read as distributions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.types import AttentionArray, LayerHeadsArray, Role, TokenScores


def mean_over_heads(attentions: AttentionArray) -> LayerHeadsArray:
    """Average of all heads per layer, ``[layers, tokens, tokens]``."""
    return attentions.mean(axis=1, dtype=np.float64).astype(np.float32)


def attention_rollout(attentions: AttentionArray, residual_weight: float = 0.5) -> LayerHeadsArray:
    """Attention rollout (Abnar & Zuidema, 2020, "Quantifying Attention Flow in Transformers").

    Each layer's head-averaged map is mixed with the identity to account for the residual
    connection, ``0.5 * A + 0.5 * I``, re-normalised, and multiplied through the layers:
    ``R_l = A_hat_l @ R_{l-1}``. Row ``l`` of the result is the rollout up to layer ``l``.
    """
    mean = mean_over_heads(attentions).astype(np.float64)
    identity = np.eye(mean.shape[-1])
    rolled = np.empty_like(mean)
    current = identity
    for layer, layer_map in enumerate(mean):
        mixed = (1.0 - residual_weight) * layer_map + residual_weight * identity
        mixed /= mixed.sum(axis=-1, keepdims=True)
        current = mixed @ current
        rolled[layer] = current
    return rolled.astype(np.float32)


def question_to_context(attention_map: np.ndarray, roles: Sequence[Role]) -> TokenScores:
    """Mean attention from the question's tokens to each context token, ``[tokens]``.

    ``attention_map`` is one ``[tokens, tokens]`` map (a head, a layer's mean, or a rollout).
    Non-context positions are 0 so the array stays aligned with the window's tokens.
    """
    role_array = np.asarray(roles)
    question_rows = role_array == "question"
    context_cols = role_array == "context"
    scores = np.zeros(attention_map.shape[-1], dtype=np.float32)
    if question_rows.any():
        scores[context_cols] = attention_map[question_rows][:, context_cols].mean(axis=0)
    return scores


@dataclass(frozen=True)
class Word:
    """Consecutive tokens of one word of the question or the context (or one special token)."""

    role: Role
    start_token: int
    end_token: int
    start_char: int
    end_char: int
    text: str


def words(
    tokens: Sequence[str],
    roles: Sequence[Role],
    word_ids: Sequence[int | None],
    offsets: Sequence[tuple[int, int]],
    question: str,
    context: str,
) -> list[Word]:
    """Group wordpieces into words by ``(role, word id)``; each special token stays its own word."""
    groups: list[Word] = []
    start = 0
    while start < len(tokens):
        end = start + 1
        if roles[start] != "special":
            while end < len(tokens) and roles[end] == roles[start] and word_ids[end] == word_ids[start]:
                end += 1
        role = roles[start]
        if role == "special":
            groups.append(Word(role, start, end, 0, 0, tokens[start]))
        else:
            text = question if role == "question" else context
            first, last = offsets[start][0], offsets[end - 1][1]
            groups.append(Word(role, start, end, first, last, text[first:last]))
        start = end
    return groups


def merge_scores_to_words(scores: TokenScores, groups: Sequence[Word]) -> np.ndarray:
    """Saliency per word: the **sum** of its pieces (attributions are additive)."""
    return np.array([scores[g.start_token : g.end_token].sum() for g in groups], dtype=np.float32)


def merge_attention_to_words(attention_map: np.ndarray, groups: Sequence[Word]) -> np.ndarray:
    """A ``[tokens, tokens]`` map as ``[words, words]``.

    Attention *to* a word is the **sum** over its pieces and attention *from* a word is the
    **mean** over its pieces (Clark et al., 2019, "What Does BERT Look At?"), so rows still sum
    to 1.
    """
    to_words = np.stack([attention_map[:, g.start_token : g.end_token].sum(axis=1) for g in groups], axis=1)
    return np.stack([to_words[g.start_token : g.end_token].mean(axis=0) for g in groups], axis=0).astype(np.float32)
