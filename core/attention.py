"""Aggregations of raw attention, and statistics per head, that views, reports and dataset runs share.

All inputs are ``[layers, heads, tokens, tokens]`` arrays whose rows sum to 1 (rows attend,
columns are attended to). Aggregations keep that property so their maps read as distributions;
head statistics summarise each head in one number (``[layers, heads]``), so a whole dataset can be
compared head by head without keeping any ``[tokens, tokens]`` map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from core.types import AttentionArray, LayerHeadsArray, LayerHeadScores, Role, TokenScores

THUMBNAIL_SIZE = 32
"""Pixels per side of a head thumbnail: a ``[tokens, tokens]`` map is block-averaged to at most this."""

HEAD_STATISTICS: dict[str, str] = {
    "entropy": "mean row entropy divided by log(tokens): 0 focused, 1 uniform",
    "to_cls": "mean share of attention to the first special token ([CLS], <s>)",
    "to_sep": "mean share of attention to the other special tokens ([SEP], </s>)",
    "to_special": "mean share of attention to every special token (to_cls + to_sep)",
    "previous": "mean share of attention to the previous token",
    "question_to_answer": "mean share of attention from question tokens to the answer's tokens",
    "answer_to_question": "mean share of attention from the answer's tokens to question tokens",
    "answer_to_context": "mean share of attention from the answer's tokens to context tokens (answer included)",
}
"""Every statistic ``head_statistics`` returns, and what it measures (rows averaged, columns summed)."""

HEAD_LINKS_PER_ROW = 3
HEAD_LINK_THRESHOLD = 0.05
SELECTED_LINKS_PER_TOKEN = 12
SELECTED_LINK_THRESHOLD = 0.01


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


def thumbnail_edges(count: int, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """Token positions where each thumbnail pixel's block starts, plus ``count`` at the end."""
    n = max(1, min(size, count))
    return np.linspace(0, count, n + 1).round().astype(np.int64)


def head_thumbnails(attentions: AttentionArray, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """Every head's map block-averaged to at most ``size`` x ``size``: float32 ``[layers, heads, n, n]``.

    Block means keep each thumbnail an honest (coarser) picture of where attention goes, at a fixed
    cost however long the window is (a model view of 72 heads at 384 tokens sends 72 x 32 x 32 values,
    not 10.6 million).
    """
    edges = thumbnail_edges(attentions.shape[-1], size)
    starts, widths = edges[:-1], np.diff(edges).astype(np.float32)
    pooled = np.add.reduceat(attentions, starts, axis=2) / widths[:, None]
    return (np.add.reduceat(pooled, starts, axis=3) / widths).astype(np.float32)


def head_statistics(
    attentions: AttentionArray, roles: Sequence[Role], answer: range | Sequence[int]
) -> dict[str, LayerHeadScores]:
    """One number per head for each entry of ``HEAD_STATISTICS``, each float64 ``[layers, heads]``.

    ``answer`` holds the answer's token positions. "From" sets are rows (averaged), "to" sets are
    columns (summed): ``question_to_answer`` is the share of a question token's attention that lands
    on the answer, averaged over the question's tokens. A statistic whose "from" set is empty is 0.
    """
    role_array = np.asarray(roles)
    count = attentions.shape[-1]
    shape = attentions.shape[:2]
    special = role_array == "special"
    question = role_array == "question"
    context = role_array == "context"
    in_answer = np.zeros(count, dtype=bool)
    in_answer[[p for p in answer if 0 <= p < count]] = True
    cls = np.zeros(count, dtype=bool)
    if count and special[0]:
        cls[0] = True
    sep = special & ~cls

    def share(rows: np.ndarray, columns: np.ndarray) -> LayerHeadScores:
        if not rows.any() or not columns.any():
            return np.zeros(shape)
        return attentions[..., rows, :][..., columns].sum(-1).mean(-1, dtype=np.float64)

    everyone = np.ones(count, dtype=bool)
    plogp = attentions * np.log(np.maximum(attentions, np.float32(1e-30)))
    entropy = -plogp.sum(-1).mean(-1, dtype=np.float64) / max(np.log(count), 1e-9)
    previous = (
        np.diagonal(attentions, offset=-1, axis1=2, axis2=3).mean(-1, dtype=np.float64)
        if count > 1
        else np.zeros(shape)
    )
    to_cls, to_sep = share(everyone, cls), share(everyone, sep)
    return {
        "entropy": entropy,
        "to_cls": to_cls,
        "to_sep": to_sep,
        "to_special": to_cls + to_sep,
        "previous": previous,
        "question_to_answer": share(question, in_answer),
        "answer_to_question": share(in_answer, question),
        "answer_to_context": share(in_answer, context),
    }


def strongest_links(
    attention_map: np.ndarray, rows: np.ndarray, per_row: int, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """``(row, column)`` of each given row's ``per_row`` largest entries that are at least ``threshold``."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0 or attention_map.shape[1] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    block = attention_map[rows]
    keep = min(per_row, block.shape[1])
    columns = np.argpartition(-block, keep - 1, axis=1)[:, :keep]
    values = np.take_along_axis(block, columns, axis=1)
    strong = values >= threshold
    source = np.repeat(rows[:, None], keep, axis=1)[strong]
    return source.astype(np.int64), columns[strong].astype(np.int64)


def head_links(attention_map: np.ndarray, selected: Sequence[int] = ()) -> dict[str, np.ndarray]:
    """The links a head view draws for one ``[tokens, tokens]`` map: ``source``, ``target``, ``weight``, ``selected``.

    Without a selection: each token's ``HEAD_LINKS_PER_ROW`` (one fewer past 128 tokens) strongest
    links of at least ``HEAD_LINK_THRESHOLD`` (or the uniform share 1/tokens when that is lower).
    With one: the selected tokens' outgoing and incoming links (``SELECTED_LINKS_PER_TOKEN`` each, at
    least ``SELECTED_LINK_THRESHOLD`` or 1/tokens), so a drawing stays light at any length.
    """
    count = attention_map.shape[0]
    chosen = np.array(sorted({int(p) for p in selected if 0 <= int(p) < count}), dtype=np.int64)
    if len(chosen) == 0:
        floor = min(HEAD_LINK_THRESHOLD, 1.0 / max(count, 1))
        per_row = HEAD_LINKS_PER_ROW if count <= 128 else HEAD_LINKS_PER_ROW - 1
        sources, targets = strongest_links(attention_map, np.arange(count), per_row, floor)
    else:
        floor = min(SELECTED_LINK_THRESHOLD, 1.0 / max(count, 1))
        out_sources, out_targets = strongest_links(attention_map, chosen, SELECTED_LINKS_PER_TOKEN, floor)
        in_targets, in_sources = strongest_links(attention_map.T, chosen, SELECTED_LINKS_PER_TOKEN, floor)
        pairs = np.unique(np.stack([np.r_[out_sources, in_sources], np.r_[out_targets, in_targets]], axis=1), axis=0)
        sources, targets = pairs[:, 0], pairs[:, 1]
    mask = np.zeros(count, dtype=bool)
    mask[chosen] = True
    return {
        "source": sources.astype(np.int64),
        "target": targets.astype(np.int64),
        "weight": attention_map[sources, targets].astype(np.float64),
        "selected": (mask[sources] | mask[targets]) if len(sources) else np.zeros(0, dtype=bool),
    }
