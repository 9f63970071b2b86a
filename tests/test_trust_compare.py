"""core.trust.compare: context words defined once, each model's tokens aligned onto them by character offsets."""

from __future__ import annotations

import json

import numpy as np
import pytest

import core
from core.fixtures import BUILTIN_SENTENCES
from core.trust.compare import align, context_words, word_agreement
from core.trust.importance import token_importance

QUESTION = "Who moved to München in 2015?"
CONTEXT = (
    "Jürgen moved to München in 2015; he said the café near 東京 station (Ελλάδα Street) was great 🎉! "
    "Don't forget: Python 3.11 was released on 24 October 2022."
)


@pytest.fixture(scope="module")
def comparison(tiny_bert_dir: str, tiny_roberta_dir: str) -> core.Comparison:
    return core.compare_models(QUESTION, CONTEXT, [tiny_bert_dir, tiny_roberta_dir], ig_max_steps=8)


def test_context_words_come_from_the_text_alone() -> None:
    words = context_words("Don't stop: 3.11 (東京) café\u200b🎉!  e\u0301t\u00e9")
    assert [w.text for w in words] == [
        "Don",
        "'",
        "t",
        "stop",
        ":",
        "3",
        ".",
        "11",
        "(",
        "東京",
        ")",
        "café",
        "🎉",
        "!",
        "e\u0301té",
    ]
    text = "Don't stop: 3.11 (東京) café\u200b🎉!  e\u0301t\u00e9"
    for index, word in enumerate(words):
        assert word.index == index
        assert text[word.start_char : word.end_char] == word.text
    assert context_words("   ") == []


def test_two_tokenizers_map_every_word_exactly_once(comparison: core.Comparison, tiny_bert_dir: str) -> None:
    words = comparison.words
    assert [w.text for w in words] == [w.text for w in context_words(CONTEXT)]
    assert list(comparison.models) == [tiny_bert_dir, comparison.names[1]]
    bert, roberta = comparison.models.values()
    assert (bert.model_type, roberta.model_type) == ("bert", "roberta")
    for side in comparison.models.values():
        alignment = side.alignment
        # One entry per shared word, each covered by at least one of this model's tokens (one window here).
        assert len(alignment.tokens) == len(words)
        assert all(alignment.in_window)
        for name in comparison.explainers:
            scores = side.word_scores[name]
            assert scores.shape == (len(words),)
            assert not np.isnan(scores).any()
    # The two tokenizers really split differently, and still agree on the words.
    assert bert.alignment.tokens != roberta.alignment.tokens


def test_word_scores_conserve_the_context_tokens_scores(tiny_bert_dir: str, tiny_roberta_dir: str) -> None:
    for model in (tiny_bert_dir, tiny_roberta_dir):
        explanation = core.explain(QUESTION, CONTEXT, model, methods=("gradient_x_input",))
        words = context_words(CONTEXT)
        alignment = align(explanation, words)
        scores = token_importance(explanation, "gradient_x_input")
        covered = [
            i
            for i, (role, (first, last)) in enumerate(zip(explanation.roles, explanation.offsets, strict=True))
            if role == "context" and last > first
        ]
        # Every non-empty context token lands on at least one word, its shares summing to 1.
        shares: dict[int, float] = {}
        for positions, weights in zip(alignment.tokens, alignment.weights, strict=True):
            for position, weight in zip(positions, weights, strict=True):
                shares[position] = shares.get(position, 0.0) + weight
        assert sorted(shares) == covered
        assert all(share == pytest.approx(1.0) for share in shares.values())
        assert alignment.word_scores(scores).sum() == pytest.approx(scores[covered].sum(), rel=1e-6, abs=1e-9)
        # Word <-> token round trip.
        munchen = next(w.index for w in words if w.text == "München")
        positions = alignment.tokens_of([munchen])
        # (byte-level BPE may give "ü" two byte tokens with the same character span: compare spans, not strings)
        word = words[munchen]
        spans = [explanation.offsets[p] for p in positions]
        assert (min(s for s, _ in spans), max(e for _, e in spans)) == (word.start_char, word.end_char)
        assert alignment.words_of(positions) == [munchen]


def test_agreement_is_spearman_over_shared_words(comparison: core.Comparison) -> None:
    names = comparison.names
    for name in comparison.explainers:
        (pair,) = comparison.agreement[name]
        assert (pair.a, pair.b) == (names[0], names[1])
        a, b = (comparison.models[n].word_scores[name] for n in names)
        rho, _p, count = word_agreement(a, b)
        assert pair.spearman == pytest.approx(rho) and pair.words == count == len(comparison.words)
        assert -1.0 <= pair.spearman <= 1.0
        matrix = comparison.agreement_matrix(name)
        np.testing.assert_allclose(matrix, matrix.T)
        np.testing.assert_allclose(np.diag(matrix), 1.0)
    payload = json.loads(json.dumps(comparison.to_dict(), allow_nan=False))
    assert set(payload["agreement"]) == set(core.DEFAULT_METHODS)
    assert {"a", "b", "spearman", "p_value", "words"} == set(payload["agreement"]["gradient"][0])
    assert payload["same_answer"] == comparison.same_answer()


def test_words_outside_a_window_have_no_score(tiny_bert_dir: str, minilm_qa_dir: str) -> None:
    # 128 tokens for the tiny model, 384 for MiniLM: only MiniLM sees the whole context.
    context = " ".join(BUILTIN_SENTENCES[:9])
    comparison = core.compare_models(
        "Where does the Amazon River end?", context, [tiny_bert_dir, minilm_qa_dir], ["gradient"]
    )
    tiny, minilm = (comparison.models[name] for name in comparison.names)
    assert all(minilm.alignment.in_window)
    assert not all(tiny.alignment.in_window)
    missing = np.isnan(tiny.word_scores["gradient"])
    assert missing.any() and not np.isnan(minilm.word_scores["gradient"]).any()
    (pair,) = comparison.agreement["gradient"]
    assert pair.words == int((~missing).sum())
    assert comparison.to_dict()["models"][comparison.names[0]]["word_saliency"]["gradient"].count(None) == missing.sum()


def test_same_model_twice_gets_two_names(tiny_bert_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=("gradient",))
    comparison = core.compare_explanations([explanation, explanation])
    assert comparison.names == [tiny_bert_dir, f"{tiny_bert_dir}#2"]
    assert comparison.agreement["gradient"][0].spearman == pytest.approx(1.0)
    assert comparison.same_answer()
    other = core.explain("Who said it?", CONTEXT, tiny_bert_dir, methods=("gradient",))
    with pytest.raises(ValueError, match="same question"):
        core.compare_explanations([explanation, other])
