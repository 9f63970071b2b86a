"""core.trust.sanity: cascading model-parameter randomisation (Adebayo et al., 2018) on a copy of the model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import core
from core.trust import sanity as sanity_module
from core.trust.sanity import randomisation_steps, reinitialise

QUESTION = "Who designed the Eiffel Tower?"
CONTEXT = (
    "The Eiffel Tower was completed in 1889 and is 330 metres tall. It was designed by the engineer "
    "Gustave Eiffel, whose company built it for the World's Fair in Paris."
)
GRADIENT_METHODS = ("gradient", "gradient_x_input")


def _weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def test_randomisation_changes_gradient_maps_of_a_real_encoder(minilm_qa_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, minilm_qa_dir, methods=GRADIENT_METHODS)
    loaded = core.load_model(minilm_qa_dir)
    before = _weights(loaded.model)
    report = core.sanity_check(explanation, methods=GRADIENT_METHODS)
    assert report.steps == ["qa_outputs", *(f"layer {i}" for i in range(5, -1, -1)), "embeddings"]
    assert report.flag_step == "layer 0"
    for method in GRADIENT_METHODS:
        values = report.spearman[method]
        assert len(values) == len(report.steps)
        # With the head and every layer random the map has little to do with the original any more.
        assert values[report.steps.index("layer 0")] < 0.5, (method, values)
        assert min(values) < 0.5
    assert report.flagged == []
    # The process-wide model was never touched: same object, same weights, eager attention.
    assert core.load_model(minilm_qa_dir) is loaded
    after = loaded.model.state_dict()
    for name, value in before.items():
        torch.testing.assert_close(after[name], value, rtol=0, atol=0)
    assert loaded.model.config._attn_implementation == "eager"


def test_every_method_and_both_modes_on_a_tiny_model(tiny_bert_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=("gradient",))
    cascading = core.sanity_check(explanation, ig_steps=2)
    assert cascading.methods == list(core.DEFAULT_METHODS)
    assert cascading.steps == ["qa_outputs", "layer 1", "layer 0", "embeddings"]
    assert cascading.positions == [i for i, role in enumerate(explanation.roles) if role != "special"]
    for method in core.DEFAULT_METHODS:
        assert len(cascading.spearman[method]) == len(cascading.spearman_abs[method]) == 4
        assert len(cascading.randomised[method]) == 4
        assert len(cascading.original[method]) == len(cascading.positions)
        # After the embeddings are re-drawn too, nothing of the original map is left.
        assert cascading.spearman[method][-1] < 0.5
    independent = core.sanity_check(explanation, methods=("gradient_x_input",), mode="independent")
    assert independent.mode == "independent" and independent.steps == cascading.steps
    payload = json.loads(json.dumps(cascading.to_dict(), allow_nan=False))
    assert set(payload["spearman"]) == set(core.DEFAULT_METHODS)
    assert "randomised" not in cascading.to_dict(maps=False)
    # Same seed, same numbers.
    again = core.sanity_check(explanation, methods=("gradient_x_input",))
    np.testing.assert_allclose(again.spearman["gradient_x_input"], cascading.spearman["gradient_x_input"])


def test_a_map_that_ignores_the_weights_is_flagged(tiny_bert_dir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    explanation = core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=("gradient",))
    fixed = np.linspace(1.0, 2.0, explanation.num_tokens)
    rng = np.random.default_rng(0)

    def fake(work, window, methods, start, end, ig_steps):  # noqa: ANN001, ANN202
        # "gradient" behaves like an edge detector (the same map whatever the weights);
        # "gradient_x_input" like a real explanation of a random model (a new map each time).
        return {
            "gradient": {"start": fixed, "end": fixed},
            "gradient_x_input": {"start": rng.normal(size=len(fixed)), "end": rng.normal(size=len(fixed))},
        }

    monkeypatch.setattr(sanity_module, "_saliency", fake)
    report = core.sanity_check(explanation, methods=GRADIENT_METHODS)
    assert report.flagged == ["gradient"]
    assert report.spearman["gradient"] == pytest.approx([1.0] * len(report.steps))


def test_steps_cover_every_architecture_and_reinitialise_in_place(tiny_qa_dir: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    steps = randomisation_steps(loaded.model)
    assert [label for label, _ in steps] == ["qa_outputs", "layer 1", "layer 0", "embeddings"]
    import copy

    clone = copy.deepcopy(loaded.model)
    head = dict(randomisation_steps(clone))["qa_outputs"]
    old = head.weight.detach().clone()
    reinitialise(head, 0.02, torch.Generator().manual_seed(0))
    assert not torch.equal(head.weight, old)
    assert torch.count_nonzero(head.bias) == 0
    torch.testing.assert_close(loaded.model.qa_outputs.weight, old, rtol=0, atol=0)


def test_bad_arguments_are_refused(tiny_bert_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=("gradient",))
    with pytest.raises(ValueError, match="Unknown"):
        core.sanity_check(explanation, methods=("deeplift",))
    with pytest.raises(ValueError, match="cannot recompute"):
        core.sanity_check(explanation, methods=("lime",))
    with pytest.raises(ValueError, match="mode"):
        core.sanity_check(explanation, mode="sideways")  # type: ignore[arg-type]
