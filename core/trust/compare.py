"""Models side by side: one question and context, several models, saliency aligned on the context's words.

Tokenizers differ (WordPiece ``##`` pieces, byte-level BPE with ``Ġ``, SentencePiece ``▁``), so
tokens cannot be compared across models. Words can:

- **context words are defined once, from the context text** (``context_words``): a word is a
  maximal run of letters, digits, ``_`` and combining marks; every other visible character
  (punctuation, symbols, emoji) is a word of its own; whitespace and invisible format characters
  separate words. Each word has a character span ``[start_char, end_char)``.
- **each model's tokens map onto words by character overlap** (``align``): a context token adds its
  score to every word it overlaps, split by the number of characters it shares with each (a token
  inside one word gives it all; a rare token straddling two words splits). So a word's score is the
  **sum** of its pieces' scores, the same rule ``core.attention.merge_scores_to_words`` uses, and
  the scores of the window's context tokens are conserved. Words outside a model's explained window
  (long contexts) have no score (``NaN`` in arrays, ``None`` in JSON).
- **rank agreement** between two models is Spearman's rho of their word scores over the words
  both have a score for (``scipy.stats.spearmanr``).

Token scores are the explainers' importance from ``core.trust.importance`` (start and end maps summed,
signed for the signed methods).
"""

from __future__ import annotations

import bisect
import itertools
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from core.answering import Span
from core.explain import explain
from core.explanation import Explanation
from core.models import LoadedModel
from core.progress import ProgressCallback, report_progress, sub_progress
from core.trust.importance import EXPLAINERS, Combine, token_importance
from core.trust.stats import json_float, spearman
from core.types import DEFAULT_METHODS, METHODS

DEFAULT_EXPLAINERS: tuple[str, ...] = DEFAULT_METHODS
"""Explainers ``compare_models`` computes and compares by default: the default saliency methods (pass
``explainers`` to add smoothgrad, occlusion, lime or kernel_shap)."""

_SEPARATORS = {"Zs", "Zl", "Zp", "Cc", "Cf"}


@dataclass(frozen=True)
class ContextWord:
    """One word of the context, shared by every model: ``context[start_char:end_char] == text``."""

    index: int
    text: str
    start_char: int
    end_char: int

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "text": self.text, "start_char": self.start_char, "end_char": self.end_char}


def context_words(context: str) -> list[ContextWord]:
    """The context's words (see the module docstring), in order, with their character spans."""
    found: list[ContextWord] = []
    position = 0
    length = len(context)
    while position < length:
        kind = _char_kind(context[position])
        if kind == "space":
            position += 1
            continue
        end = position + 1
        if kind == "word":
            while end < length and _char_kind(context[end]) == "word":
                end += 1
        found.append(ContextWord(len(found), context[position:end], position, end))
        position = end
    return found


def _char_kind(char: str) -> str:
    category = unicodedata.category(char)
    if char.isspace() or category in _SEPARATORS:
        return "space"
    if char.isalnum() or char == "_" or category.startswith("M"):
        return "word"
    return "symbol"


@dataclass(frozen=True)
class WordAlignment:
    """How one model's window tokens map onto the shared context words."""

    model: str
    tokens: list[list[int]]
    """Per word, the token positions (in the model's explained window) that overlap it."""
    weights: list[list[float]]
    """Per word, the share of each of those tokens' score that goes to the word."""

    @property
    def in_window(self) -> list[bool]:
        """Per word, whether any of this model's tokens covers it."""
        return [bool(positions) for positions in self.tokens]

    def word_scores(self, token_scores: np.ndarray) -> np.ndarray:
        """Per word, the overlap-weighted sum of its tokens' scores; ``NaN`` for words outside the window."""
        scores = np.full(len(self.tokens), np.nan, dtype=np.float64)
        values = np.asarray(token_scores, dtype=np.float64)
        for index, (positions, weights) in enumerate(zip(self.tokens, self.weights, strict=True)):
            if positions:
                scores[index] = float(np.dot(values[positions], weights))
        return scores

    def tokens_of(self, words: Iterable[int]) -> list[int]:
        """Token positions that overlap any of ``words``."""
        chosen = {int(w) for w in words}
        return sorted({p for index in chosen if 0 <= index < len(self.tokens) for p in self.tokens[index]})

    def words_of(self, positions: Iterable[int]) -> list[int]:
        """Words that any of the token ``positions`` overlaps."""
        chosen = {int(p) for p in positions}
        return [index for index, tokens in enumerate(self.tokens) if chosen.intersection(tokens)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "tokens": [list(t) for t in self.tokens],
            "weights": [list(w) for w in self.weights],
        }


def align(explanation: Explanation, words: Sequence[ContextWord]) -> WordAlignment:
    """Map ``explanation``'s context tokens onto ``words`` by character overlap (see the module docstring)."""
    starts = [word.start_char for word in words]
    tokens: list[list[int]] = [[] for _ in words]
    weights: list[list[float]] = [[] for _ in words]
    for position, (role, (first, last)) in enumerate(zip(explanation.roles, explanation.offsets, strict=True)):
        if role != "context" or last <= first:
            continue
        overlaps: list[tuple[int, int]] = []
        index = max(bisect.bisect_right(starts, first) - 1, 0)
        while index < len(words) and words[index].start_char < last:
            shared = min(last, words[index].end_char) - max(first, words[index].start_char)
            if shared > 0:
                overlaps.append((index, shared))
            index += 1
        covered = sum(shared for _index, shared in overlaps)
        for index, shared in overlaps:
            tokens[index].append(position)
            weights[index].append(shared / covered)
    return WordAlignment(model=explanation.model, tokens=tokens, weights=weights)


@dataclass(frozen=True)
class ModelSide:
    """One model's answer and its word-level scores on the shared words."""

    model: str
    model_type: str
    answer: Span
    top_k: list[Span]
    alignment: WordAlignment
    word_scores: dict[str, np.ndarray]
    """Per explainer, ``[words]`` (``NaN`` outside this model's window)."""
    answer_words: list[int]
    """Words the answer's characters overlap."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "model_type": self.model_type,
            "answer": self.answer.to_dict(),
            "top_k": [span.to_dict() for span in self.top_k],
            "answer_words": list(self.answer_words),
            "word_saliency": {name: [json_float(v) for v in values] for name, values in self.word_scores.items()},
            "tokens_per_word": [list(t) for t in self.alignment.tokens],
        }


@dataclass(frozen=True)
class PairAgreement:
    """Rank agreement of two models' word scores for one explainer."""

    a: str
    b: str
    spearman: float
    p_value: float
    words: int
    """Words both models have a score for (the correlation's sample size)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "spearman": json_float(self.spearman),
            "p_value": json_float(self.p_value),
            "words": self.words,
        }


@dataclass(frozen=True)
class Comparison:
    """Several models on one question and context, aligned on the context's words."""

    question: str
    context: str
    words: list[ContextWord]
    models: dict[str, ModelSide]
    explainers: list[str]
    agreement: dict[str, list[PairAgreement]]
    """Per explainer, one entry per pair of models."""
    combine: str
    seconds: float

    @property
    def names(self) -> list[str]:
        return list(self.models)

    def agreement_matrix(self, explainer: str) -> np.ndarray:
        """``[models, models]`` Spearman's rho (1 on the diagonal, NaN where undefined)."""
        names = self.names
        matrix = np.eye(len(names), dtype=np.float64)
        for pair in self.agreement.get(explainer, []):
            i, j = names.index(pair.a), names.index(pair.b)
            matrix[i, j] = matrix[j, i] = pair.spearman
        return matrix

    def same_answer(self) -> bool:
        """Whether every model gives the same answer characters."""
        spans = {(side.answer.start_char, side.answer.end_char) for side in self.models.values()}
        return len(spans) == 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "context": self.context,
            "words": [word.to_dict() for word in self.words],
            "models": {name: side.to_dict() for name, side in self.models.items()},
            "explainers": list(self.explainers),
            "agreement": {name: [pair.to_dict() for pair in pairs] for name, pairs in self.agreement.items()},
            "same_answer": self.same_answer(),
            "combine": self.combine,
            "seconds": self.seconds,
        }


def compare_explanations(
    explanations: Sequence[Explanation],
    explainers: Iterable[str] | None = None,
    *,
    names: Sequence[str] | None = None,
    combine: Combine = "signed",
) -> Comparison:
    """Align already computed explanations of one question and context (no model runs).

    ``explainers`` defaults to the saliency methods (any of ``core.METHODS``) every explanation has. ``names`` label the
    models (default: each explanation's model, made unique with ``#2``, ``#3``...).
    """
    began = time.perf_counter()
    if not explanations:
        raise ValueError("Give at least one explanation to compare.")
    first = explanations[0]
    for other in explanations[1:]:
        if other.context != first.context or other.question.strip() != first.question.strip():
            raise ValueError("Every explanation must be of the same question and context.")
    if explainers is None:
        chosen = [m for m in METHODS if all(m in e.saliency for e in explanations)]
    else:
        chosen = list(dict.fromkeys(explainers))
        unknown = [name for name in chosen if name not in EXPLAINERS]
        if unknown:
            raise ValueError(f"Unknown explainer(s) {unknown}; choose from {list(EXPLAINERS)}.")
    labels = _unique_names([e.model for e in explanations] if names is None else list(names))
    if len(labels) != len(explanations):
        raise ValueError("Give one name per explanation.")
    words = context_words(first.context)
    sides: dict[str, ModelSide] = {}
    for label, explanation in zip(labels, explanations, strict=True):
        alignment = align(explanation, words)
        scores = {name: alignment.word_scores(token_importance(explanation, name, combine)) for name in chosen}
        answer = explanation.answer
        answer_words = [w.index for w in words if w.start_char < answer.end_char and answer.start_char < w.end_char]
        sides[label] = ModelSide(
            model=label,
            model_type=explanation.model_type,
            answer=answer,
            top_k=list(explanation.top_k),
            alignment=alignment,
            word_scores=scores,
            answer_words=answer_words,
        )
    agreement = {
        name: [
            _agreement(a, b, sides[a].word_scores[name], sides[b].word_scores[name])
            for a, b in itertools.combinations(labels, 2)
        ]
        for name in chosen
    }
    return Comparison(
        question=first.question,
        context=first.context,
        words=words,
        models=sides,
        explainers=chosen,
        agreement=agreement,
        combine=combine,
        seconds=time.perf_counter() - began,
    )


def compare_models(
    question: str,
    context: str,
    models: Sequence[str | LoadedModel],
    explainers: Iterable[str] = DEFAULT_EXPLAINERS,
    *,
    combine: Combine = "signed",
    progress: ProgressCallback | None = None,
    **explain_options: Any,
) -> Comparison:
    """Answer and explain ``question`` with every model in ``models``, then align them on the context's words.

    ``explain_options`` go to ``core.explain`` (``ig_max_steps``, ``max_length``...). The saliency
    methods among ``explainers`` are computed; attention variants come with every explanation.
    ``progress`` hears ``("<model>: <stage>", fraction)`` of the whole comparison.
    """
    chosen = list(dict.fromkeys(explainers))
    methods = [name for name in chosen if name in METHODS]
    explanations = []
    for index, model in enumerate(models):
        name = model.name if isinstance(model, LoadedModel) else str(model)
        within = sub_progress(progress, f"{name}: ", index / len(models), (index + 1) / len(models))
        report_progress(within, "explain", 0.0)
        explanations.append(
            explain(question, context, model=model, methods=methods, progress=within, **explain_options)
        )
    report_progress(progress, "done", 1.0)
    return compare_explanations(explanations, chosen, combine=combine)


def word_agreement(a: np.ndarray, b: np.ndarray) -> tuple[float, float, int]:
    """Spearman's rho and its p-value of two word-score arrays over the words both have; and how many."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    both = ~np.isnan(a) & ~np.isnan(b)
    rho, p_value = spearman(a[both], b[both])
    return rho, p_value, int(both.sum())


def _agreement(a: str, b: str, scores_a: np.ndarray, scores_b: np.ndarray) -> PairAgreement:
    rho, p_value, count = word_agreement(scores_a, scores_b)
    return PairAgreement(a=a, b=b, spearman=rho, p_value=p_value, words=count)


def _unique_names(names: Sequence[str]) -> list[str]:
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return unique


__all__ = [
    "DEFAULT_EXPLAINERS",
    "Comparison",
    "ContextWord",
    "ModelSide",
    "PairAgreement",
    "WordAlignment",
    "align",
    "compare_explanations",
    "compare_models",
    "context_words",
    "word_agreement",
]
