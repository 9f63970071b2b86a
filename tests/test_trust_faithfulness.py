"""core.trust.faithfulness: deletion/insertion curves, AOPC, ERASER scores, the random baseline, batching."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertForQuestionAnswering

import core
from core.explain import answer_window
from core.trust.faithfulness import (
    ERASER_FRACTIONS,
    FRACTIONS,
    HIGHER_IS_BETTER,
    METRICS,
    RANDOM,
    replacement,
    span_probabilities,
)
from core.trust.importance import DEFAULT_EXPLAINERS, importance_order, token_importance

QUESTION = "Who designed the tower?"
CONTEXT = "The Eiffel Tower was completed in 1889 and is 330 metres tall. It was designed by Gustave Eiffel's company."
DECISIVE_WORD = "by"


@pytest.fixture(scope="module")
def explained(tiny_qa_dir: str) -> core.Explanation:
    return core.explain(QUESTION, CONTEXT, tiny_qa_dir, ig_max_steps=8)


@pytest.fixture(scope="module")
def report(explained: core.Explanation) -> core.FaithfulnessReport:
    return core.trust.faithfulness(explained)


@pytest.fixture(scope="module")
def bert_explained(tiny_bert_dir: str) -> core.Explanation:
    """One architecture is enough for the checks that do not depend on the tokenizer or the model."""
    return core.explain(QUESTION, CONTEXT, tiny_bert_dir, ig_max_steps=8)


def build_decisive_model(directory: Path, source: str, word: str = DECISIVE_WORD, scale: float = 4.0) -> str:
    """A 1-layer BERT whose answer is decided by one token: ``word``, and nothing else.

    By hand: every word embedding is 0 on dimensions 0 and 1 except ``word``'s (+1 and -1); every
    position shares one embedding that is 0 there too (and makes the embedding LayerNorm
    non-homogeneous, so gradient x input and integrated gradients see the token); the layer's
    attention and feed-forward outputs are zeroed, so each token's last hidden state depends on that
    token alone; the QA head reads ``scale * (h0 - h1)`` for both start and end. So the start and
    end logits are 0 at every position but ``word``'s, where they are about 9: the answer is
    ``word``, with probability about 0.98, and with ``word`` replaced by [MASK] every logit is 0.
    """
    tokenizer = AutoTokenizer.from_pretrained(source)
    decisive = tokenizer.convert_tokens_to_ids(word)
    assert decisive != tokenizer.unk_token_id
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=128,
        type_vocab_size=2,
        pad_token_id=tokenizer.pad_token_id,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = BertForQuestionAnswering(config)
    with torch.no_grad():
        embeddings = model.bert.embeddings
        embeddings.word_embeddings.weight[:, :2] = 0.0
        embeddings.word_embeddings.weight[decisive, 0] = 1.0
        embeddings.word_embeddings.weight[decisive, 1] = -1.0
        shared = torch.randn(32, generator=torch.Generator().manual_seed(1))
        shared[:2] = 0.0
        embeddings.position_embeddings.weight.copy_(shared.expand_as(embeddings.position_embeddings.weight))
        embeddings.token_type_embeddings.weight.zero_()
        layer = model.bert.encoder.layer[0]
        for dense in (layer.attention.output.dense, layer.output.dense):
            dense.weight.zero_()
            dense.bias.zero_()
        head = torch.zeros(2, 32)
        head[:, 0], head[:, 1] = scale, -scale
        model.qa_outputs.weight.copy_(head)
        model.qa_outputs.bias.zero_()
    model.save_pretrained(str(directory), safe_serialization=True)
    tokenizer.save_pretrained(str(directory))
    return str(directory)


@pytest.fixture(scope="module")
def decisive_dir(tmp_path_factory: pytest.TempPathFactory, tiny_bert_dir: str) -> str:
    return build_decisive_model(tmp_path_factory.mktemp("decisive"), tiny_bert_dir)


def test_curves_start_and_end_where_they_must(
    report: core.FaithfulnessReport, explained: core.Explanation, tiny_qa_dir: str
) -> None:
    loaded = core.load_model(tiny_qa_dir)
    assert report.fractions == list(FRACTIONS)
    assert report.eraser_fractions == list(ERASER_FRACTIONS)
    assert list(report.explainers) == [*DEFAULT_EXPLAINERS, RANDOM]
    # The original probability is the answer's own score (SDPA here, eager in explain: float noise only).
    assert report.original_probability == pytest.approx(explained.answer.score, rel=1e-4)
    # The empty probability, computed independently with a plain eager forward pass.
    window = answer_window(loaded, explained)
    ids = torch.tensor([window.input_ids])
    context = torch.tensor([role == "context" for role in window.roles])
    ids[0, context] = loaded.tokenizer.mask_token_id
    kwargs = {"token_type_ids": torch.tensor([window.token_type_ids])} if window.token_type_ids else {}
    with torch.no_grad():
        output = loaded.model(input_ids=ids, **kwargs)
    start, end = explained.answer.start_token, explained.answer.end_token
    expected_empty = float(
        torch.softmax(output.start_logits[0].double(), -1)[start]
        * torch.softmax(output.end_logits[0].double(), -1)[end - 1]
    )
    assert report.empty_probability == pytest.approx(expected_empty, rel=1e-4)
    for name, item in report.explainers.items():
        assert len(item.deletion) == len(item.insertion) == len(FRACTIONS), name
        assert item.deletion[0] == pytest.approx(report.original_probability, rel=1e-9)
        assert item.deletion[-1] == pytest.approx(report.empty_probability, rel=1e-9)
        assert item.insertion[0] == pytest.approx(report.empty_probability, rel=1e-9)
        assert item.insertion[-1] == pytest.approx(report.original_probability, rel=1e-9)
        # The scores are what the module docstring says they are.
        p_orig, p_empty = report.original_probability, report.empty_probability
        assert item.deletion_aopc == pytest.approx(np.mean(p_orig - np.array(item.deletion)))
        assert item.insertion_aopc == pytest.approx(np.mean(np.array(item.insertion) - p_empty))
        assert item.comprehensiveness == pytest.approx(np.mean(item.comprehensiveness_at))
        assert item.sufficiency == pytest.approx(np.mean(item.sufficiency_at))
        assert sorted(item.order) == sorted(i for i, r in enumerate(explained.roles) if r == "context")


def test_removal_uses_the_mask_token_and_keeps_positions(report: core.FaithfulnessReport, tiny_qa_dir: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    assert (report.replacement_id, report.replacement_token) == (
        loaded.tokenizer.mask_token_id,
        loaded.tokenizer.mask_token,
    )
    assert replacement(loaded) == (report.replacement_id, report.replacement_token)
    assert report.settings()["replacement_token"] == loaded.tokenizer.mask_token
    # The model is back on eager attention (the dashboard's attention maps need it).
    assert loaded.model.config._attn_implementation == "eager"


def test_identical_inputs_run_once_in_batches(report: core.FaithfulnessReport) -> None:
    count = report.num_context_tokens
    distinct_ks = {math.ceil(f * count - 1e-9) for f in [*FRACTIONS, *ERASER_FRACTIONS]}
    orders = len(DEFAULT_EXPLAINERS) + report.random_orders
    # At most: both ends shared by all, every other (order, k) once for deletion and once for insertion.
    assert report.forward_passes <= 2 + orders * 2 * (len(distinct_ks) - 2)
    assert report.forward_passes < report.inputs_requested
    assert report.batches == math.ceil(report.forward_passes / 16)


def test_batch_size_does_not_change_the_numbers(bert_explained: core.Explanation) -> None:
    explained = bert_explained
    few = {"explainers": ["gradient"], "random_orders": 1, "fractions": (0.25, 0.5), "eraser_fractions": (0.1,)}
    one = core.trust.faithfulness(explained, batch_size=1, **few)
    many = core.trust.faithfulness(explained, batch_size=64, **few)
    assert one.batches == one.forward_passes and many.batches == 1
    for name in one.explainers:
        np.testing.assert_allclose(one.explainers[name].deletion, many.explainers[name].deletion, rtol=1e-5)
        np.testing.assert_allclose(one.explainers[name].insertion, many.explainers[name].insertion, rtol=1e-5)


def test_bfloat16_passes_stay_close_to_float32_and_are_recorded(bert_explained: core.Explanation) -> None:
    few = {"explainers": ["gradient"], "random_orders": 1, "fractions": (0.25, 0.5), "eraser_fractions": (0.1,)}
    exact = core.trust.faithfulness(bert_explained, **few)
    fast = core.trust.faithfulness(bert_explained, precision="bfloat16", **few)
    assert exact.settings()["precision"] == "float32" and fast.settings()["precision"] == "bfloat16"
    assert fast.forward_passes == exact.forward_passes
    assert fast.original_probability == pytest.approx(exact.original_probability, rel=0.05)
    for name in exact.explainers:
        np.testing.assert_allclose(fast.explainers[name].deletion, exact.explainers[name].deletion, rtol=0.05)
        np.testing.assert_allclose(fast.explainers[name].insertion, exact.explainers[name].insertion, rtol=0.05)
    # Not the same numbers: the passes did run in bfloat16.
    assert fast.original_probability != exact.original_probability
    with pytest.raises(ValueError, match="precision"):
        core.trust.faithfulness(bert_explained, precision="float16", **few)  # type: ignore[arg-type]


def test_span_probabilities_of_an_unmasked_row_is_the_answer_score(
    bert_explained: core.Explanation, tiny_bert_dir: str
) -> None:
    explained = bert_explained
    loaded = core.load_model(tiny_bert_dir)
    window = answer_window(loaded, explained)
    rows = np.zeros((2, window.length), dtype=bool)
    rows[1, [i for i, r in enumerate(window.roles) if r == "question"]] = True
    probabilities, batches = span_probabilities(
        loaded, window, rows, explained.answer.start_token, explained.answer.end_token
    )
    assert batches == 1
    assert probabilities[0] == pytest.approx(explained.answer.score, rel=1e-4)
    assert probabilities[1] != pytest.approx(probabilities[0], rel=1e-9)


def test_one_decisive_token_ranks_the_true_order_above_random(decisive_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, decisive_dir, ig_max_steps=16)
    assert explanation.answer.text == DECISIVE_WORD
    decisive = explanation.answer.start_token
    rest = [i for i, role in enumerate(explanation.roles) if role == "context" and i != decisive]
    report = core.trust.faithfulness(explanation, orders={"oracle": [decisive, *rest], "worst": [*rest, decisive]})
    p_orig, p_empty = report.original_probability, report.empty_probability
    assert p_orig > 0.9 and p_empty < 1e-3
    oracle, worst, random = report.explainers["oracle"], report.explainers["worst"], report.explainers[RANDOM]
    # Removing the one token at the first step drops the answer to the floor; keeping it alone restores it.
    np.testing.assert_allclose(oracle.deletion[1:], p_empty, rtol=1e-6)
    np.testing.assert_allclose(oracle.insertion[1:], p_orig, rtol=1e-6)
    assert oracle.beats_random == dict.fromkeys(METRICS, True)
    assert oracle.deletion_aopc > random.deletion_aopc + 0.2
    assert oracle.comprehensiveness > random.comprehensiveness + 0.2
    assert oracle.sufficiency < random.sufficiency - 0.2
    # The same machinery must be able to say "worse than random".
    assert not any(worst.beats_random[m] for m in ("deletion_aopc", "insertion_aopc", "comprehensiveness"))
    assert worst.deletion_aopc < random.deletion_aopc
    # Every saliency method finds the decisive token and so beats random on every metric.
    for method in core.DEFAULT_METHODS:
        assert report.explainers[method].order[0] == decisive, method
        assert report.explainers[method].beats_random == dict.fromkeys(METRICS, True), method
    ranking = report.ranking()
    names = [row["name"] for row in ranking]
    assert names.index("oracle") < names.index(RANDOM) < names.index("worst")
    assert [row["rank"] for row in ranking] == list(range(1, len(ranking) + 1))


def test_ranking_follows_each_metrics_direction(report: core.FaithfulnessReport) -> None:
    rows = report.ranking()
    assert [row["mean_rank"] for row in rows] == sorted(row["mean_rank"] for row in rows)
    best_sufficiency = min(report.explainers.values(), key=lambda item: item.sufficiency).name
    best_deletion = max(report.explainers.values(), key=lambda item: item.deletion_aopc).name
    assert HIGHER_IS_BETTER == {
        "deletion_aopc": True,
        "insertion_aopc": True,
        "comprehensiveness": True,
        "sufficiency": False,
    }
    # A row that is best on a metric can only improve the mean rank: check via the per-metric ranks.
    by_name = {row["name"]: row for row in rows}
    assert by_name[best_sufficiency]["sufficiency"] == min(row["sufficiency"] for row in rows)
    assert by_name[best_deletion]["deletion_aopc"] == max(row["deletion_aopc"] for row in rows)
    assert by_name[RANDOM]["beats_random"] is None


def test_importance_combines_start_and_end(bert_explained: core.Explanation) -> None:
    explained = bert_explained
    ig = explained.saliency["integrated_gradients"]
    np.testing.assert_allclose(token_importance(explained, "integrated_gradients"), ig["start"] + ig["end"], rtol=1e-6)
    np.testing.assert_allclose(
        token_importance(explained, "integrated_gradients", "absolute"),
        np.abs(ig["start"]) + np.abs(ig["end"]),
        rtol=1e-6,
    )
    scores = np.array([0.0, 3.0, 1.0, 3.0, -2.0])
    assert importance_order(scores, [1, 2, 3, 4]).tolist() == [1, 3, 2, 4]
    rollout = token_importance(explained, "attention_rollout")
    assert rollout.shape == (explained.num_tokens,) and (rollout >= 0).all()


def test_bad_arguments_are_refused(bert_explained: core.Explanation) -> None:
    explained = bert_explained
    with pytest.raises(ValueError, match="Fractions"):
        core.trust.faithfulness(explained, fractions=[0.5, 1.5])
    with pytest.raises(ValueError, match="Unknown explainer"):
        core.trust.faithfulness(explained, explainers=["deeplift"])
    with pytest.raises(ValueError, match="permutation"):
        core.trust.faithfulness(explained, explainers=["gradient"], orders={"bad": [0, 1]})
    partial = explained.replace(saliency={"gradient": explained.saliency["gradient"]})
    with pytest.raises(KeyError):
        core.trust.faithfulness(partial, explainers=["integrated_gradients"], compute_missing=False)
    only = core.trust.faithfulness(partial, compute_missing=False, random_orders=1)
    assert "integrated_gradients" not in only.explainers and "gradient" in only.explainers


def test_to_dict_is_json_ready(report: core.FaithfulnessReport) -> None:
    import json

    payload = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(payload["explainers"]) == {*DEFAULT_EXPLAINERS, RANDOM}
    for item in payload["explainers"].values():
        assert {"deletion_aopc", "insertion_aopc", "comprehensiveness", "sufficiency"} <= set(item)
    assert payload["forward_passes"] == report.forward_passes
    assert payload["settings"]["replacement_token"] == report.replacement_token
