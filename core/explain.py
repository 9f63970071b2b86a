"""``explain``: question + context -> one ``Explanation``, computed once and cached.

The flow is encode -> the answer pass over all windows (``core.passes.answer_logits``, only for contexts of
several windows) -> one detail pass of the answer's window with attentions and hidden states
(``core.passes.window_detail``, which also answers a single-window context) -> ``build_explanation`` (the one
place an ``Explanation`` is assembled from a pass; dataset rows use it too) -> saliency
(``core.attribution``). ``add_saliency`` fills in methods and targets later (the dashboard shows the answer
first and integrated gradients after).

Every method's knobs are ``explain`` keywords and land in ``Explanation.settings`` (so they are part of
the cache key, and ``add_saliency`` later computes with the same ones); what each computed method
actually used (its captum class, samples, seed, noise, baseline, forward passes) is in
``Explanation.method_settings[method]``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from core import attribution
from core.answering import DEFAULT_MAX_ANSWER_TOKENS, DEFAULT_TOP_K, Span, best_spans, softmax
from core.attribution import IntegratedGradientsResult, TargetOutput, contrast_span, target_outputs
from core.encoding import DEFAULT_MAX_LENGTH, DEFAULT_STRIDE, MAX_WINDOWS, Encoding, Window, encode, validate_text
from core.explanation import Explanation
from core.explanation_cache import ExplanationCache
from core.models import LoadedModel, load_model
from core.passes import WindowDetail, WindowLogits, answer_logits, stacked_logits, window_detail
from core.progress import ProgressCallback, report_progress
from core.types import (
    CONTRAST_TARGET,
    DEFAULT_METHODS,
    DEFAULT_MODEL,
    EXPLAINABLE_TARGETS,
    IG_BASELINES,
    METHODS,
    PROBABILITY_TARGET,
    TARGETS,
    Baseline,
    Method,
    Target,
)

DEFAULT_CONTRAST_RANK = 2
"""The ``contrast`` target compares the answer with span number 2 of ``top_k``: the runner-up."""

GRADIENT_SETTINGS: dict[str, dict[str, str]] = {
    "gradient": {"captum": "Saliency", "value": "L2 norm over the embedding dimension of d target / d word embedding"},
    "gradient_x_input": {
        "captum": "Saliency, times the input (equal to InputXGradient)",
        "value": "sum over the embedding dimension of gradient * word embedding",
    },
}
"""What ``method_settings`` records for the two plain gradient methods (they have no knobs)."""

CACHE = ExplanationCache()
"""Explanations by (model, device, question, context, settings), bounded in bytes (``core.explanation_cache``)."""


def explain(
    question: str,
    context: str,
    model: str | LoadedModel = DEFAULT_MODEL,
    methods: Iterable[Method] = DEFAULT_METHODS,
    *,
    targets: Iterable[Target] = TARGETS,
    top_k: int = DEFAULT_TOP_K,
    max_answer_tokens: int = DEFAULT_MAX_ANSWER_TOKENS,
    max_length: int = DEFAULT_MAX_LENGTH,
    stride: int = DEFAULT_STRIDE,
    max_windows: int = MAX_WINDOWS,
    ig_steps: int = attribution.IG_START_STEPS,
    ig_max_steps: int = attribution.IG_MAX_STEPS,
    ig_tolerance: float = attribution.IG_TOLERANCE,
    ig_baseline: Baseline = "pad",
    contrast_rank: int = DEFAULT_CONTRAST_RANK,
    smoothgrad_samples: int = attribution.SMOOTHGRAD_SAMPLES,
    smoothgrad_noise: float = attribution.SMOOTHGRAD_NOISE,
    lime_samples: int = attribution.LIME_SAMPLES,
    kernel_shap_samples: int = attribution.KERNEL_SHAP_SAMPLES,
    seed: int = 0,
    device: str | None = None,
    progress: ProgressCallback | None = None,
    use_cache: bool = True,
) -> Explanation:
    """Answer ``question`` from ``context`` with ``model`` and explain the answer.

    ``methods`` is any subset of ``core.METHODS`` (default: gradient, gradient_x_input, integrated_gradients;
    smoothgrad, occlusion, lime and kernel_shap are opt-in). ``targets``: start and end always, plus
    ``contrast`` (the answer against span number ``contrast_rank`` of ``top_k``, 2 = the runner-up) and
    ``null`` (SQuAD 2.0's no-answer margin), see ``core.attribution.targets``. ``ig_baseline`` is one of
    pad, mask, zero, average (``core.attribution.baselines``); ``seed`` drives SmoothGrad's noise and LIME's
    and Kernel SHAP's samples.
    Raises ``TypeError`` for a question or context that is not text, ``ValueError`` for unusable input or
    settings and ``core.ModelLoadError`` for a model that cannot be loaded.
    """
    validate_text(question, context)  # before the cache key, which would fail on non-text with an AttributeError
    chosen = _check_methods(methods)
    wanted = _check_targets(targets)
    if top_k < 1:
        raise ValueError("top_k must be at least 1.")
    _check_settings(ig_baseline, contrast_rank, smoothgrad_samples, smoothgrad_noise, lime_samples, kernel_shap_samples)
    if CONTRAST_TARGET in wanted and contrast_rank > top_k:
        raise ValueError(f"contrast_rank {contrast_rank} needs top_k of at least {contrast_rank} (it is {top_k}).")
    started = time.perf_counter()
    loaded = model if isinstance(model, LoadedModel) else load_model(model, device)
    timings = {"load": time.perf_counter() - started}
    settings: dict[str, Any] = {
        "top_k": top_k,
        "max_answer_tokens": max_answer_tokens,
        "max_length": min(max_length, loaded.max_length),
        "stride": stride,
        "max_windows": max_windows,
        "ig_steps": ig_steps,
        "ig_max_steps": ig_max_steps,
        "ig_tolerance": ig_tolerance,
        "ig_method": attribution.IG_METHOD,
        "ig_baseline": ig_baseline,
        "contrast_rank": contrast_rank,
        "smoothgrad_samples": smoothgrad_samples,
        "smoothgrad_noise": smoothgrad_noise,
        "lime_samples": lime_samples,
        "kernel_shap_samples": kernel_shap_samples,
        "seed": seed,
    }
    key = _cache_key(loaded, question, context, settings)
    if use_cache:
        cached = CACHE.get(key)
        if cached is not None and not missing_saliency(cached, chosen, wanted):
            return cached
        if cached is not None:
            return add_saliency(cached, chosen, targets=wanted, model=loaded, progress=progress)
    explanation = _answer_and_attention(loaded, question, context, settings, timings, progress)
    if chosen:
        explanation = add_saliency(
            explanation, chosen, targets=wanted, model=loaded, progress=progress, use_cache=False
        )
    timings = dict(explanation.timings)
    timings["total"] = time.perf_counter() - started
    explanation = explanation.replace(timings=timings)
    if use_cache:
        CACHE.put(key, explanation)
    return explanation


def add_saliency(
    explanation: Explanation,
    methods: Iterable[Method],
    *,
    targets: Iterable[Target] = TARGETS,
    model: str | LoadedModel | None = None,
    progress: ProgressCallback | None = None,
    use_cache: bool = True,
    on_refinement: Callable[[Explanation], None] | None = None,
) -> Explanation:
    """A copy of ``explanation`` with the missing (method, target) maps computed, with the explanation's settings.

    ``targets`` as in ``explain`` (start and end are always included). ``on_refinement`` (integrated gradients
    only) gets a copy after every refinement level, before the final one: a page can show the map early and
    let it sharpen (``ig_converged`` says when it is final).
    """
    missing = missing_saliency(explanation, _check_methods(methods), _check_targets(targets))
    if not missing:
        return explanation
    settings = explanation.settings
    wanted_targets = list(dict.fromkeys(t for per_method in missing.values() for t in per_method))
    rank = int(settings.get("contrast_rank", DEFAULT_CONTRAST_RANK))
    contrast = contrast_span(explanation.answer, explanation.top_k, rank) if CONTRAST_TARGET in wanted_targets else None
    loaded = model if isinstance(model, LoadedModel) else load_model(model or explanation.model)
    window = answer_window(loaded, explanation)
    answer = explanation.answer
    logit_targets = [t for t in wanted_targets if t != PROBABILITY_TARGET]
    outputs = target_outputs(window.length, window.roles, answer, logit_targets, contrast)
    seed = int(settings.get("seed", 0))

    def only(method: Method) -> dict[Target, TargetOutput]:
        return {t: outputs[t] for t in missing[method] if t != PROBABILITY_TARGET}

    saliency = {method: dict(values) for method, values in explanation.saliency.items()}
    method_settings = {method: dict(values) for method, values in explanation.method_settings.items()}
    timings = dict(explanation.timings)
    gradient_methods = [m for m in missing if m in ("gradient", "gradient_x_input")]
    if gradient_methods:
        report_progress(progress, "gradient", 0.0)
        began = time.perf_counter()
        needed = {t: outputs[t] for t in outputs if any(t in missing[m] for m in gradient_methods)}
        with loaded.lock:
            both = attribution.gradient_saliency(loaded, window, answer.start_token, answer.end_token, outputs=needed)
        for method in gradient_methods:
            saliency.setdefault(method, {}).update({t: both[method][t] for t in missing[method]})
            method_settings[method] = dict(GRADIENT_SETTINGS[method])
        timings["saliency.gradient"] = time.perf_counter() - began
    if "smoothgrad" in missing:
        report_progress(progress, "smoothgrad", 0.0)
        began = time.perf_counter()
        with loaded.lock:
            maps, used = attribution.smoothgrad(
                loaded,
                window,
                only("smoothgrad"),
                n_samples=int(settings.get("smoothgrad_samples", attribution.SMOOTHGRAD_SAMPLES)),
                noise=float(settings.get("smoothgrad_noise", attribution.SMOOTHGRAD_NOISE)),
                seed=seed,
            )
        saliency.setdefault("smoothgrad", {}).update(maps)
        method_settings["smoothgrad"] = used
        timings["saliency.smoothgrad"] = time.perf_counter() - began
    for method in [m for m in missing if m in ("occlusion", "lime", "kernel_shap")]:
        report_progress(progress, method, 0.0)
        began = time.perf_counter()
        with loaded.lock:
            if method == "occlusion":
                maps, used = attribution.occlusion(loaded, window, only(method), (answer.start_token, answer.end_token))
            else:
                samples_key = f"{method}_samples"
                default = attribution.LIME_SAMPLES if method == "lime" else attribution.KERNEL_SHAP_SAMPLES
                compute = attribution.lime if method == "lime" else attribution.kernel_shap
                maps, used = compute(
                    loaded, window, only(method), n_samples=int(settings.get(samples_key, default)), seed=seed
                )
        saliency.setdefault(method, {}).update(maps)
        method_settings[method] = used
        timings[f"saliency.{method}"] = time.perf_counter() - began
    updated = explanation.replace(saliency=saliency, method_settings=method_settings, timings=timings)
    if "integrated_gradients" in missing:
        updated = _add_integrated_gradients(
            updated, loaded, window, only("integrated_gradients"), progress, on_refinement
        )
    report_progress(progress, "done", 1.0)
    if use_cache:
        CACHE.put(_cache_key(loaded, explanation.question, explanation.context, explanation.settings), updated)
    return updated


def missing_saliency(
    explanation: Explanation, methods: Iterable[Method], targets: Iterable[Target] = TARGETS
) -> dict[Method, list[Target]]:
    """Per method, the targets (start and end always) the explanation has no map for yet; empty when complete."""
    wanted = _check_targets(targets)
    missing: dict[Method, list[Target]] = {}
    for method in methods:
        needed = [*wanted, PROBABILITY_TARGET] if method == "occlusion" else wanted
        have = explanation.saliency.get(method, {})
        lacking = [target for target in needed if target not in have]
        if lacking:
            missing[method] = lacking
    return missing


def _add_integrated_gradients(
    base: Explanation,
    loaded: LoadedModel,
    window: Window,
    outputs: dict[Target, TargetOutput],
    progress: ProgressCallback | None,
    on_refinement: Callable[[Explanation], None] | None,
) -> Explanation:
    """``base`` with integrated gradients of ``outputs`` merged in (earlier targets' results are kept)."""
    settings = base.settings
    baseline = str(settings.get("ig_baseline", "pad"))
    began = time.perf_counter()
    spent = int(base.ig_steps.get("evaluations", 0))

    def with_integrated_gradients(results: dict[Target, IntegratedGradientsResult]) -> Explanation:
        first = next(iter(results.values()))
        used = {
            "rule": attribution.IG_METHOD,
            "baseline": baseline,
            "baselines": list(first.components) or [baseline],
            "tolerance": float(settings.get("ig_tolerance", attribution.IG_TOLERANCE)),
        }
        if first.components:
            used["components"] = {target: result.components for target, result in results.items()}
        return base.replace(
            saliency={
                **base.saliency,
                "integrated_gradients": {
                    **base.saliency.get("integrated_gradients", {}),
                    **{t: r.scores for t, r in results.items()},
                },
            },
            convergence_delta={**base.convergence_delta, **{t: r.convergence_delta for t, r in results.items()}},
            ig_steps={
                **base.ig_steps,
                **{t: r.n_steps for t, r in results.items()},
                "evaluations": spent + first.evaluations,
            },
            ig_converged={**base.ig_converged, **{t: r.converged for t, r in results.items()}},
            ig_error={
                **base.ig_error,
                **{t: r.estimated_error if np.isfinite(r.estimated_error) else None for t, r in results.items()},
            },
            baseline=attribution.BASELINE_DESCRIPTIONS[baseline],
            method_settings={**base.method_settings, "integrated_gradients": used},
            timings={**base.timings, "saliency.integrated_gradients": time.perf_counter() - began},
        )

    def level_done(results: dict[Target, IntegratedGradientsResult]) -> None:
        if on_refinement is not None and not all(r.converged for r in results.values()):
            on_refinement(with_integrated_gradients(results))

    with loaded.lock:
        results = attribution.integrated_gradients(
            loaded,
            window,
            outputs,
            baseline=baseline,  # type: ignore[arg-type]
            n_steps=int(settings.get("ig_steps", attribution.IG_START_STEPS)),
            max_steps=int(settings.get("ig_max_steps", attribution.IG_MAX_STEPS)),
            tolerance=float(settings.get("ig_tolerance", attribution.IG_TOLERANCE)),
            progress=progress,
            on_level=level_done,
        )
    return with_integrated_gradients(results)


def clear_cache() -> None:
    """Forget cached explanations."""
    CACHE.clear()


def cache_info() -> dict[str, int]:
    """The explanation cache's ``entries``, ``bytes`` held and ``limit`` (the dashboard's memory log reads it)."""
    return CACHE.info()


def _answer_and_attention(
    loaded: LoadedModel,
    question: str,
    context: str,
    settings: dict[str, Any],
    timings: dict[str, float],
    progress: ProgressCallback | None,
) -> Explanation:
    report_progress(progress, "answer", 0.0)
    began = time.perf_counter()
    encoding = encode(
        loaded.tokenizer,
        question,
        context,
        max_length=settings["max_length"],
        stride=settings["stride"],
        max_windows=settings["max_windows"],
    )
    timings["encode"] = time.perf_counter() - began
    began = time.perf_counter()
    with loaded.lock:
        if len(encoding.windows) > 1:
            spans = answer_spans(encoding, answer_logits(loaded, encoding.windows), settings)
            detail = window_detail(loaded, encoding.windows[spans[0].window])
        else:
            detail = window_detail(loaded, encoding.windows[0])
            spans = answer_spans(encoding, [detail.logits], settings)
    timings["forward"] = time.perf_counter() - began
    return build_explanation(loaded, encoding, spans, detail, settings=settings, timings=timings)


def answer_spans(encoding: Encoding, logits: list[WindowLogits], settings: dict[str, Any]) -> list[Span]:
    """The best spans over every window's logits (``core.answering.best_spans`` with the settings' limits)."""
    starts, ends = stacked_logits(logits)
    return best_spans(encoding, starts, ends, max_answer_tokens=settings["max_answer_tokens"], top_k=settings["top_k"])


def build_explanation(
    loaded: LoadedModel,
    encoding: Encoding,
    spans: list[Span],
    detail: WindowDetail,
    *,
    settings: dict[str, Any],
    timings: dict[str, float],
    saliency: dict[str, dict[str, np.ndarray]] | None = None,
) -> Explanation:
    """The ``Explanation`` of ``spans[0]`` from the detail pass of its window: the one place one is assembled."""
    window_index = spans[0].window
    window = encoding.windows[window_index]
    logits = detail.logits
    return Explanation(
        model=loaded.name,
        model_type=loaded.model_type,
        question=encoding.question,
        context=encoding.context,
        tokens=list(window.tokens),
        roles=list(window.roles),
        offsets=list(window.offsets),
        word_ids=list(window.word_ids),
        answer=spans[0],
        top_k=list(spans),
        start_logits=logits.start,
        end_logits=logits.end,
        start_probs=softmax(logits.start),
        end_probs=softmax(logits.end),
        attentions=detail.attentions,
        layer_start_logits=detail.layer_start_logits,
        layer_end_logits=detail.layer_end_logits,
        saliency={method: dict(values) for method, values in (saliency or {}).items()},
        window_index=window_index,
        num_windows=len(encoding.windows),
        settings=dict(settings),
        timings=dict(timings),
    )


def answer_window(loaded: LoadedModel, explanation: Explanation) -> Window:
    """The window an explanation's answer came from, re-created from its question, context and settings.

    Tokenisation is deterministic and cheap next to a forward pass, so an Explanation stores tokens,
    not encodings; faithfulness and sanity checks re-run the model on this window.
    """
    settings = explanation.settings
    encoding = encode(
        loaded.tokenizer,
        explanation.question,
        explanation.context,
        max_length=int(settings.get("max_length", DEFAULT_MAX_LENGTH)),
        stride=int(settings.get("stride", DEFAULT_STRIDE)),
        max_windows=int(settings.get("max_windows", MAX_WINDOWS)),
    )
    window = encoding.windows[explanation.window_index]
    if window.input_ids and window.tokens != explanation.tokens:
        raise ValueError("This explanation was made with a different tokenizer than the loaded model's.")
    return window


def _check_methods(methods: Iterable[Method]) -> list[Method]:
    chosen = list(dict.fromkeys(methods))
    unknown = [method for method in chosen if method not in METHODS]
    if unknown:
        raise ValueError(f"Unknown saliency method(s) {unknown}; choose from {list(METHODS)}.")
    return chosen


def _check_targets(targets: Iterable[Target]) -> list[Target]:
    """Start and end first (always computed), then the extra targets asked for, each once."""
    if isinstance(targets, str):
        raise TypeError(f"targets must be a collection of target names, e.g. ({targets!r},), not a string.")
    chosen = list(dict.fromkeys([*TARGETS, *targets]))
    unknown = [target for target in chosen if target not in EXPLAINABLE_TARGETS]
    if unknown:
        raise ValueError(
            f"Unknown target(s) {unknown}; choose from {list(EXPLAINABLE_TARGETS)} (occlusion's 'probability' "
            "comes with occlusion)."
        )
    return chosen


def _check_settings(
    ig_baseline: str,
    contrast_rank: int,
    smoothgrad_samples: int,
    smoothgrad_noise: float,
    lime_samples: int,
    kernel_shap_samples: int,
) -> None:
    if ig_baseline not in IG_BASELINES:
        raise ValueError(f"Unknown integrated-gradients baseline {ig_baseline!r}; choose from {list(IG_BASELINES)}.")
    if contrast_rank < 2:
        raise ValueError(f"contrast_rank must be at least 2 (1 is the answer itself), not {contrast_rank}.")
    for name, count in (
        ("smoothgrad_samples", smoothgrad_samples),
        ("lime_samples", lime_samples),
        ("kernel_shap_samples", kernel_shap_samples),
    ):
        if count < 1:
            raise ValueError(f"{name} must be at least 1, not {count}.")
    if not smoothgrad_noise >= 0:
        raise ValueError(
            f"smoothgrad_noise must be 0 or more (a share of the embeddings' std), not {smoothgrad_noise}."
        )


def _cache_key(loaded: LoadedModel, question: str, context: str, settings: dict[str, Any]) -> tuple[Any, ...]:
    return (loaded.name, str(loaded.device), question.strip(), context, tuple(sorted(settings.items())))


__all__ = [
    "CACHE",
    "add_saliency",
    "answer_spans",
    "answer_window",
    "build_explanation",
    "cache_info",
    "clear_cache",
    "explain",
    "missing_saliency",
]
