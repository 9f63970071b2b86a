"""core.trust.heads: head ablation through output-projection gates, and gradient head importance."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

import core
from core.examples import load_examples
from core.explain import answer_window
from core.inputs import batch_inputs
from core.passes import HeadGates, output_projections
from core.progress import Cancelled
from core.trust.heads import ablation_masks, head_gradients, head_importance, masked_answer_scores

QUESTION = "Who designed the Eiffel Tower?"
CONTEXT = (
    "The Eiffel Tower was completed in 1889 and is 330 metres tall. It was designed by the engineer "
    "Gustave Eiffel, whose company built it for the World's Fair in Paris."
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _with_zeroed_heads(loaded: core.LoadedModel, heads: list[tuple[int, int]]) -> core.LoadedModel:
    """A copy of the model whose output projections ignore the given heads: their weight columns are zero.

    The reference for masking: a projection of the concatenated heads with head h's columns zeroed is the
    projection of the heads with head h's output zeroed. (ALBERT's one shared projection: every layer at once.)
    """
    model = copy.deepcopy(loaded.model)
    clone = core.LoadedModel(loaded.name, model, loaded.tokenizer, loaded.device, loaded.max_length)
    projections = output_projections(clone)
    width = projections[0].in_features // loaded.num_heads
    with torch.no_grad():
        for layer, head in heads:
            projections[layer].weight[:, head * width : (head + 1) * width] = 0.0
    return clone


def _answer_scores(loaded: core.LoadedModel, explanation: core.Explanation) -> tuple[float, float, float]:
    """The answer's p_start * p_end, start logit and end logit from one plain (eager) forward of its window."""
    window = answer_window(loaded, explanation)
    with torch.no_grad():
        output = loaded.model(**batch_inputs(loaded, [window]))
    start, last = explanation.answer.start_token, explanation.answer.end_token - 1
    starts, ends = output.start_logits[0].double(), output.end_logits[0].double()
    probability = torch.softmax(starts, -1)[start] * torch.softmax(ends, -1)[last]
    return float(probability), float(starts[start]), float(ends[last])


@pytest.mark.parametrize("architecture", ["bert", "distilbert", "roberta", "electra"])
def test_ablating_a_head_equals_a_forward_with_that_head_zeroed(
    tiny_model_dirs: dict[str, str], architecture: str
) -> None:
    directory = tiny_model_dirs[architecture]
    explanation = core.explain(QUESTION, CONTEXT, directory, methods=())
    loaded = core.load_model(directory)
    importance = head_importance(explanation)
    layers, heads = explanation.num_layers, explanation.num_heads
    assert importance.ablation.shape == importance.gradient.shape == (layers, heads)
    # Masking no head is the explanation's own answer probability (SDPA here, eager there: float noise only).
    assert importance.probability == pytest.approx(explanation.answer.score, rel=1e-5)
    _, base_start, base_end = _answer_scores(loaded, explanation)
    for layer, head in [(0, 0), (layers - 1, heads - 1), (0, heads // 2)]:
        probability, start_logit, end_logit = _answer_scores(_with_zeroed_heads(loaded, [(layer, head)]), explanation)
        assert importance.probability - importance.ablation[layer, head] == pytest.approx(probability, rel=1e-5)
        assert importance.ablation_logits["start"][layer, head] == pytest.approx(base_start - start_logit, abs=1e-5)
        assert importance.ablation_logits["end"][layer, head] == pytest.approx(base_end - end_logit, abs=1e-5)
    # The model is left as it was found: no hooks, eager attention.
    assert all(not module._forward_pre_hooks for module in output_projections(loaded))
    assert loaded.model.config._attn_implementation == "eager"


def test_albert_shares_one_projection_and_is_gated_per_layer(tiny_model_dirs: dict[str, str]) -> None:
    explanation = core.explain(QUESTION, CONTEXT, tiny_model_dirs["albert"], methods=())
    loaded = core.load_model(tiny_model_dirs["albert"])
    assert len(output_projections(loaded)) == 1 < explanation.num_layers
    window = answer_window(loaded, explanation)
    start, end = explanation.answer.start_token, explanation.answer.end_token
    layers, heads = explanation.num_layers, explanation.num_heads
    every_layer = torch.ones(1, layers, heads)
    every_layer[:, :, 1] = 0.0
    scores = masked_answer_scores(loaded, window, start, end, every_layer)
    reference, _, _ = _answer_scores(_with_zeroed_heads(loaded, [(0, 1)]), explanation)
    assert scores.probability[0] == pytest.approx(reference, rel=1e-5)
    # Per layer, the gates differ: masking head 1 in layer 0 only is neither nothing nor every layer.
    importance = head_importance(explanation)
    one_layer = importance.probability - importance.ablation[0, 1]
    assert one_layer != pytest.approx(importance.probability, rel=1e-6)
    assert one_layer != pytest.approx(reference, rel=1e-6)


def test_batched_equals_unbatched_and_progress_is_reported(tiny_bert_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=())
    reports: list[tuple[str, float]] = []
    batched = head_importance(explanation, progress=lambda stage, fraction: reports.append((stage, fraction)))
    for batch_size in (1, 3):
        unbatched = head_importance(explanation, batch_size=batch_size)
        np.testing.assert_allclose(unbatched.ablation, batched.ablation, rtol=1e-5, atol=1e-10)
        for target in ("start", "end"):
            np.testing.assert_allclose(
                unbatched.ablation_logits[target], batched.ablation_logits[target], rtol=1e-5, atol=1e-6
            )
        np.testing.assert_array_equal(unbatched.gradient, batched.gradient)
    ablation = [fraction for stage, fraction in reports if stage == "ablation"]
    assert ablation[0] == 0.0 and ablation[-1] == 1.0 and ablation == sorted(ablation)
    assert [stage for stage, _ in reports][-2:] == ["gradient", "done"]

    def cancel(stage: str, fraction: float) -> None:
        if fraction > 0:
            raise Cancelled

    with pytest.raises(Cancelled):
        head_importance(explanation, progress=cancel)
    loaded = core.load_model(tiny_bert_dir)
    assert all(not module._forward_pre_hooks for module in output_projections(loaded))


def test_gradient_equals_a_finite_difference_of_the_gate(tiny_bert_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=())
    loaded = core.load_model(tiny_bert_dir)
    # In float64 the central difference is exact to ~1e-9, so the check is tight.
    model = copy.deepcopy(loaded.model).double()
    exact = core.LoadedModel(loaded.name, model, loaded.tokenizer, loaded.device, loaded.max_length)
    window = answer_window(exact, explanation)
    start, end = explanation.answer.start_token, explanation.answer.end_token
    gradient = head_gradients(exact, window, start, end)
    step = 1e-4
    for layer, head in [(0, 2), (1, 1)]:
        gates = torch.ones(2, explanation.num_layers, explanation.num_heads, dtype=torch.float64)
        gates[0, layer, head], gates[1, layer, head] = 1 + step, 1 - step
        probability = masked_answer_scores(exact, window, start, end, gates).probability
        difference = (np.log(probability[0]) - np.log(probability[1])) / (2 * step)
        assert gradient[layer, head] == pytest.approx(difference, rel=1e-6, abs=1e-9)
        # d p / d m is p times it.
        p = masked_answer_scores(exact, window, start, end, torch.ones(1, *gates.shape[1:])).probability[0]
        assert p * gradient[layer, head] == pytest.approx((probability[0] - probability[1]) / (2 * step), rel=1e-6)
    # The float32 model's importance is the magnitude of the same gradient.
    importance = head_importance(explanation)
    np.testing.assert_allclose(importance.gradient, np.abs(gradient), rtol=1e-3, atol=1e-6)
    np.testing.assert_array_equal(importance.gradient, np.abs(importance.gradient_signed))


def test_head_gates_refuse_a_mask_of_the_wrong_shape(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    explanation = core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=())
    window = answer_window(loaded, explanation)
    with pytest.raises(ValueError, match=r"\[batch, 2, 4\]"):
        masked_answer_scores(loaded, window, 1, 2, torch.ones(3, 2, 5))
    with HeadGates(loaded) as gates, pytest.raises(ValueError, match="head mask"):
        gates.forward({}, torch.ones(2, 4))
    assert ablation_masks(2, 3)[1 + 1 * 3 + 2].tolist() == [[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]]


def test_a_trained_answer_hangs_on_few_heads_and_both_measures_agree(minilm_probe_dir: str) -> None:
    example = next(e for e in load_examples() if e.id == "estrand-01")
    explanation = core.explain(example.question, example.context, minilm_probe_dir, methods=())
    importance = head_importance(explanation)
    assert importance.ablation.shape == (6, 12)
    assert importance.probability == pytest.approx(explanation.answer.score, rel=1e-5)
    [(layer, head, drop)] = importance.top_heads(1)
    # One head carries most of the answer: masking it alone takes away most of its probability.
    assert drop > 0.5 * importance.probability
    assert (layer, head) in [(lh[0], lh[1]) for lh in importance.top_heads(3, by="gradient")]
    assert importance.spearman > 0.3 and importance.spearman_pvalue < 0.01
    payload = json.loads(json.dumps(importance.to_dict(), allow_nan=False))
    assert np.array(payload["ablation"]).shape == (6, 12)
    assert set(payload["seconds"]) == {"ablation", "gradient", "total"}
    assert payload["settings"]["attention"] == "sdpa"
