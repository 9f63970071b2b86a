"""Exact match and F1 exactly as SQuAD's official evaluation scripts compute them.

Why copy the official rules instead of inventing cleaner ones: EM/F1 figures are only comparable with
published ones when normalisation matches to the character. Both scripts (v1.1 and v2.0, Rajpurkar et al.,
2016 and 2018) lower-case, remove ASCII punctuation (``string.punctuation``), remove the articles
``a``, ``an``, ``the`` as whole words, and collapse whitespace; F1 is over the multiset of remaining
whitespace tokens. A prediction takes the best score over the gold answers.

They differ only where something normalises to nothing:

- **v1.1**: no overlap means F1 = 0, even when both sides are empty;
- **v2.0**: an unanswerable question's gold answer is the empty string, so it scores EM = F1 = 1 only
  when the prediction is empty (or normalises to empty, e.g. ``"the"``); an answerable question
  scores 0 for an empty prediction. Gold answers that normalise to empty are dropped first (the
  official script does the same).

Results per example are 0 to 1; ``summary.json`` reports the mean times 100, as the scripts print.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence

from core.dataset.reading import SQUAD_V1, SQUAD_V2

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text: str) -> str:
    """Lower-case, strip punctuation and the articles a/an/the, collapse whitespace (the official order)."""
    lowered = text.lower()
    without_punctuation = "".join(ch for ch in lowered if ch not in _PUNCTUATION)
    without_articles = _ARTICLES.sub(" ", without_punctuation)
    return " ".join(without_articles.split())


def exact_match(prediction: str, gold: str) -> float:
    """1.0 when both normalise to the same text, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1_v1(prediction: str, gold: str) -> float:
    """Token F1 of SQuAD v1.1's script: 0 when no token overlaps (including both empty)."""
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(gold).split()
    return _overlap_f1(predicted, expected)


def f1_v2(prediction: str, gold: str) -> float:
    """Token F1 of SQuAD v2.0's script: 1 when both are empty, 0 when only one is."""
    predicted = normalize_answer(prediction).split()
    expected = normalize_answer(gold).split()
    if not predicted or not expected:
        return float(predicted == expected)
    return _overlap_f1(predicted, expected)


def _overlap_f1(predicted: list[str], expected: list[str]) -> float:
    common = Counter(predicted) & Counter(expected)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(predicted)
    recall = same / len(expected)
    return 2 * precision * recall / (precision + recall)


def squad_scores(
    prediction: str, gold_answers: Sequence[str], *, is_impossible: bool = False, version: str = SQUAD_V1
) -> tuple[float, float]:
    """``(exact match, F1)`` of one prediction, each the maximum over the gold answers, by ``version``'s rules.

    v1.1 needs at least one gold answer. v2.0: an unanswerable question (``is_impossible``, or no gold
    answer that survives normalisation) is scored against the empty answer.
    """
    if version == SQUAD_V2:
        golds = [] if is_impossible else [answer for answer in gold_answers if normalize_answer(answer)]
        golds = golds or [""]
        return max(exact_match(prediction, g) for g in golds), max(f1_v2(prediction, g) for g in golds)
    if version != SQUAD_V1:
        raise ValueError(f"Unknown SQuAD version {version!r}; expected {SQUAD_V1!r} or {SQUAD_V2!r}.")
    if not gold_answers:
        raise ValueError("SQuAD v1.1 scoring needs at least one gold answer; unanswerable questions are v2.0.")
    return max(exact_match(prediction, g) for g in gold_answers), max(f1_v1(prediction, g) for g in gold_answers)


__all__ = ["exact_match", "f1_v1", "f1_v2", "normalize_answer", "squad_scores"]
