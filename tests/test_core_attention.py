"""core.attention: raw attention from explain() and every aggregation keep rows that sum to 1."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core.attention import (
    HEAD_STATISTICS,
    attention_rollout,
    head_links,
    head_statistics,
    head_thumbnails,
    mean_over_heads,
    merge_attention_to_words,
    merge_scores_to_words,
    question_to_context,
    thumbnail_edges,
    words,
)

QUESTION = "Who moved to München in 2015?"
CONTEXT = "Jürgen moved to München in 2015; he said the café near 東京 station (Ελλάδα Street) was great 🎉!"


@pytest.fixture(scope="module")
def explanation(tiny_qa_dir: str) -> core.Explanation:
    return core.explain(QUESTION, CONTEXT, tiny_qa_dir, methods=("gradient_x_input",))


def _random_attention(rng: np.random.Generator, layers: int, heads: int, tokens: int) -> np.ndarray:
    logits = rng.normal(size=(layers, heads, tokens, tokens)) * 3
    weights = np.exp(logits)
    return (weights / weights.sum(axis=-1, keepdims=True)).astype(np.float32)


def test_explanation_attention_is_layers_heads_tokens_tokens_and_rows_sum_to_one(
    explanation: core.Explanation, tiny_qa_dir: str
) -> None:
    loaded = core.load_model(tiny_qa_dir)
    n = explanation.num_tokens
    assert explanation.attentions.shape == (loaded.num_layers, loaded.num_heads, n, n) == (2, 4, n, n)
    assert explanation.attentions.dtype == np.float32
    assert (explanation.attentions >= 0).all()
    np.testing.assert_allclose(explanation.attentions.sum(axis=-1), 1.0, atol=1e-5)
    # Heads differ (a broadcast or averaged map would make every head the same).
    assert not np.allclose(explanation.attentions[0, 0], explanation.attentions[0, 1])


def test_mean_over_heads(explanation: core.Explanation) -> None:
    mean = mean_over_heads(explanation.attentions)
    assert mean.shape == (2, explanation.num_tokens, explanation.num_tokens)
    np.testing.assert_allclose(mean[1], explanation.attentions[1].astype(np.float64).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(mean.sum(axis=-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(explanation.mean_attention(), mean)


def test_rollout_rows_sum_to_one_and_follow_the_recursion(explanation: core.Explanation) -> None:
    rollout = explanation.rollout()
    n = explanation.num_tokens
    assert rollout.shape == (2, n, n)
    np.testing.assert_allclose(rollout.sum(axis=-1), 1.0, atol=1e-5)
    mean = explanation.attentions.astype(np.float64).mean(axis=1)
    first = 0.5 * mean[0] + 0.5 * np.eye(n)
    second = (0.5 * mean[1] + 0.5 * np.eye(n)) @ first
    np.testing.assert_allclose(rollout[0], first, atol=1e-6)
    np.testing.assert_allclose(rollout[1], second, atol=1e-6)


def test_rollout_of_deep_random_attention_stays_a_distribution() -> None:
    attention = _random_attention(np.random.default_rng(1), layers=12, heads=3, tokens=17)
    rollout = attention_rollout(attention, residual_weight=0.3)
    np.testing.assert_allclose(rollout.sum(axis=-1), 1.0, atol=1e-5)
    assert (rollout >= 0).all()
    # Identity attention (every token looks at itself) rolls out to the identity.
    identity = np.broadcast_to(np.eye(5, dtype=np.float32), (4, 2, 5, 5))
    np.testing.assert_allclose(attention_rollout(identity), np.broadcast_to(np.eye(5), (4, 5, 5)), atol=1e-7)


def test_question_to_context_is_zero_outside_the_context(explanation: core.Explanation) -> None:
    roles = np.array(explanation.roles)
    for layer, head in ((None, None), (0, None), (1, 2)):
        scores = explanation.question_to_context(layer=layer, head=head)
        assert scores.shape == (explanation.num_tokens,)
        assert (scores[roles != "context"] == 0).all()
        assert (scores[roles == "context"] > 0).all()
    # One head of one layer: the mean over question rows of that head's map.
    attention_map = explanation.attentions[1, 2]
    expected = attention_map[roles == "question"][:, roles == "context"].mean(axis=0)
    np.testing.assert_allclose(
        explanation.question_to_context(layer=1, head=2)[roles == "context"], expected, rtol=1e-6
    )
    np.testing.assert_allclose(question_to_context(attention_map, explanation.roles)[roles == "context"], expected)


def test_words_group_pieces_and_keep_each_special_alone(explanation: core.Explanation) -> None:
    groups = explanation.words()
    assert groups[0].start_token == 0 and groups[-1].end_token == explanation.num_tokens
    for left, right in zip(groups, groups[1:], strict=False):
        assert left.end_token == right.start_token
    for group in groups:
        if group.role == "special":
            assert group.end_token - group.start_token == 1
            continue
        text = explanation.context if group.role == "context" else explanation.question
        assert group.text == text[group.start_char : group.end_char]
        ids = {explanation.word_ids[p] for p in range(group.start_token, group.end_token)}
        assert len(ids) == 1
    context_words = [g.text for g in groups if g.role == "context"]
    assert "München" in context_words and "Jürgen" in context_words
    # Fewer words than tokens (some words are several pieces).
    assert len(groups) < explanation.num_tokens


def test_merge_scores_to_words_preserves_sums(explanation: core.Explanation) -> None:
    groups, merged = explanation.saliency_by_word("gradient_x_input", "start")
    scores = explanation.saliency["gradient_x_input"]["start"]
    assert merged.shape == (len(groups),)
    assert merged.sum() == pytest.approx(float(scores.sum()), abs=1e-6)
    for group, value in zip(groups, merged, strict=True):
        assert value == pytest.approx(float(scores[group.start_token : group.end_token].sum()), abs=1e-7)
    np.testing.assert_allclose(merge_scores_to_words(scores, groups), merged)


def test_merge_attention_to_words_keeps_rows_summing_to_one(explanation: core.Explanation) -> None:
    groups = explanation.words()
    for attention_map in (explanation.attentions[0, 3], explanation.rollout()[-1], explanation.mean_attention()[1]):
        merged = merge_attention_to_words(attention_map, groups)
        assert merged.shape == (len(groups), len(groups))
        np.testing.assert_allclose(merged.sum(axis=-1), 1.0, atol=1e-5)
    # To a word: sum over its pieces; from a word: mean over its pieces.
    attention_map = explanation.attentions[1, 0]
    multi = next(g for g in groups if g.end_token - g.start_token > 1)
    single = next(g for g in groups if g.role == "special")
    merged = merge_attention_to_words(attention_map, groups)
    row, col = groups.index(single), groups.index(multi)
    expected = attention_map[single.start_token, multi.start_token : multi.end_token].sum()
    assert merged[row, col] == pytest.approx(float(expected), rel=1e-5)
    expected_from = attention_map[multi.start_token : multi.end_token, single.start_token].mean()
    assert merged[col, row] == pytest.approx(float(expected_from), rel=1e-5)


def test_words_from_plain_lists() -> None:
    question, context = "who", "ab cd"
    groups = words(
        tokens=["[CLS]", "who", "[SEP]", "a", "##b", "cd", "[SEP]"],
        roles=["special", "question", "special", "context", "context", "context", "special"],
        word_ids=[None, 0, None, 0, 0, 1, None],
        offsets=[(0, 0), (0, 3), (0, 0), (0, 1), (1, 2), (3, 5), (0, 0)],
        question=question,
        context=context,
    )
    assert [(g.text, g.start_token, g.end_token) for g in groups] == [
        ("[CLS]", 0, 1),
        ("who", 1, 2),
        ("[SEP]", 2, 3),
        ("ab", 3, 5),
        ("cd", 5, 6),
        ("[SEP]", 6, 7),
    ]


def _one_hot_rows(targets: list[int]) -> np.ndarray:
    """``[1, 1, tokens, tokens]`` attention where row ``i`` attends only to ``targets[i]``."""
    count = len(targets)
    attention = np.zeros((1, 1, count, count), dtype=np.float32)
    attention[0, 0, np.arange(count), targets] = 1.0
    return attention


def test_head_statistics_by_hand() -> None:
    # [CLS] question context context [SEP]; the answer is tokens 2-3.
    roles = ["special", "question", "context", "context", "special"]
    attention = _one_hot_rows([0, 2, 1, 4, 3])
    stats = head_statistics(attention, roles, range(2, 4))
    assert set(stats) == set(HEAD_STATISTICS)
    assert all(values.shape == (1, 1) for values in stats.values())
    expected = {
        "entropy": 0.0,  # one-hot rows
        "to_cls": 1 / 5,  # row 0
        "to_sep": 1 / 5,  # row 3
        "to_special": 2 / 5,
        "previous": 0.5,  # rows 2 and 4 of rows 1-4
        "question_to_answer": 1.0,  # the one question token looks at the answer
        "answer_to_question": 0.5,  # answer row 2 looks at the question, row 3 at [SEP]
        "answer_to_context": 0.0,
    }
    for name, value in expected.items():
        assert stats[name][0, 0] == pytest.approx(value, abs=1e-6), name
    uniform = np.full((2, 3, 5, 5), 0.2, dtype=np.float32)
    spread = head_statistics(uniform, roles, [2])
    np.testing.assert_allclose(spread["entropy"], 1.0, rtol=1e-5)
    np.testing.assert_allclose(spread["answer_to_context"], 0.4, rtol=1e-5)


def test_head_statistics_of_a_real_explanation_are_shares(explanation: core.Explanation) -> None:
    answer = range(explanation.answer.start_token, explanation.answer.end_token)
    stats = head_statistics(explanation.attentions, explanation.roles, answer)
    for name, values in stats.items():
        assert values.shape == (explanation.num_layers, explanation.num_heads)
        assert ((values >= -1e-6) & (values <= 1 + 1e-6)).all(), name
    np.testing.assert_allclose(stats["to_special"], stats["to_cls"] + stats["to_sep"], rtol=1e-6)


def test_head_thumbnails_are_block_means() -> None:
    rng = np.random.default_rng(0)
    attentions = _random_attention(rng, 2, 3, 21)
    thumbnails = head_thumbnails(attentions, size=8)
    edges = thumbnail_edges(21, 8)
    assert thumbnails.shape == (2, 3, 8, 8) and edges[0] == 0 and edges[-1] == 21
    block = attentions[1, 2, edges[2] : edges[3], edges[5] : edges[6]].mean()
    assert thumbnails[1, 2, 2, 5] == pytest.approx(block, rel=1e-5)
    assert head_thumbnails(attentions[:, :, :4, :4], size=8).shape == (2, 3, 4, 4)  # never larger than the map


def test_head_links_are_light_and_follow_a_selection() -> None:
    rng = np.random.default_rng(1)
    attention = _random_attention(rng, 1, 1, 40)[0, 0]
    links = head_links(attention)
    assert np.bincount(links["source"], minlength=40).max() <= 3 and not links["selected"].any()
    np.testing.assert_array_equal(links["weight"], attention[links["source"], links["target"]])
    chosen = head_links(attention, [7])
    assert len(chosen["source"]) and ((chosen["source"] == 7) | (chosen["target"] == 7)).all()
    assert chosen["selected"].all()
    long = head_links(_random_attention(rng, 1, 1, 200)[0, 0])
    assert np.bincount(long["source"], minlength=200).max() <= 2  # lighter past 128 tokens
