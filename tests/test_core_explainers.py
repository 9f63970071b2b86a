"""The opt-in explainers (smoothgrad, occlusion, LIME, Kernel SHAP), the contrast and null targets and the
integrated-gradients baselines, checked against captum's own calls and against the model run by hand.

References are built here from the tokenizer alone (ids, word groups, the mask token), never from core's
helpers, so a mistake in core's input handling cannot cancel out.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import FeatureAblation, InputXGradient, KernelShap, Lime, NoiseTunnel, Saliency

import core
from core.models import LoadedModel
from core.passes import fast_attention

QUESTION = "Who moved to München in 2015?"
CONTEXT = "Jürgen moved to München in 2015; he said the café near the old station was great."
SHORT_QUESTION = "Where did Jürgen move?"
SHORT_CONTEXT = "Jürgen moved to München in 2015 with his sister."
ROBERTA_LIKE = {"roberta", "xlm-roberta", "camembert"}
FEW = {"lime_samples": 40, "kernel_shap_samples": 40, "smoothgrad_samples": 6}


@dataclasses.dataclass
class Reference:
    """The model's inputs rebuilt from the tokenizer, and the words a perturbation removes."""

    loaded: LoadedModel
    ids: torch.Tensor
    kwargs: dict[str, torch.Tensor]
    words: list[list[int]]
    """Token positions of each question and context word, in order."""

    @property
    def length(self) -> int:
        return int(self.ids.shape[1])

    @property
    def free(self) -> list[int]:
        return [position for word in self.words for position in word]

    def expand(self, batch: int) -> dict[str, torch.Tensor]:
        return {name: value.expand(batch, -1) for name, value in self.kwargs.items()}

    def logits_of_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """``[batch, 2 * tokens]``: start logits then end logits."""
        with torch.no_grad():
            output = self.loaded.model(input_ids=ids, **self.expand(ids.shape[0]))
        return torch.cat([output.start_logits, output.end_logits], dim=-1)

    def logits_of_embeddings(self, embeddings: torch.Tensor) -> torch.Tensor:
        output = self.loaded.model(inputs_embeds=embeddings, **self.expand(embeddings.shape[0]))
        return torch.cat([output.start_logits, output.end_logits], dim=-1)

    def embeddings(self) -> torch.Tensor:
        with torch.no_grad():
            return self.loaded.model.get_input_embeddings()(self.ids)

    def with_words_masked(self, words: list[int]) -> torch.Tensor:
        ids = self.ids.clone()
        for word in words:
            ids[0, self.words[word]] = self.loaded.tokenizer.mask_token_id
        return ids


def _reference(loaded: LoadedModel, explanation: core.Explanation) -> Reference:
    encoded = loaded.tokenizer(explanation.question, explanation.context)
    ids = list(encoded["input_ids"])
    assert loaded.tokenizer.convert_ids_to_tokens(ids) == explanation.tokens
    kwargs = {"attention_mask": torch.ones(1, len(ids), dtype=torch.long)}
    if "token_type_ids" in encoded:
        kwargs["token_type_ids"] = torch.tensor([encoded["token_type_ids"]])
    if loaded.model_type in ROBERTA_LIKE:
        padding_idx = loaded.model.config.pad_token_id
        kwargs["position_ids"] = torch.arange(padding_idx + 1, padding_idx + 1 + len(ids)).unsqueeze(0)
    words: list[list[int]] = []
    previous = None
    for position, (sequence, word) in enumerate(zip(encoded.sequence_ids(), encoded.word_ids(), strict=True)):
        if sequence is None:
            previous = None
            continue
        if (sequence, word) != previous:
            words.append([])
        words[-1].append(position)
        previous = (sequence, word)
    return Reference(loaded, torch.tensor([ids]), kwargs, words)


def _columns(reference: Reference, span: core.Span) -> tuple[int, int]:
    return span.start_token, reference.length + span.end_token - 1


def _scalars(reference: Reference, explanation: core.Explanation, logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every target's scalar from ``[batch, 2 * tokens]`` logits, written out by hand."""
    start, end = _columns(reference, explanation.answer)
    runner_start, runner_end = _columns(reference, explanation.top_k[1])
    answer = logits[:, start] + logits[:, end]
    return {
        "start": logits[:, start],
        "end": logits[:, end],
        "contrast": answer - (logits[:, runner_start] + logits[:, runner_end]),
        "null": logits[:, 0] + logits[:, reference.length] - answer,
    }


def _word_values(explanation: core.Explanation, method: str, target: str) -> np.ndarray:
    words, values = explanation.saliency_by_word(method, target)
    return np.array([v for word, v in zip(words, values, strict=True) if word.role != "special"], dtype=np.float64)


def _even_split(reference: Reference, per_word: np.ndarray) -> np.ndarray:
    scores = np.zeros(reference.length, dtype=np.float64)
    for word, value in zip(reference.words, per_word, strict=True):
        scores[word] = value / len(word)
    return scores.astype(np.float32)


@pytest.fixture(scope="module")
def everything(tiny_bert_dir: str) -> core.Explanation:
    """Every method and every target on the tiny BERT, with few samples."""
    return core.explain(
        QUESTION, CONTEXT, tiny_bert_dir, methods=core.METHODS, targets=("contrast", "null"), use_cache=False, **FEW
    )


def test_occlusion_is_the_drop_when_each_word_is_masked(tiny_qa_dir: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    explanation = core.explain(
        QUESTION, CONTEXT, loaded, methods=("occlusion",), targets=("contrast", "null"), use_cache=False
    )
    reference = _reference(loaded, explanation)
    assert [[w.start_token, w.end_token] for w in explanation.words() if w.role != "special"] == [
        [word[0], word[-1] + 1] for word in reference.words
    ]
    masked = torch.cat([reference.with_words_masked([index]) for index in range(len(reference.words))])
    before = _scalars(reference, explanation, reference.logits_of_ids(reference.ids))
    after = _scalars(reference, explanation, reference.logits_of_ids(masked))
    start, end = explanation.answer.start_token, explanation.answer.end_token - 1

    def probability(ids: torch.Tensor) -> torch.Tensor:
        logits = reference.logits_of_ids(ids).double()
        return (
            torch.log_softmax(logits[:, : reference.length], -1)[:, start]
            + torch.log_softmax(logits[:, reference.length :], -1)[:, end]
        ).exp()

    expected = {target: (before[target] - after[target]).double().numpy() for target in before}
    expected["probability"] = (probability(reference.ids) - probability(masked)).numpy()
    assert set(explanation.saliency["occlusion"]) == {"start", "end", "contrast", "null", "probability"}
    special = np.array(explanation.roles) == "special"
    for target, drops in expected.items():
        ours = explanation.saliency["occlusion"][target]
        scale = float(np.abs(drops).max())
        np.testing.assert_allclose(_word_values(explanation, "occlusion", target), drops, atol=1e-4 * scale + 1e-9)
        np.testing.assert_allclose(ours, _even_split(reference, drops), atol=1e-4 * scale + 1e-9)
        assert (ours[special] == 0).all()
    settings = explanation.method_settings["occlusion"]
    assert settings["replacement_token"] == loaded.tokenizer.mask_token
    assert settings["words"] == len(reference.words) and settings["forward_passes"] == len(reference.words) + 1


def test_occlusion_agrees_with_captum_feature_ablation(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    explanation = core.explain(QUESTION, CONTEXT, loaded, methods=("occlusion",), use_cache=False)
    reference = _reference(loaded, explanation)
    free = reference.free
    feature = torch.tensor([[index for index, word in enumerate(reference.words) for _ in word]])

    def forward(word_ids: torch.Tensor) -> torch.Tensor:
        ids = reference.ids.expand(word_ids.shape[0], -1).clone()
        ids[:, free] = word_ids
        return reference.logits_of_ids(ids)

    inputs = reference.ids[:, free]
    for target, column in zip(("start", "end"), _columns(reference, explanation.answer), strict=True):
        theirs = FeatureAblation(forward).attribute(
            inputs,
            baselines=torch.full_like(inputs, loaded.tokenizer.mask_token_id),
            target=column,
            feature_mask=feature,
            perturbations_per_eval=4,
        )
        per_word = np.array([float(theirs[0, free.index(word[0])]) for word in reference.words])
        scale = float(np.abs(per_word).max())
        np.testing.assert_allclose(_word_values(explanation, "occlusion", target), per_word, atol=1e-4 * scale)


def _lime_kernel(_original: torch.Tensor, _perturbed: torch.Tensor, sample: torch.Tensor, **_: object) -> float:
    kept, total = float(sample.sum()), sample.numel()
    distance = 1.0 - (math.sqrt(kept / total) if kept else 0.0)
    return math.exp(-(distance**2) / (2 * 0.25**2))


@pytest.mark.parametrize("method", ["lime", "kernel_shap"])
def test_lime_and_kernel_shap_equal_captums_own_call_with_the_same_seed(tiny_qa_dir: str, method: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    explanation = core.explain(
        QUESTION, CONTEXT, loaded, methods=(method,), targets=("contrast",), seed=7, use_cache=False, **FEW
    )
    reference = _reference(loaded, explanation)
    free = reference.free
    feature = torch.tensor([[index for index, word in enumerate(reference.words) for _ in word]])
    inputs = reference.ids[:, free]
    settings = explanation.method_settings[method]
    assert settings["seed"] == 7 and settings["n_samples"] == 40 and settings["forward_passes"] == 40
    for target in ("start", "end", "contrast"):

        def forward(word_ids: torch.Tensor, target: str = target) -> torch.Tensor:
            ids = reference.ids.expand(word_ids.shape[0], -1).clone()
            ids[:, free] = word_ids
            return _scalars(reference, explanation, reference.logits_of_ids(ids))[target]

        explainer = (
            Lime(forward, interpretable_model=SkLearnRidge(alpha=1.0), similarity_func=_lime_kernel)
            if method == "lime"
            else KernelShap(forward)
        )
        # The same attention kernel as core's passes (SDPA), so every forward pass is bit-for-bit the same.
        with fast_attention(loaded), torch.random.fork_rng(devices=[]):
            torch.manual_seed(7)
            coefficients = explainer.attribute(
                inputs,
                baselines=torch.full_like(inputs, loaded.tokenizer.mask_token_id),
                feature_mask=feature,
                n_samples=40,
                perturbations_per_eval=settings["batch_size"],
                return_input_shape=False,
            )
        per_word = coefficients.detach().double().numpy().reshape(-1)
        ours = explanation.saliency[method][target]
        if target == "contrast":  # a weighted sum of logits: summed in another order, so float rounding differs
            np.testing.assert_allclose(ours, _even_split(reference, per_word), rtol=1e-4, atol=1e-7)
        else:
            np.testing.assert_array_equal(ours, _even_split(reference, per_word))
            # Summing a word's float32 pieces gives back its value.
            np.testing.assert_allclose(_word_values(explanation, method, target), per_word, rtol=1e-6, atol=1e-12)


def test_kernel_shap_values_add_up_to_the_change_from_all_words_masked(minilm_probe_dir: str) -> None:
    """Shapley values are efficient: on trained weights the words' values sum to F(input) - F(every word masked)."""
    loaded = core.load_model(minilm_probe_dir)
    explanation = core.explain(
        SHORT_QUESTION, SHORT_CONTEXT, loaded, methods=("kernel_shap",), kernel_shap_samples=200, use_cache=False
    )
    reference = _reference(loaded, explanation)
    everything_masked = reference.with_words_masked(list(range(len(reference.words))))
    before = _scalars(reference, explanation, reference.logits_of_ids(reference.ids))
    after = _scalars(reference, explanation, reference.logits_of_ids(everything_masked))
    for target in core.TARGETS:
        change = float(before[target] - after[target])
        total = float(_word_values(explanation, "kernel_shap", target).sum())
        assert total == pytest.approx(change, rel=1e-3, abs=1e-4), target


def test_seeded_explainers_repeat_and_leave_the_global_random_state_alone(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    state = torch.get_rng_state()
    first = core.explain(
        QUESTION, CONTEXT, loaded, methods=("smoothgrad", "lime", "kernel_shap"), use_cache=False, **FEW
    )
    assert torch.equal(torch.get_rng_state(), state)
    again = core.explain(
        QUESTION, CONTEXT, loaded, methods=("smoothgrad", "lime", "kernel_shap"), use_cache=False, **FEW
    )
    other = core.explain(QUESTION, CONTEXT, loaded, methods=("smoothgrad", "lime"), seed=1, use_cache=False, **FEW)
    for method in ("smoothgrad", "lime", "kernel_shap"):
        for target in core.TARGETS:
            np.testing.assert_array_equal(first.saliency[method][target], again.saliency[method][target])
    assert not np.array_equal(first.saliency["lime"]["start"], other.saliency["lime"]["start"])
    assert not np.array_equal(first.saliency["smoothgrad"]["start"], other.saliency["smoothgrad"]["start"])


def test_smoothgrad_without_noise_is_the_gradient(tiny_qa_dir: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    plain = core.explain(
        QUESTION,
        CONTEXT,
        loaded,
        methods=("gradient", "smoothgrad"),
        targets=("contrast", "null"),
        smoothgrad_noise=0.0,
        smoothgrad_samples=3,
        use_cache=False,
    )
    for target in core.EXPLAINABLE_TARGETS:
        np.testing.assert_allclose(plain.saliency["smoothgrad"][target], plain.saliency["gradient"][target], rtol=1e-5)
    noisy = core.explain(QUESTION, CONTEXT, loaded, methods=("gradient", "smoothgrad"), use_cache=False, **FEW)
    assert not np.allclose(noisy.saliency["smoothgrad"]["start"], noisy.saliency["gradient"]["start"], rtol=1e-3)


def test_smoothgrad_equals_captums_noise_tunnel_with_the_same_seed(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    explanation = core.explain(
        QUESTION, CONTEXT, loaded, methods=("smoothgrad",), targets=("null",), seed=3, use_cache=False, **FEW
    )
    reference = _reference(loaded, explanation)
    embeddings = reference.embeddings()
    settings = explanation.method_settings["smoothgrad"]
    stdev = 0.15 * float(embeddings.std())
    assert settings["noise"] == 0.15 and settings["noise_std"] == pytest.approx(stdev, rel=1e-6)
    targets = ("start", "end", "null")

    def forward(inputs: torch.Tensor) -> torch.Tensor:
        scalars = _scalars(reference, explanation, reference.logits_of_embeddings(inputs))
        return torch.stack([scalars[target] for target in targets], dim=1)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        gradients = NoiseTunnel(Saliency(forward)).attribute(
            embeddings.expand(3, -1, -1).clone(),
            nt_type="smoothgrad",
            nt_samples=6,
            nt_samples_batch_size=settings["samples_per_batch"],
            stdevs=float(settings["noise_std"]),
            target=[0, 1, 2],
            abs=False,
        )
    norms = gradients.norm(dim=-1).numpy()
    for row, target in enumerate(targets):
        np.testing.assert_allclose(explanation.saliency["smoothgrad"][target], norms[row], rtol=1e-3, atol=1e-7)


def test_contrast_maps_attribute_the_difference_of_the_two_span_scores(tiny_qa_dir: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    explanation = core.explain(
        QUESTION, CONTEXT, loaded, methods=("gradient", "gradient_x_input"), targets=("contrast",), use_cache=False
    )
    assert explanation.settings["contrast_rank"] == 2 and explanation.contrast_span == explanation.top_k[1]
    reference = _reference(loaded, explanation)
    embeddings = reference.embeddings()

    def column_map(column: int) -> np.ndarray:
        attributions = InputXGradient(reference.logits_of_embeddings).attribute(
            embeddings.clone().requires_grad_(), target=column
        )
        return attributions.sum(-1)[0].detach().double().numpy()

    start, end = _columns(reference, explanation.answer)
    runner_start, runner_end = _columns(reference, explanation.top_k[1])
    linear = column_map(start) + column_map(end) - column_map(runner_start) - column_map(runner_end)
    ours = explanation.saliency["gradient_x_input"]["contrast"]
    scale = float(np.abs(linear).max())
    np.testing.assert_allclose(ours, linear, rtol=1e-3, atol=1e-4 * scale)
    # The answer's half of it is the start map plus the end map.
    answer_half = explanation.saliency["gradient_x_input"]["start"] + explanation.saliency["gradient_x_input"]["end"]
    np.testing.assert_allclose(answer_half, column_map(start) + column_map(end), rtol=1e-3, atol=1e-4 * scale)

    def contrast(inputs: torch.Tensor) -> torch.Tensor:
        return _scalars(reference, explanation, reference.logits_of_embeddings(inputs))["contrast"]

    direct = InputXGradient(contrast).attribute(embeddings.clone().requires_grad_()).sum(-1)[0].detach().numpy()
    np.testing.assert_allclose(ours, direct, rtol=1e-3, atol=1e-4 * scale)
    gradient = Saliency(contrast).attribute(embeddings.clone().requires_grad_(), abs=False)
    np.testing.assert_allclose(
        explanation.saliency["gradient"]["contrast"], gradient.norm(dim=-1)[0].numpy(), rtol=1e-3, atol=1e-7
    )


def test_null_score_decision_and_null_map_by_hand(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    explanation = core.explain(
        QUESTION, CONTEXT, loaded, methods=("gradient_x_input",), targets=("null",), use_cache=False
    )
    reference = _reference(loaded, explanation)
    logits = reference.logits_of_ids(reference.ids)[0]
    start, end = _columns(reference, explanation.answer)
    null = float(logits[0] + logits[reference.length])
    best = float(logits[start] + logits[end])
    assert explanation.null_score == pytest.approx(null, abs=1e-5)
    assert explanation.best_span_score == pytest.approx(best, abs=1e-5)
    margin = null - best
    assert explanation.answers_null() is (margin > 0)
    assert explanation.answers_null(threshold=margin - 1e-3) is True
    assert explanation.answers_null(threshold=margin + 1e-3) is False

    def null_margin(inputs: torch.Tensor) -> torch.Tensor:
        return _scalars(reference, explanation, reference.logits_of_embeddings(inputs))["null"]

    embeddings = reference.embeddings()
    direct = InputXGradient(null_margin).attribute(embeddings.clone().requires_grad_()).sum(-1)[0].detach().numpy()
    ours = explanation.saliency["gradient_x_input"]["null"]
    np.testing.assert_allclose(ours, direct, rtol=1e-3, atol=1e-4 * float(np.abs(direct).max()))


def _pad_baseline_ids(reference: Reference, token_id: int) -> torch.Tensor:
    ids = reference.ids.clone()
    ids[0, reference.free] = token_id
    return ids


def test_integrated_gradients_of_contrast_and_null_are_complete(minilm_probe_dir: str) -> None:
    loaded = core.load_model(minilm_probe_dir)
    explanation = core.explain(
        SHORT_QUESTION,
        SHORT_CONTEXT,
        loaded,
        methods=("integrated_gradients",),
        targets=("contrast", "null"),
        use_cache=False,
    )
    reference = _reference(loaded, explanation)
    at_input = _scalars(reference, explanation, reference.logits_of_ids(reference.ids))
    at_baseline = _scalars(
        reference, explanation, reference.logits_of_ids(_pad_baseline_ids(reference, loaded.tokenizer.pad_token_id))
    )
    for target in core.EXPLAINABLE_TARGETS:
        difference = float(at_input[target] - at_baseline[target])
        total = float(explanation.saliency["integrated_gradients"][target].astype(np.float64).sum())
        assert abs(total - difference) <= max(0.01 * abs(difference), 1e-3), (target, total, difference)
        assert explanation.ig_converged[target], target
        assert abs(explanation.convergence_delta[target]) <= max(0.01 * abs(difference), 1e-3)


def test_contrast_rank_is_checked_and_a_runner_up_in_another_window_is_refused(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    with pytest.raises(ValueError, match="contrast_rank must be at least 2"):
        core.explain(QUESTION, CONTEXT, loaded, methods=("gradient",), targets=("contrast",), contrast_rank=1)
    with pytest.raises(ValueError, match="top_k of at least 6"):
        core.explain(QUESTION, CONTEXT, loaded, methods=("gradient",), targets=("contrast",), contrast_rank=6)
    base = core.explain(QUESTION, CONTEXT, loaded, methods=(), use_cache=False)
    elsewhere = dataclasses.replace(base.top_k[1], window=base.answer.window + 1)
    moved = base.replace(top_k=[base.answer, elsewhere, *base.top_k[2:]])
    with pytest.raises(
        ValueError, match=r"Runner-up #2 .* lies in window 1, the answer in window 0.*ranks \[3, 4, 5\]"
    ):
        core.add_saliency(moved, ("gradient",), targets=("contrast",), model=loaded, use_cache=False)
    third = core.explain(
        QUESTION, CONTEXT, loaded, methods=("gradient",), targets=("contrast",), contrast_rank=3, use_cache=False
    )
    assert third.contrast_span == third.top_k[2]
    with pytest.raises(ValueError, match="Unknown target"):
        core.explain(QUESTION, CONTEXT, loaded, methods=("gradient",), targets=("probability",))
    with pytest.raises(TypeError, match="not a string"):
        core.explain(QUESTION, CONTEXT, loaded, methods=("gradient",), targets="contrast")  # type: ignore[arg-type]


def _zero_baseline_embeddings(reference: Reference) -> torch.Tensor:
    embeddings = reference.embeddings().clone()
    embeddings[0, reference.free] = 0.0
    return embeddings


def test_integrated_gradients_baselines_differ_and_each_is_complete(minilm_qa_dir: str) -> None:
    loaded = core.load_model(minilm_qa_dir)
    maps: dict[str, np.ndarray] = {}
    differences: dict[str, float] = {}
    explanations: dict[str, core.Explanation] = {}
    for baseline in core.IG_BASELINES:
        explanations[baseline] = core.explain(
            SHORT_QUESTION,
            SHORT_CONTEXT,
            loaded,
            methods=("integrated_gradients",),
            ig_baseline=baseline,
            use_cache=False,
        )
    reference = _reference(loaded, explanations["pad"])
    column = reference.length + explanations["pad"].answer.end_token - 1
    at_input = float(reference.logits_of_ids(reference.ids)[0, column])
    with torch.no_grad():
        at_baselines = {
            "pad": float(
                reference.logits_of_ids(_pad_baseline_ids(reference, loaded.tokenizer.pad_token_id))[0, column]
            ),
            "mask": float(
                reference.logits_of_ids(_pad_baseline_ids(reference, loaded.tokenizer.mask_token_id))[0, column]
            ),
            "zero": float(reference.logits_of_embeddings(_zero_baseline_embeddings(reference))[0, column]),
        }
    at_baselines["average"] = float(np.mean(list(at_baselines.values())))
    for baseline, explanation in explanations.items():
        maps[baseline] = explanation.saliency["integrated_gradients"]["end"].astype(np.float64)
        differences[baseline] = at_input - at_baselines[baseline]
        total = float(maps[baseline].sum())
        assert abs(total - differences[baseline]) <= max(0.01 * abs(differences[baseline]), 1e-3), baseline
        assert explanation.method_settings["integrated_gradients"]["baseline"] == baseline
        assert explanation.settings["ig_baseline"] == baseline
    assert len({explanation.baseline for explanation in explanations.values()}) == 4
    for first, second in (("pad", "mask"), ("pad", "zero"), ("mask", "zero")):
        assert not np.allclose(maps[first], maps[second], rtol=0.05), (first, second)
    average = explanations["average"]
    assert average.method_settings["integrated_gradients"]["baselines"] == ["pad", "mask", "zero"]
    np.testing.assert_allclose(maps["average"], (maps["pad"] + maps["mask"] + maps["zero"]) / 3, rtol=1e-5, atol=1e-7)
    singles = sum(explanations[b].ig_steps["evaluations"] for b in ("pad", "mask", "zero"))
    assert average.ig_steps["evaluations"] == singles


def test_average_counts_identical_baselines_once(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    pad = loaded.tokenizer.pad_token_id
    assert torch.count_nonzero(loaded.model.get_input_embeddings().weight[pad]) == 0  # BERT's padding row
    explanation = core.explain(
        QUESTION, CONTEXT, loaded, methods=("integrated_gradients",), ig_baseline="average", use_cache=False
    )
    assert explanation.method_settings["integrated_gradients"]["baselines"] == ["pad", "mask"]
    assert set(explanation.method_settings["integrated_gradients"]["components"]["start"]) == {"pad", "mask"}


def test_an_input_equal_to_its_baseline_is_refused(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    question, context = "[MASK] [MASK]", "[MASK] [MASK] [MASK]"
    with pytest.raises(ValueError, match="equals the 'mask' baseline's.*Choose another baseline"):
        core.explain(question, context, loaded, methods=("integrated_gradients",), ig_baseline="mask", use_cache=False)
    with pytest.raises(ValueError, match="'mask' baseline"):
        core.explain(question, context, loaded, methods=("integrated_gradients",), ig_baseline="average")
    padded = core.explain(question, context, loaded, methods=("integrated_gradients",), use_cache=False)
    assert np.abs(padded.saliency["integrated_gradients"]["start"]).sum() > 0
    with pytest.raises(ValueError, match="Unknown integrated-gradients baseline"):
        core.explain(QUESTION, CONTEXT, loaded, ig_baseline="blur")  # type: ignore[arg-type]


def test_word_values_of_every_perturbation_method_sum_per_word(everything: core.Explanation) -> None:
    words = everything.words()
    for method in core.PERTURBATION_METHODS:
        for target, values in everything.saliency[method].items():
            for word in words:
                pieces = values[word.start_token : word.end_token]
                if word.role == "special":
                    assert (pieces == 0).all(), (method, target)
                else:
                    assert np.allclose(pieces, pieces[0]), (method, target)  # split evenly


def test_the_default_path_runs_one_batched_gradient_pass(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    base = core.explain(QUESTION, CONTEXT, loaded, methods=(), use_cache=False)
    batches: list[int] = []

    def hook(_module: torch.nn.Module, _args: tuple, kwargs: dict, _output: object) -> None:
        batches.append(int(kwargs["inputs_embeds"].shape[0]))

    handle = loaded.model.register_forward_hook(hook, with_kwargs=True)
    try:
        core.add_saliency(base, ("gradient", "gradient_x_input"), model=loaded, use_cache=False)
        assert batches == [2]
        batches.clear()
        core.add_saliency(base, ("gradient", "gradient_x_input"), targets=("null",), model=loaded, use_cache=False)
        assert batches == [3]
    finally:
        handle.remove()
    assert "smoothgrad" not in base.saliency and set(core.DEFAULT_METHODS) < set(core.METHODS)


def test_add_saliency_adds_targets_and_keeps_what_was_there(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    first = core.explain(QUESTION, CONTEXT, loaded, methods=("gradient", "integrated_gradients"), use_cache=False)
    more = core.add_saliency(
        first, ("gradient", "integrated_gradients"), targets=("contrast",), model=loaded, use_cache=False
    )
    assert set(more.saliency["gradient"]) == set(more.saliency["integrated_gradients"]) == {"start", "end", "contrast"}
    for method in ("gradient", "integrated_gradients"):
        for target in core.TARGETS:
            assert more.saliency[method][target] is first.saliency[method][target]
    assert set(more.convergence_delta) == {"start", "end", "contrast"}
    assert more.ig_steps["evaluations"] == first.ig_steps["evaluations"] + more.ig_steps["contrast"]
    assert core.add_saliency(more, ("gradient",), targets=("contrast",), model=loaded) is more


def test_the_faithfulness_report_and_comparisons_include_new_methods_when_present(
    everything: core.Explanation, tiny_bert_dir: str
) -> None:
    loaded = core.load_model(tiny_bert_dir)
    report = core.faithfulness(everything, loaded, random_orders=1)
    assert set(core.METHODS) <= set(report.names)
    assert set(core.METHODS) <= {row["name"] for row in report.ranking()}
    for method in ("occlusion", "lime", "kernel_shap"):
        assert method in core.trust.importance.SIGNED_METHODS
    plain = everything.replace(saliency={m: everything.saliency[m] for m in core.DEFAULT_METHODS})
    names = core.faithfulness(plain, loaded, random_orders=1).names
    assert not set(names) & {"smoothgrad", "occlusion", "lime", "kernel_shap"}
    comparison = core.compare_explanations([everything, everything])
    assert comparison.explainers == list(core.METHODS)
    assert comparison.agreement_matrix("lime")[0, 1] == pytest.approx(1.0)


def test_save_and_load_keep_every_method_target_and_setting(everything: core.Explanation, tmp_path: Path) -> None:
    for suffix in (".json", ".npz"):
        loaded = core.Explanation.load(everything.save(tmp_path / f"e{suffix}"))
        assert loaded == everything
        assert loaded.method_settings == everything.method_settings and set(loaded.method_settings) == set(core.METHODS)
        assert loaded.contrast_span == everything.contrast_span == everything.top_k[1]
        assert loaded.null_score == everything.null_score and loaded.answers_null() == everything.answers_null()
        for method in core.METHODS:
            for target, values in everything.saliency[method].items():
                np.testing.assert_array_equal(loaded.saliency[method][target], values)
    assert everything.method_settings["lime"]["n_samples"] == 40
    assert everything.method_settings["smoothgrad"]["n_samples"] == 6


def test_files_written_before_method_settings_still_load(everything: core.Explanation, tmp_path: Path) -> None:
    payload = everything.to_dict()
    payload["version"] = 1
    del payload["data"]["method_settings"]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(payload), encoding="utf-8")
    loaded = core.Explanation.load(old)
    assert loaded.method_settings == {} and loaded.saliency.keys() == everything.saliency.keys()
