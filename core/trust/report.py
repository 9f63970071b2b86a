"""One JSON report on whether to trust the explanations: faithfulness, sanity, layers, models side by side.

``build_report(question, context, models)`` runs, for every model: ``core.explain`` (the saliency
methods among ``explainers``: by default the default ones), ``core.trust.faithfulness``, ``core.sanity_check``
(on the methods it can recompute) and ``core.layer_answers``; with two or more
models also ``core.compare_explanations``. ``python -m core report`` writes it as JSON::

    python -m core report --model ./squad-a --model ./squad-b \\
        --question "Who designed it?" --context @context.txt --out report.json

The JSON (``Report.to_dict()``; ``None`` stands for an undefined number, e.g. a correlation of a
constant map)::

    {
      "format": "qa-lens/trust-report", "version": 1,
      "question": str, "context": str,
      "models": {
        "<model>": {
          "model_type": str,
          "answer": {"text", "score", "start_char", "end_char", "window", "start_token", "end_token"},
          "integrated_gradients": {"converged": {"start": bool, "end": bool},       # met the tolerance?
                                   "estimated_error": {"start": float | None, ...},  # relative L2 of the map
                                   "convergence_delta": {"start": float, ...}, "evaluations": int},
          "faithfulness": {                       # one entry per explainer, and "random"
            "<explainer>": {
              "deletion_aopc": float,             # higher is better
              "insertion_aopc": float,            # higher is better
              "comprehensiveness": float,         # higher is better (ERASER)
              "sufficiency": float,               # LOWER is better (ERASER)
              "deletion_aopc_normalised": float | None, "insertion_aopc_normalised": float | None,
              "deletion": [float, ...],           # p of the answer at each fraction of faithfulness_settings
              "insertion": [float, ...],
              "comprehensiveness_at": [float, ...], "sufficiency_at": [float, ...],   # per eraser fraction
              "beats_random": {"<metric>": bool}  # empty for "random"
            }
          },
          "faithfulness_ranking": [{"rank", "name", "kind", "mean_rank", "beats_random", <metrics>}],
          "faithfulness_settings": {"fractions", "eraser_fractions", "replacement_token", "replacement_id",
                                    "combine", "random_orders", "seed", "higher_is_better", "tokens_removed",
                                    "probability", "original_probability", "empty_probability",
                                    "num_context_tokens", "forward_passes", "inputs_requested", "batches",
                                    "seconds"},
          "sanity": {"<method>": [rho after step 1, rho after step 2, ...]},   # Spearman, cascading
          "sanity_details": {"steps": ["qa_outputs", "layer 5", ..., "layer 0", "embeddings"],
                             "spearman_abs": {"<method>": [...]}, "flagged": [method, ...],
                             "flag_step": str, "threshold": float, "mode": str, "seed": int,
                             "ig_steps": int, "seconds": float},
          "layers": [{"layer", "start_token", "end_token", "text", "score",
                      "answer_probability", "matches_answer"}],        # layer 0 = embeddings
          "answer_forms_at": int | None,
          "heads": {...},                          # only with heads=True: core.trust.heads.HeadImportance.to_dict()
          "word_saliency": {"<explainer>": [float | None per word]},  # only with two or more models
          "timings": {"explain", "faithfulness", "sanity", "layers"}
        }
      },
      "words": [{"index", "text", "start_char", "end_char"}],          # only with two or more models
      "agreement": {"<explainer>": [{"a", "b", "spearman", "p_value", "words"}]},   # likewise
      "same_answer": bool                                              # likewise
    }

Explainers are ``gradient``, ``gradient_x_input``, ``integrated_gradients``, ``attention_mean``,
``attention_rollout`` and ``question_to_context`` (see ``core.trust.importance``); the definitions
of every number are in ``core.trust.faithfulness``, ``sanity``, ``layerwise`` and ``compare``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.atomic_files import write_atomically
from core.explain import explain
from core.explanation import Explanation
from core.models import LoadedModel, load_model
from core.progress import ProgressCallback, report_progress, sub_progress
from core.trust.compare import Comparison, compare_explanations
from core.trust.faithfulness import (
    ERASER_FRACTIONS,
    FRACTIONS,
    RANDOM_ORDERS,
    FaithfulnessReport,
    Precision,
    faithfulness,
)
from core.trust.heads import HeadImportance, head_importance
from core.trust.importance import DEFAULT_EXPLAINERS, EXPLAINERS
from core.trust.layerwise import LayerwiseReport, layer_answers
from core.trust.sanity import SANITY_IG_STEPS, SANITY_METHODS, SANITY_THRESHOLD, SanityReport, sanity_check
from core.types import METHODS

FORMAT_NAME = "qa-lens/trust-report"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class ModelReport:
    """Everything the report holds about one model."""

    name: str
    explanation: Explanation
    faithfulness: FaithfulnessReport
    sanity: SanityReport | None
    layers: LayerwiseReport
    timings: dict[str, float]
    heads: HeadImportance | None = None

    def to_dict(self) -> dict[str, Any]:
        faith = self.faithfulness
        settings = {
            **faith.settings(),
            "original_probability": faith.original_probability,
            "empty_probability": faith.empty_probability,
            "num_context_tokens": faith.num_context_tokens,
            "forward_passes": faith.forward_passes,
            "inputs_requested": faith.inputs_requested,
            "batches": faith.batches,
            "seconds": faith.seconds,
        }
        explainers = {}
        for name, item in faith.explainers.items():
            entry = item.to_dict()
            entry.pop("order")
            entry.pop("name")
            explainers[name] = entry
        payload: dict[str, Any] = {
            "model_type": self.explanation.model_type,
            "answer": self.explanation.answer.to_dict(),
            "integrated_gradients": integrated_gradients_summary(self.explanation),
            "faithfulness": explainers,
            "faithfulness_ranking": faith.ranking(),
            "faithfulness_settings": settings,
        }
        if self.sanity is not None:
            details = self.sanity.to_dict(maps=False)
            payload["sanity"] = details.pop("spearman")
            for key in ("model", "methods"):
                details.pop(key)
            payload["sanity_details"] = details
        layers = self.layers.to_dict(probabilities=False)
        payload["layers"] = layers["spans"]
        payload["answer_forms_at"] = layers["answer_forms_at"]
        if self.heads is not None:
            payload["heads"] = self.heads.to_dict()
        payload["timings"] = dict(self.timings)
        return payload


@dataclass(frozen=True)
class Report:
    """The trust report over one question and context and one or more models."""

    question: str
    context: str
    models: dict[str, ModelReport]
    comparison: Comparison | None
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (module docstring)."""
        models = {name: report.to_dict() for name, report in self.models.items()}
        payload: dict[str, Any] = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "question": self.question,
            "context": self.context,
            "models": models,
        }
        if self.comparison is not None:
            compared = self.comparison.to_dict()
            for name, side in compared["models"].items():
                models[name]["word_saliency"] = side["word_saliency"]
            payload["words"] = compared["words"]
            payload["agreement"] = compared["agreement"]
            payload["same_answer"] = compared["same_answer"]
        payload["seconds"] = self.seconds
        return payload

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)

    def save(self, path: str | Path) -> Path:
        """Write the JSON to ``path``, whole or not at all (``core.atomic_files``); OSError if it cannot."""
        data = self.to_json().encode("utf-8")
        return write_atomically(path, lambda handle: handle.write(data))


def build_report(
    question: str,
    context: str,
    models: Sequence[str | LoadedModel],
    *,
    explainers: Iterable[str] = DEFAULT_EXPLAINERS,
    sanity: bool = True,
    heads: bool = False,
    fractions: Sequence[float] = FRACTIONS,
    eraser_fractions: Sequence[float] = ERASER_FRACTIONS,
    random_orders: int = RANDOM_ORDERS,
    precision: Precision = "float32",
    sanity_threshold: float = SANITY_THRESHOLD,
    sanity_ig_steps: int = SANITY_IG_STEPS,
    seed: int = 0,
    progress: ProgressCallback | None = None,
    **explain_options: Any,
) -> Report:
    """Explain ``question`` with each model and measure how far to trust each explanation.

    ``explain_options`` go to ``core.explain`` (``ig_max_steps``, ``max_length``...). ``sanity=False``
    skips the randomisation check (its integrated gradients are the slowest part on big models).
    ``precision`` is the faithfulness passes' (``core.trust.faithfulness``).
    """
    began = time.perf_counter()
    if not models:
        raise ValueError("Give at least one model.")
    chosen = list(dict.fromkeys(explainers))
    unknown = [name for name in chosen if name not in EXPLAINERS]
    if unknown:
        raise ValueError(f"Unknown explainer(s) {unknown}; choose from {list(EXPLAINERS)}.")
    methods = [name for name in chosen if name in METHODS]
    reports: dict[str, ModelReport] = {}
    explanations: list[Explanation] = []
    names: list[str] = []
    for index, model in enumerate(models):
        loaded = model if isinstance(model, LoadedModel) else load_model(model)
        name = _unique(loaded.name, reports)
        stage = f"{name}: "
        share = 1.0 / len(models)
        report_progress(progress, stage + "explain", index * share)
        timings: dict[str, float] = {}
        clock = time.perf_counter()
        explanation = explain(
            question,
            context,
            model=loaded,
            methods=methods,
            progress=sub_progress(progress, stage, index * share, (index + 0.3) * share),
            **explain_options,
        )
        timings["explain"] = time.perf_counter() - clock
        clock = time.perf_counter()
        faith = faithfulness(
            explanation,
            loaded,
            chosen,
            fractions=fractions,
            eraser_fractions=eraser_fractions,
            random_orders=random_orders,
            seed=seed,
            precision=precision,
            progress=sub_progress(progress, stage, (index + 0.3) * share, (index + 0.6) * share),
        )
        timings["faithfulness"] = time.perf_counter() - clock
        checked = None
        checkable = [m for m in methods if m in SANITY_METHODS]
        if sanity and checkable:
            clock = time.perf_counter()
            checked = sanity_check(
                explanation,
                loaded,
                checkable,
                threshold=sanity_threshold,
                seed=seed,
                ig_steps=sanity_ig_steps,
                progress=sub_progress(progress, stage + "sanity ", (index + 0.6) * share, (index + 1) * share),
            )
            timings["sanity"] = time.perf_counter() - clock
        clock = time.perf_counter()
        layers = layer_answers(explanation)
        timings["layers"] = time.perf_counter() - clock
        importance = None
        if heads:
            clock = time.perf_counter()
            importance = head_importance(explanation, loaded)
            timings["heads"] = time.perf_counter() - clock
        reports[name] = ModelReport(name, explanation, faith, checked, layers, timings, importance)
        explanations.append(explanation)
        names.append(name)
    comparison = compare_explanations(explanations, chosen, names=names) if len(explanations) > 1 else None
    report_progress(progress, "done", 1.0)
    first = explanations[0]
    return Report(
        question=first.question,
        context=context,
        models=reports,
        comparison=comparison,
        seconds=time.perf_counter() - began,
    )


def integrated_gradients_summary(explanation: Explanation) -> dict[str, Any]:
    """Whether integrated gradients converged, their estimated map errors, deltas and forward passes spent."""
    return {
        "converged": dict(explanation.ig_converged),
        "estimated_error": dict(explanation.ig_error),
        "convergence_delta": dict(explanation.convergence_delta),
        "evaluations": explanation.ig_steps.get("evaluations"),
    }


def _unique(name: str, taken: dict[str, Any]) -> str:
    if name not in taken:
        return name
    count = 2
    while f"{name}#{count}" in taken:
        count += 1
    return f"{name}#{count}"


__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "ModelReport", "Report", "build_report"]
