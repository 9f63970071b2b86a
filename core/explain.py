"""``explain``: question + context -> one ``Explanation``, computed once and cached.

The flow is encode -> one batched forward over all windows (answer) -> one forward of the answer's
window with attentions and hidden states -> captum saliency. ``add_saliency`` fills in methods
later (the dashboard shows the answer first and integrated gradients after).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch

from core import saliency as saliency_module
from core.answering import DEFAULT_MAX_ANSWER_TOKENS, DEFAULT_TOP_K, best_spans, softmax
from core.cache import ExplanationCache
from core.encoding import DEFAULT_MAX_LENGTH, DEFAULT_STRIDE, MAX_WINDOWS, Encoding, Window, encode, validate_text
from core.explanation import Explanation
from core.inputs import batch_inputs
from core.models import LoadedModel, load_model
from core.progress import ProgressCallback, report_progress
from core.saliency import IntegratedGradientsResult
from core.types import DEFAULT_MODEL, METHODS, Method, Target

WINDOW_BATCH = 8

CACHE = ExplanationCache()
"""Explanations by (model, device, question, context, settings), bounded in bytes (``core.cache``)."""


def explain(
    question: str,
    context: str,
    model: str | LoadedModel = DEFAULT_MODEL,
    methods: Iterable[Method] = METHODS,
    *,
    top_k: int = DEFAULT_TOP_K,
    max_answer_tokens: int = DEFAULT_MAX_ANSWER_TOKENS,
    max_length: int = DEFAULT_MAX_LENGTH,
    stride: int = DEFAULT_STRIDE,
    max_windows: int = MAX_WINDOWS,
    ig_steps: int = saliency_module.IG_START_STEPS,
    ig_max_steps: int = saliency_module.IG_MAX_STEPS,
    ig_tolerance: float = saliency_module.IG_TOLERANCE,
    device: str | None = None,
    progress: ProgressCallback | None = None,
    use_cache: bool = True,
) -> Explanation:
    """Answer ``question`` from ``context`` with ``model`` and explain the answer.

    ``methods`` is any subset of ``gradient``, ``gradient_x_input``, ``integrated_gradients``.
    Raises ``TypeError`` for a question or context that is not text, ``ValueError`` for unusable input
    and ``core.ModelLoadError`` for a model that cannot be loaded.
    """
    validate_text(question, context)  # before the cache key, which would fail on non-text with an AttributeError
    chosen = _check_methods(methods)
    if top_k < 1:
        raise ValueError("top_k must be at least 1.")
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
        "ig_method": saliency_module.IG_METHOD,
    }
    key = _cache_key(loaded, question, context, settings)
    if use_cache:
        cached = CACHE.get(key)
        if cached is not None and set(chosen) <= set(cached.saliency):
            return cached
        if cached is not None:
            return add_saliency(cached, chosen, model=loaded, progress=progress)
    explanation = _answer_and_attention(loaded, question, context, settings, timings, progress)
    if chosen:
        explanation = add_saliency(explanation, chosen, model=loaded, progress=progress, use_cache=False)
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
    model: str | LoadedModel | None = None,
    progress: ProgressCallback | None = None,
    use_cache: bool = True,
    on_refinement: Callable[[Explanation], None] | None = None,
) -> Explanation:
    """A copy of ``explanation`` with the missing saliency ``methods`` computed.

    ``on_refinement`` (integrated gradients only) gets a copy after every refinement level, before the
    final one: a page can show the map early and let it sharpen (``ig_converged`` says when it is final).
    """
    chosen = [method for method in _check_methods(methods) if method not in explanation.saliency]
    if not chosen:
        return explanation
    loaded = model if isinstance(model, LoadedModel) else load_model(model or explanation.model)
    window = answer_window(loaded, explanation)
    start, end = explanation.answer.start_token, explanation.answer.end_token
    saliency = {method: dict(values) for method, values in explanation.saliency.items()}
    timings = dict(explanation.timings)
    settings = explanation.settings
    gradient_methods = [m for m in chosen if m in ("gradient", "gradient_x_input")]
    if gradient_methods:
        report_progress(progress, "gradient", 0.0)
        began = time.perf_counter()
        with loaded.lock:
            both = saliency_module.gradient_saliency(loaded, window, start, end)
        for method in gradient_methods:
            saliency[method] = both[method]
        timings["saliency.gradient"] = time.perf_counter() - began
    updated = explanation.replace(saliency=saliency, timings=timings)
    if "integrated_gradients" in chosen:
        began = time.perf_counter()
        base = updated

        def with_integrated_gradients(results: dict[Target, IntegratedGradientsResult]) -> Explanation:
            return base.replace(
                saliency={**base.saliency, "integrated_gradients": {t: r.scores for t, r in results.items()}},
                convergence_delta={t: r.convergence_delta for t, r in results.items()},
                ig_steps={**{t: r.n_steps for t, r in results.items()}, "evaluations": results["start"].evaluations},
                ig_converged={t: r.converged for t, r in results.items()},
                ig_error={t: r.estimated_error if np.isfinite(r.estimated_error) else None for t, r in results.items()},
                baseline=saliency_module.BASELINE_DESCRIPTION,
                timings={**base.timings, "saliency.integrated_gradients": time.perf_counter() - began},
            )

        def level_done(results: dict[Target, IntegratedGradientsResult]) -> None:
            if on_refinement is not None and not all(r.converged for r in results.values()):
                on_refinement(with_integrated_gradients(results))

        with loaded.lock:
            results = saliency_module.integrated_gradients_both(
                loaded,
                window,
                start,
                end,
                n_steps=int(settings.get("ig_steps", saliency_module.IG_START_STEPS)),
                max_steps=int(settings.get("ig_max_steps", saliency_module.IG_MAX_STEPS)),
                tolerance=float(settings.get("ig_tolerance", saliency_module.IG_TOLERANCE)),
                progress=progress,
                on_level=level_done,
            )
        updated = with_integrated_gradients(results)
    report_progress(progress, "done", 1.0)
    if use_cache:
        CACHE.put(_cache_key(loaded, explanation.question, explanation.context, explanation.settings), updated)
    return updated


def clear_cache() -> None:
    """Forget cached explanations."""
    CACHE.clear()


def run_windows(loaded: LoadedModel, windows: Sequence[Window]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Start and end logits for every window, in padded batches of ``WINDOW_BATCH``."""
    starts: list[np.ndarray] = []
    ends: list[np.ndarray] = []
    for first in range(0, len(windows), WINDOW_BATCH):
        chunk = windows[first : first + WINDOW_BATCH]
        inputs = batch_inputs(loaded, chunk)
        with torch.no_grad():
            output = loaded.model(**inputs)
        for row, window in enumerate(chunk):
            starts.append(output.start_logits[row, : window.length].float().cpu().numpy())
            ends.append(output.end_logits[row, : window.length].float().cpu().numpy())
    return starts, ends


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
            start_logits, end_logits = run_windows(loaded, encoding.windows)
            spans = _spans(encoding, start_logits, end_logits, settings)
            answer_window_index = spans[0].window
            detail = _window_detail(loaded, encoding.windows[answer_window_index])
        else:
            detail = _window_detail(loaded, encoding.windows[0])
            spans = _spans(encoding, [detail["start_logits"]], [detail["end_logits"]], settings)
            answer_window_index = 0
    timings["forward"] = time.perf_counter() - began
    window = encoding.windows[answer_window_index]
    return Explanation(
        model=loaded.name,
        model_type=loaded.model_type,
        question=encoding.question,
        context=context,
        tokens=list(window.tokens),
        roles=list(window.roles),
        offsets=list(window.offsets),
        word_ids=list(window.word_ids),
        answer=spans[0],
        top_k=spans,
        start_logits=detail["start_logits"],
        end_logits=detail["end_logits"],
        start_probs=softmax(detail["start_logits"]),
        end_probs=softmax(detail["end_logits"]),
        attentions=detail["attentions"],
        layer_start_logits=detail["layer_start_logits"],
        layer_end_logits=detail["layer_end_logits"],
        window_index=answer_window_index,
        num_windows=len(encoding.windows),
        settings=settings,
        timings=timings,
    )


def _spans(
    encoding: Encoding, start_logits: list[np.ndarray], end_logits: list[np.ndarray], settings: dict[str, Any]
) -> list:
    return best_spans(
        encoding,
        start_logits,
        end_logits,
        max_answer_tokens=settings["max_answer_tokens"],
        top_k=settings["top_k"],
    )


def _window_detail(loaded: LoadedModel, window: Window) -> dict[str, np.ndarray]:
    """Logits, all attentions and the QA head applied to every layer, for one window."""
    inputs = batch_inputs(loaded, [window])
    with torch.no_grad():
        output = loaded.model(**inputs, output_attentions=True, output_hidden_states=True)
        hidden = torch.stack(output.hidden_states)[:, 0]
        layer_logits = loaded.model.qa_outputs(hidden)
    attentions = torch.stack(output.attentions)[:, 0].float().cpu().numpy()
    return {
        "start_logits": output.start_logits[0].float().cpu().numpy(),
        "end_logits": output.end_logits[0].float().cpu().numpy(),
        "attentions": attentions,
        "layer_start_logits": layer_logits[..., 0].float().cpu().numpy(),
        "layer_end_logits": layer_logits[..., 1].float().cpu().numpy(),
    }


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


def _cache_key(loaded: LoadedModel, question: str, context: str, settings: dict[str, Any]) -> tuple[Any, ...]:
    return (loaded.name, str(loaded.device), question.strip(), context, tuple(sorted(settings.items())))


__all__ = ["add_saliency", "answer_window", "clear_cache", "explain", "run_windows"]
