"""core.explain end to end on every architecture: the answer, its tokens, per-layer logits and the result cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import core
from core.explain import clear_cache

QUESTION = "Who moved to München in 2015?"
CONTEXT = "Jürgen moved to München in 2015; he said the café near 東京 station (Ελλάδα Street) was great 🎉!"


def test_explain_runs_on_every_architecture(tiny_qa_dir: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    explanation = core.explain(QUESTION, CONTEXT, tiny_qa_dir)
    n = explanation.num_tokens
    assert explanation.model == tiny_qa_dir
    assert explanation.model_type == loaded.model_type
    assert explanation.question == QUESTION and explanation.context == CONTEXT
    assert len(explanation.roles) == len(explanation.offsets) == len(explanation.word_ids) == n
    assert explanation.tokens == loaded.tokenizer.convert_ids_to_tokens(
        loaded.tokenizer(QUESTION, CONTEXT)["input_ids"]
    )
    assert (explanation.num_windows, explanation.window_index) == (1, 0)
    assert explanation.attentions.shape == (2, 4, n, n)
    np.testing.assert_allclose(explanation.attentions.sum(axis=-1), 1.0, atol=1e-5)
    for name in ("start_logits", "end_logits", "start_probs", "end_probs"):
        values = getattr(explanation, name)
        assert values.shape == (n,) and np.isfinite(values).all(), name
    np.testing.assert_allclose(explanation.start_probs.sum(), 1.0, rtol=1e-5)
    np.testing.assert_allclose(explanation.end_probs.sum(), 1.0, rtol=1e-5)
    for method in core.DEFAULT_METHODS:
        for target in core.TARGETS:
            values = explanation.saliency[method][target]
            assert values.shape == (n,) and values.dtype == np.float32 and np.isfinite(values).all()
    answer = explanation.answer
    assert answer == explanation.top_k[0]
    assert answer.text and answer.text == CONTEXT[answer.start_char : answer.end_char]
    assert 0 <= answer.start_token < answer.end_token <= n
    assert all(role == "context" for role in explanation.roles[answer.start_token : answer.end_token])
    assert explanation.offsets[answer.start_token][0] == answer.start_char
    assert explanation.offsets[answer.end_token - 1][1] == answer.end_char
    # The answer is the best span by the probabilities the explanation itself carries.
    assert answer.score == pytest.approx(
        float(explanation.start_probs[answer.start_token] * explanation.end_probs[answer.end_token - 1]), rel=1e-5
    )
    assert set(explanation.timings) >= {"encode", "forward", "total"}


def test_explain_logits_are_the_models_logits(tiny_qa_dir: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    explanation = core.explain(QUESTION, CONTEXT, loaded, methods=())
    inputs = loaded.tokenizer(QUESTION, CONTEXT, return_tensors="pt")
    with torch.no_grad():
        output = loaded.model(**inputs)
    np.testing.assert_allclose(explanation.start_logits, output.start_logits[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(explanation.end_logits, output.end_logits[0].numpy(), atol=1e-5)


def test_last_layer_logits_are_the_model_output(tiny_qa_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, tiny_qa_dir, methods=())
    layers = explanation.num_layers
    assert (
        explanation.layer_start_logits.shape
        == explanation.layer_end_logits.shape
        == (
            layers + 1,
            explanation.num_tokens,
        )
    )
    np.testing.assert_allclose(explanation.layer_start_logits[-1], explanation.start_logits, atol=1e-5)
    np.testing.assert_allclose(explanation.layer_end_logits[-1], explanation.end_logits, atol=1e-5)
    # Earlier layers are different read-outs, not copies of the last.
    assert not np.allclose(explanation.layer_start_logits[0], explanation.start_logits, atol=1e-3)
    spans = explanation.layer_spans()
    assert [layer for layer, _, _ in spans] == list(range(layers + 1))
    for _, start, end in spans:
        assert start < end and all(r == "context" for r in explanation.roles[start:end])


def test_last_layer_logits_on_real_minilm_weights(minilm_qa_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, minilm_qa_dir, methods=())
    assert explanation.attentions.shape[:2] == (6, 12)
    np.testing.assert_allclose(explanation.layer_start_logits[-1], explanation.start_logits, atol=1e-4)
    np.testing.assert_allclose(explanation.layer_end_logits[-1], explanation.end_logits, atol=1e-4)


class ForwardCounter:
    """Counts forward passes of a model through a forward hook."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.calls = 0
        self.handle = model.register_forward_hook(self._hook)

    def _hook(self, *args: object) -> None:
        self.calls += 1


def test_explain_twice_returns_the_cached_result_without_a_forward_pass(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    clear_cache()
    counter = ForwardCounter(loaded.model)
    try:
        first = core.explain(QUESTION, CONTEXT, tiny_bert_dir)
        computed = counter.calls
        assert computed > 0
        second = core.explain(QUESTION, CONTEXT, tiny_bert_dir)
        assert counter.calls == computed
        assert second is first
        # Surrounding whitespace in the question does not defeat the cache (the question is stripped).
        assert core.explain(f"  {QUESTION}\n", CONTEXT, tiny_bert_dir) is first
        # A subset of the cached methods is served from the cache too.
        assert core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=("gradient",)) is first
        assert counter.calls == computed
        # Different settings are a different explanation.
        other = core.explain(QUESTION, CONTEXT, tiny_bert_dir, top_k=2)
        assert counter.calls > computed
        assert other is not first and len(other.top_k) == 2
        # use_cache=False always recomputes.
        before = counter.calls
        fresh = core.explain(QUESTION, CONTEXT, tiny_bert_dir, use_cache=False)
        assert counter.calls > before
        assert fresh is not first and fresh.answer == first.answer
        assert np.array_equal(fresh.attentions, first.attentions)
    finally:
        counter.handle.remove()


def test_cached_explanation_gains_methods_without_recomputing_the_answer(tiny_distilbert_dir: str) -> None:
    loaded = core.load_model(tiny_distilbert_dir)
    clear_cache()
    quick = core.explain(QUESTION, CONTEXT, loaded, methods=())
    counter = ForwardCounter(loaded.model)
    try:
        full = core.explain(QUESTION, CONTEXT, loaded, methods=("gradient",))
        assert counter.calls == 1  # one captum Saliency pass, no new answer forward
        assert full.answer == quick.answer
        assert np.array_equal(full.attentions, quick.attentions)
        assert core.explain(QUESTION, CONTEXT, loaded, methods=("gradient",)) is full
        assert counter.calls == 1
    finally:
        counter.handle.remove()


def test_clear_cache_forces_a_recomputation(tiny_bert_dir: str) -> None:
    first = core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=())
    clear_cache()
    second = core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=())
    assert second is not first
    assert second.answer == first.answer and np.array_equal(second.start_logits, first.start_logits)


@pytest.mark.parametrize("top_k", [0, -1])
def test_bad_top_k_is_refused(tiny_bert_dir: str, top_k: int) -> None:
    with pytest.raises(ValueError, match="top_k"):
        core.explain(QUESTION, CONTEXT, tiny_bert_dir, top_k=top_k)


def test_explain_with_a_missing_model_raises_model_load_error(tmp_path: object) -> None:
    missing = f"{tmp_path}/nothing-here"
    with pytest.raises(core.ModelLoadError, match="nothing-here"):
        core.explain(QUESTION, CONTEXT, missing)


def test_the_explanation_cache_is_bounded_in_bytes(tiny_bert_dir: str) -> None:
    from core.explanation_cache import ExplanationCache, explanation_bytes

    first = core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=(), use_cache=False)
    size = explanation_bytes(first)
    assert size >= first.attentions.nbytes > 0
    cache = ExplanationCache(limit=int(size * 2.5))
    for index in range(4):
        cache.put(("key", index), first)
    info = cache.info()
    assert info["entries"] == 2 and info["bytes"] == 2 * size <= info["limit"]
    assert cache.get(("key", 0)) is None and cache.get(("key", 3)) is first  # least recently used went first
    cache.get(("key", 2))
    cache.put(("key", 4), first)
    assert cache.get(("key", 2)) is first and cache.get(("key", 3)) is None
    cache.set_limit(size - 1)  # smaller than one explanation: nothing is kept
    assert cache.info()["entries"] == 0 and cache.info()["bytes"] == 0
    cache.put(("key", 5), first)
    assert cache.get(("key", 5)) is None
