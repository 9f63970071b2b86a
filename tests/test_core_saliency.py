"""core.attribution through explain(): completeness, agreement with direct captum calls, and model randomisation.

References here are computed without core: the model is run on token ids (with the baseline built from the
tokenizer's own sequence ids), and captum is called directly on the model's word-embedding layer.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from captum.attr import InputXGradient, LayerIntegratedGradients, Saliency
from scipy.stats import pearsonr, spearmanr

import core
from core import attribution as core_saliency
from core.encoding import encode
from core.models import LoadedModel

QUESTION = "Who moved to München in 2015?"
CONTEXT = "Jürgen moved to München in 2015; he said the café near the old station was great."
SHORT_QUESTION = "Where did Jürgen move?"
SHORT_CONTEXT = "Jürgen moved to München in 2015 with his sister."
ROBERTA_LIKE = {"roberta", "xlm-roberta", "camembert"}
COLUMNS = {"start": "start_logits", "end": "end_logits"}


@dataclasses.dataclass
class Reference:
    """Model inputs rebuilt from the tokenizer alone, and the answer's target positions."""

    input_ids: torch.Tensor
    baseline_ids: torch.Tensor
    forward_kwargs: dict[str, torch.Tensor]
    positions: dict[str, int]


def _reference(loaded: LoadedModel, explanation: core.Explanation) -> Reference:
    encoded = loaded.tokenizer(explanation.question, explanation.context)
    ids = list(encoded["input_ids"])
    assert loaded.tokenizer.convert_ids_to_tokens(ids) == explanation.tokens, "explanation is not the whole input"
    pad = loaded.tokenizer.pad_token_id
    baseline = [token if sequence is None else pad for token, sequence in zip(ids, encoded.sequence_ids(), strict=True)]
    n = len(ids)
    kwargs = {"attention_mask": torch.ones(1, n, dtype=torch.long)}
    if "token_type_ids" in encoded:
        kwargs["token_type_ids"] = torch.tensor([encoded["token_type_ids"]])
    if loaded.model_type in ROBERTA_LIKE:
        # RoBERTa derives positions from the ids and would give [PAD] the padding position; the baseline keeps
        # the input's positions (only the words change), so pass the input's positions explicitly.
        padding_idx = loaded.model.config.pad_token_id
        kwargs["position_ids"] = torch.arange(padding_idx + 1, padding_idx + 1 + n).unsqueeze(0)
    answer = explanation.answer
    return Reference(
        input_ids=torch.tensor([ids]),
        baseline_ids=torch.tensor([baseline]),
        forward_kwargs=kwargs,
        positions={"start": answer.start_token, "end": answer.end_token - 1},
    )


def _logit(loaded: LoadedModel, reference: Reference, ids: torch.Tensor, target: str) -> float:
    with torch.no_grad():
        output = loaded.model(input_ids=ids, **reference.forward_kwargs)
    return float(getattr(output, COLUMNS[target])[0, reference.positions[target]])


def _assert_complete(loaded: LoadedModel, explanation: core.Explanation) -> None:
    reference = _reference(loaded, explanation)
    for target in ("start", "end"):
        f_input = _logit(loaded, reference, reference.input_ids, target)
        f_baseline = _logit(loaded, reference, reference.baseline_ids, target)
        logits = explanation.start_logits if target == "start" else explanation.end_logits
        assert f_input == pytest.approx(float(logits[reference.positions[target]]), abs=1e-5)
        difference = f_input - f_baseline
        total = float(explanation.saliency["integrated_gradients"][target].astype(np.float64).sum())
        tolerance = max(0.01 * abs(difference), 1e-3)
        assert abs(total - difference) <= tolerance, (target, total, difference)
        assert abs(explanation.convergence_delta[target]) <= tolerance
        assert explanation.ig_steps[target] >= core_saliency.IG_START_STEPS


def test_integrated_gradients_are_complete(tiny_qa_dir: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    explanation = core.explain(QUESTION, CONTEXT, loaded)
    _assert_complete(loaded, explanation)
    # Special tokens are the same in input and baseline, so they get no attribution at all.
    roles = np.array(explanation.roles)
    for target in ("start", "end"):
        assert (explanation.saliency["integrated_gradients"][target][roles == "special"] == 0).all()
        assert (explanation.saliency["integrated_gradients"][target][roles != "special"] != 0).all()


def test_integrated_gradients_are_complete_on_real_minilm_weights(minilm_qa_dir: str) -> None:
    loaded = core.load_model(minilm_qa_dir)
    explanation = core.explain(SHORT_QUESTION, SHORT_CONTEXT, loaded)
    _assert_complete(loaded, explanation)


def _captum_layer_ig(loaded: LoadedModel, reference: Reference, target: str, n_steps: int) -> np.ndarray:
    names = list(reference.forward_kwargs)

    def forward(input_ids: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        return getattr(loaded.model(input_ids=input_ids, **dict(zip(names, extra, strict=True))), COLUMNS[target])

    explainer = LayerIntegratedGradients(forward, loaded.model.get_input_embeddings())
    attributions = explainer.attribute(
        reference.input_ids,
        baselines=reference.baseline_ids,
        target=reference.positions[target],
        additional_forward_args=tuple(reference.forward_kwargs.values()),
        n_steps=n_steps,
        method="gausslegendre",
        internal_batch_size=100,
    )
    return attributions.sum(dim=-1)[0].detach().numpy()


def _assert_agrees(ours: np.ndarray, theirs: np.ndarray) -> None:
    scale = float(np.abs(theirs).max())
    assert scale > 0
    assert float(np.abs(ours - theirs).max()) <= 0.03 * scale
    assert pearsonr(ours, theirs)[0] > 0.99
    assert spearmanr(ours, theirs)[0] > 0.99


@pytest.mark.parametrize("architecture", ["bert", "roberta"])
def test_integrated_gradients_agree_with_captum_layer_integrated_gradients(
    tiny_model_dirs: dict[str, str], architecture: str
) -> None:
    loaded = core.load_model(tiny_model_dirs[architecture])
    explanation = core.explain(QUESTION, CONTEXT, loaded)
    reference = _reference(loaded, explanation)
    for target in ("start", "end"):
        theirs = _captum_layer_ig(loaded, reference, target, n_steps=300)
        _assert_agrees(explanation.saliency["integrated_gradients"][target], theirs)


def test_integrated_gradients_agree_with_captum_on_real_minilm_weights(minilm_qa_dir: str) -> None:
    loaded = core.load_model(minilm_qa_dir)
    explanation = core.explain(SHORT_QUESTION, SHORT_CONTEXT, loaded)
    reference = _reference(loaded, explanation)
    for target in ("start", "end"):
        theirs = _captum_layer_ig(loaded, reference, target, n_steps=150)
        _assert_agrees(explanation.saliency["integrated_gradients"][target], theirs)


def _embedding_forward(loaded: LoadedModel, reference: Reference, target: str):  # noqa: ANN202
    def forward(inputs_embeds: torch.Tensor) -> torch.Tensor:
        batch = inputs_embeds.shape[0]
        kwargs = {name: value.expand(batch, -1) for name, value in reference.forward_kwargs.items()}
        return getattr(loaded.model(inputs_embeds=inputs_embeds, **kwargs), COLUMNS[target])

    return forward


def test_gradient_methods_equal_captum_saliency_and_input_x_gradient(tiny_qa_dir: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    explanation = core.explain(QUESTION, CONTEXT, loaded)
    reference = _reference(loaded, explanation)
    with torch.no_grad():
        embeddings = loaded.model.get_input_embeddings()(reference.input_ids)
    for target in ("start", "end"):
        forward = _embedding_forward(loaded, reference, target)
        position = reference.positions[target]
        times_input = InputXGradient(forward).attribute(embeddings.clone().requires_grad_(), target=position)
        expected_gxi = times_input.sum(dim=-1)[0].detach().numpy()
        gradient = Saliency(forward).attribute(embeddings.clone().requires_grad_(), target=position, abs=False)
        expected_gradient = gradient.norm(dim=-1)[0].detach().numpy()
        ours_gxi = explanation.saliency["gradient_x_input"][target]
        ours_gradient = explanation.saliency["gradient"][target]
        np.testing.assert_allclose(ours_gxi, expected_gxi, rtol=1e-3, atol=1e-4 * np.abs(expected_gxi).max())
        np.testing.assert_allclose(ours_gradient, expected_gradient, rtol=1e-3, atol=1e-6)
        assert (ours_gradient > 0).all()
    # Start and end are different targets, so their maps differ.
    assert not np.allclose(explanation.saliency["gradient"]["start"], explanation.saliency["gradient"]["end"])


def _randomised(loaded: LoadedModel, seed: int) -> LoadedModel:
    """A deep copy whose every weight matrix and bias is re-drawn (Adebayo et al., 2018, cascading to the full net)."""
    model = copy.deepcopy(loaded.model)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "norm" in name.lower():
                continue
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.02)
    return dataclasses.replace(loaded, model=model, name=f"{loaded.name}#randomised-{seed}")


def _saliency_maps(loaded: LoadedModel, explanation: core.Explanation) -> dict[str, np.ndarray]:
    window = encode(
        loaded.tokenizer, explanation.question, explanation.context, max_length=explanation.settings["max_length"]
    ).windows[explanation.window_index]
    start, end = explanation.answer.start_token, explanation.answer.end_token
    maps = {
        f"{method}.{target}": values
        for method, per_target in core_saliency.gradient_saliency(loaded, window, start, end).items()
        for target, values in per_target.items()
    }
    # The explanation's own node count, fixed: the comparison needs the same rule, not a converged integral.
    steps = explanation.ig_steps["evaluations"]
    results = core_saliency.integrated_gradients_both(loaded, window, start, end, n_steps=steps, max_steps=steps)
    for target in ("start", "end"):
        maps[f"integrated_gradients.{target}"] = results[target].scores
    return maps


@pytest.mark.parametrize("which", ["minilm", "bert"])
def test_saliency_changes_when_the_weights_are_randomised(
    which: str, minilm_qa_dir: str, tiny_model_dirs: dict[str, str]
) -> None:
    loaded = core.load_model(minilm_qa_dir if which == "minilm" else tiny_model_dirs["bert"])
    explanation = core.explain(SHORT_QUESTION, SHORT_CONTEXT, loaded)
    context = np.array(explanation.roles) != "special"
    # Control: the same path on an untouched copy reproduces the explanation's maps.
    copied = dataclasses.replace(loaded, model=copy.deepcopy(loaded.model), name=f"{loaded.name}#copy")
    for key, values in _saliency_maps(copied, explanation).items():
        method, target = key.split(".")
        assert spearmanr(values[context], explanation.saliency[method][target][context])[0] > 0.999, key
    correlations = {}
    for key, values in _saliency_maps(_randomised(loaded, seed=1234), explanation).items():
        method, target = key.split(".")
        correlations[key] = spearmanr(values[context], explanation.saliency[method][target][context])[0]
    assert all(abs(rho) < 0.6 for rho in correlations.values()), correlations


def test_add_saliency_fills_in_methods_and_matches_a_direct_explain(tiny_qa_dir: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    first = core.explain(QUESTION, CONTEXT, loaded, methods=("gradient",), use_cache=False)
    assert set(first.saliency) == {"gradient"} and not first.convergence_delta
    stages: list[tuple[str, float]] = []
    completed = core.add_saliency(
        first,
        ("integrated_gradients", "gradient_x_input"),
        model=loaded,
        progress=lambda stage, fraction: stages.append((stage, fraction)),
        use_cache=False,
    )
    direct = core.explain(QUESTION, CONTEXT, loaded, use_cache=False)
    assert set(first.saliency) == {"gradient"}, "add_saliency changed its input"
    assert set(completed.saliency) == set(direct.saliency) == set(core.DEFAULT_METHODS)
    assert completed.answer == direct.answer
    for method in core.DEFAULT_METHODS:
        for target in core.TARGETS:
            np.testing.assert_allclose(
                completed.saliency[method][target], direct.saliency[method][target], rtol=1e-4, atol=1e-7
            )
    for target in core.TARGETS:
        assert completed.convergence_delta[target] == pytest.approx(direct.convergence_delta[target], abs=1e-6)
        assert completed.ig_steps[target] == direct.ig_steps[target]
    assert completed.baseline == direct.baseline != ""
    names = [stage for stage, _ in stages]
    assert names[0] == "gradient" and names[-1] == "done" and len(names) >= 3
    assert all(name.startswith("integrated_gradients: ") for name in names[1:-1])  # one report per batch of nodes
    fractions = [fraction for _, fraction in stages]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    # Nothing missing: the same object comes back.
    assert core.add_saliency(completed, core.DEFAULT_METHODS, model=loaded) is completed


def test_integrated_gradients_settings_are_checked(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    window = encode(loaded.tokenizer, QUESTION, CONTEXT, max_length=128).windows[0]
    first = int(window.context_positions()[0])
    with pytest.raises(ValueError, match="n_steps"):
        core_saliency.integrated_gradients_both(loaded, window, first, first + 1, n_steps=1)
    with pytest.raises(ValueError, match="n_steps"):
        core_saliency.integrated_gradients_both(loaded, window, first, first + 1, n_steps=8, max_steps=6)
    with pytest.raises(ValueError, match="tolerance"):
        core_saliency.integrated_gradients_both(loaded, window, first, first + 1, tolerance=0.0)


def test_gregory_weights_integrate_cubics_exactly() -> None:
    for intervals in (5, 10, 20, 40):
        nodes = np.linspace(0.0, 1.0, intervals + 1)
        weights = core_saliency.gregory_weights(intervals)
        for power in range(4):
            assert float(weights @ nodes**power) == pytest.approx(1.0 / (power + 1), abs=1e-12), (intervals, power)
        assert float(weights @ nodes**6) != pytest.approx(1.0 / 7, abs=1e-9)  # not exact beyond: a real rule


SMOOTH_INTEGRALS = {
    "exp": (np.exp, np.e - 1.0),
    "1/(1+x)": (lambda x: 1.0 / (1.0 + x), np.log(2.0)),
    "sin(3x)": (lambda x: np.sin(3.0 * x), (1.0 - np.cos(3.0)) / 3.0),
}


def test_the_rule_has_the_order_the_stopping_rule_assumes() -> None:
    """Halving the intervals must divide the error by 2^IG_RULE_ORDER (the Richardson estimate's premise)."""
    for name, (function, exact) in SMOOTH_INTEGRALS.items():
        errors = []
        for intervals in (20, 40, 80, 160):
            nodes = np.linspace(0.0, 1.0, intervals + 1)
            errors.append(abs(float(core_saliency.gregory_weights(intervals) @ function(nodes)) - exact))
        observed = [np.log2(coarse / fine) for coarse, fine in zip(errors, errors[1:], strict=False)]
        assert observed == pytest.approx([core_saliency.IG_RULE_ORDER] * 3, abs=0.25), (name, observed)
        assert observed[-1] == pytest.approx(core_saliency.IG_RULE_ORDER, abs=0.06), (name, observed)
    nodes = np.linspace(0.0, 1.0, 11)
    degree = 2 * core_saliency.GREGORY_POINTS - 1
    assert float(core_saliency.gregory_weights(10) @ nodes**degree) == pytest.approx(1.0 / (degree + 1), abs=1e-12)


def test_integrated_gradients_refine_on_nested_nodes_and_say_when_they_stop(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    window = encode(loaded.tokenizer, QUESTION, CONTEXT, max_length=128).windows[0]
    context = window.context_positions()
    start, end = int(context[0]), int(context[2]) + 1
    calls: list[int] = []
    handle = loaded.model.register_forward_hook(lambda _m, args, kwargs, _o: calls.append(1), with_kwargs=True)
    levels: list[dict[str, core_saliency.IntegratedGradientsResult]] = []
    try:
        # A fixed rule: one level, no estimate of its error, so it cannot claim to have converged.
        fixed = core_saliency.integrated_gradients_both(loaded, window, start, end, n_steps=6, max_steps=6)
        assert {r.n_steps for r in fixed.values()} == {6} and not any(r.converged for r in fixed.values())
        assert all(r.estimated_error == float("inf") and r.evaluations == 6 for r in fixed.values())
        # An impossible tolerance: every level runs (6, 11, 21 nodes), nothing is recomputed, the cap stops it.
        calls.clear()
        strict = core_saliency.integrated_gradients_both(
            loaded,
            window,
            start,
            end,
            n_steps=6,
            max_steps=30,
            tolerance=1e-12,
            internal_batch_size=64,
            on_level=levels.append,
        )
        assert [level["start"].n_steps for level in levels] == [6, 11, 21]
        assert len(calls) == 3  # one forward per level: the 5 + 10 new nodes reuse the first level's
        assert strict["start"].evaluations == 21 and not strict["start"].converged and not strict["end"].converged
        assert strict["start"].estimated_error < float("inf")
        # Refinement converges toward a finer fixed rule: each level's map is closer to the 81-node one.
        fine = core_saliency.integrated_gradients_both(loaded, window, start, end, n_steps=81, max_steps=81)
        errors = [
            np.linalg.norm(level["start"].scores - fine["start"].scores) / np.linalg.norm(fine["start"].scores)
            for level in levels
        ]
        assert errors == sorted(errors, reverse=True), errors
        # A usual tolerance on this small random model: converged after the second level, with both flags set.
        usual = core_saliency.integrated_gradients_both(loaded, window, start, end)
        assert all(r.converged for r in usual.values()) and usual["start"].n_steps in (11, 21, 41)
        for result in usual.values():
            total = float(result.scores.astype(np.float64).sum())
            assert abs(total - result.output_difference) == pytest.approx(abs(result.convergence_delta), abs=1e-6)
    finally:
        handle.remove()


def test_the_path_integrand_is_what_integrated_gradients_integrates(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    window = encode(loaded.tokenizer, QUESTION, CONTEXT, max_length=128).windows[0]
    context = window.context_positions()
    start, end = int(context[0]), int(context[2]) + 1
    outputs = core_saliency.answer_outputs(window, start, end)
    nodes = np.linspace(0.0, 1.0, 11)
    maps, values = core_saliency.path_integrand(loaded, window, outputs, nodes, batch=4)
    assert maps.shape == (11, 2, window.length) and values.shape == (11, 2)
    fixed = core_saliency.integrated_gradients_both(loaded, window, start, end, n_steps=11, max_steps=11)
    integral = np.tensordot(core_saliency.gregory_weights(10), maps, axes=(0, 0))
    for index, target in enumerate(("start", "end")):
        np.testing.assert_allclose(integral[index], fixed[target].scores, rtol=1e-4, atol=1e-6)
        assert values[-1, index] - values[0, index] == pytest.approx(fixed[target].output_difference, abs=1e-5)
    with pytest.raises(ValueError, match="single baseline"):
        core_saliency.path_integrand(loaded, window, outputs, nodes, baseline="average")
    with pytest.raises(ValueError, match="at least one path point"):
        core_saliency.path_integrand(loaded, window, outputs, np.array([]))


def test_the_completeness_test_is_relative_even_when_the_output_barely_moves() -> None:
    """A small |F(x) - F(x')| must not let a large relative completeness error through (no absolute 1e-3)."""
    assert not core_saliency.completeness_met(delta=5e-4, output_difference=1e-3, outputs=(2.0, 2.001))
    assert core_saliency.completeness_met(delta=5e-6, output_difference=1e-3, outputs=(2.0, 2.001))
    # Below float32's resolution of the outputs themselves, a delta cannot be told from rounding.
    assert core_saliency.completeness_met(delta=2e-5, output_difference=1e-5, outputs=(30.0, 30.00001))


def test_an_explanation_records_whether_integrated_gradients_converged(tiny_bert_dir: str) -> None:
    capped = core.explain(QUESTION, CONTEXT, tiny_bert_dir, ig_steps=6, ig_max_steps=6, ig_tolerance=1e-9)
    assert capped.ig_converged == {"start": False, "end": False}
    assert capped.ig_steps["evaluations"] == 6 and capped.ig_error == {"start": None, "end": None}
    assert core.Explanation.from_json(capped.to_json()).ig_converged == capped.ig_converged
    usual = core.explain(QUESTION, CONTEXT, tiny_bert_dir)
    assert usual.ig_converged == {"start": True, "end": True}
    assert all(0 <= error <= 0.01 for error in usual.ig_error.values())


def test_refinements_are_published_before_the_final_map(minilm_probe_dir: str) -> None:
    loaded = core.load_model(minilm_probe_dir)
    base = core.explain(SHORT_QUESTION, SHORT_CONTEXT, loaded, methods=(), use_cache=False)
    early: list[core.Explanation] = []
    final = core.add_saliency(
        base, ("integrated_gradients",), model=loaded, use_cache=False, on_refinement=early.append
    )
    assert early, "trained weights need more than one level: the first ones are shown while the next run"
    assert all(not all(e.ig_converged.values()) for e in early)
    assert [e.ig_steps["evaluations"] for e in early] == sorted(e.ig_steps["evaluations"] for e in early)
    assert final.ig_steps["evaluations"] > early[-1].ig_steps["evaluations"]


@pytest.mark.parametrize("methods", [("gradients",), ("gradient", "deeplift"), ("IntegratedGradients",)])
def test_unknown_methods_are_refused(tiny_bert_dir: str, methods: tuple[str, ...]) -> None:
    with pytest.raises(ValueError, match="Unknown saliency method"):
        core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=methods)  # type: ignore[arg-type]
    explanation = core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=())
    with pytest.raises(ValueError, match="choose from"):
        core.add_saliency(explanation, methods)  # type: ignore[arg-type]


def test_bfloat16_is_fast_only_with_native_bfloat16_units(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from core import passes as compute

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True, raising=False)
    assert compute.bfloat16_is_fast() is False  # AVX512BW alone (oneDNN says yes) emulates bfloat16: slower
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: True)
    assert compute.bfloat16_is_fast() is True
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True)
    assert compute.bfloat16_is_fast() is True
    # Without torch's probes, the CPU flags decide.
    monkeypatch.delattr(torch.cpu, "_is_avx512_bf16_supported")
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512f avx512bw\n", encoding="utf-8")
    read_flags = compute.cpu_flags
    monkeypatch.setattr(compute, "cpu_flags", lambda: read_flags(cpuinfo))
    assert compute.bfloat16_is_fast() is False
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\n", encoding="utf-8")
    assert compute.bfloat16_is_fast() is True


def test_a_cancelled_integrated_gradients_stops_at_the_next_batch_and_frees_the_model(tiny_bert_dir: str) -> None:
    from core.progress import Cancelled

    loaded = core.load_model(tiny_bert_dir)
    base = core.explain(QUESTION, CONTEXT, loaded, methods=(), use_cache=False)
    calls: list[int] = []
    handle = loaded.model.register_forward_hook(lambda *_args: calls.append(1))
    reports: list[str] = []

    def progress(stage: str, _fraction: float) -> None:
        reports.append(stage)
        if len(reports) == 2:  # a newer question arrived while the first level ran
            raise Cancelled("superseded")

    try:
        with pytest.raises(Cancelled):
            core.add_saliency(base, ("integrated_gradients",), model=loaded, progress=progress, use_cache=False)
    finally:
        handle.remove()
    assert len(calls) == 1, "only the batch already under way ran"
    assert loaded.lock.acquire(blocking=False), "the model is free for the next question at once"
    loaded.lock.release()
    assert loaded.model.config._attn_implementation == "eager"  # the gradient passes' SDPA switch was undone


def test_a_levels_error_is_its_change_then_richardsons_estimate_with_a_margin() -> None:
    """Level 1 claims nothing, level 2 its whole change, later levels c_k / 15 (order 4) times the safety."""
    assert core_saliency.level_error(0.3, 1) == float("inf")
    assert core_saliency.level_error(0.3, 2) == 0.3
    assert core_saliency.level_error(0.15, 3) == pytest.approx(core_saliency.IG_SAFETY * 0.01)
    # What the fine-tuned MiniLM-L6 measured at 21 nodes (bench/bench_ig_levels.py --squad 12): a change of 0.049
    # with a true error of 1.3e-3 stops; a change of 0.0835 with a true error of 1.22e-2 and one of 0.30 with
    # 2.4e-2 refine further.
    assert core_saliency.level_error(0.049, 3) <= core_saliency.IG_TOLERANCE
    assert core_saliency.level_error(0.0835, 3) > 0.0122 > core_saliency.IG_TOLERANCE
    assert core_saliency.level_error(0.30, 3) > 0.024 > core_saliency.IG_TOLERANCE
