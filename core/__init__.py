"""Explain why an extractive QA model picks its answer: attention and captum saliency.

Computation only (torch, transformers, captum, numpy); no UI imports here (a test checks).

The pipeline lives in this package's top-level modules, in the order data flows through it:
``models`` (loading) -> ``encoding`` (windows) -> ``inputs`` (tensors) -> ``answering`` (spans) ->
``attention`` (aggregations, head statistics) -> ``targets`` (what a map explains) -> ``saliency``
(captum gradients) and ``perturbation`` (captum occlusion, LIME, Kernel SHAP) -> ``explanation`` (the
result) -> ``explain`` (the one call, cached); ``whatif`` edits the context and re-answers. The
evaluation wing is ``core.trust``.
"""

from core.answering import Span
from core.attention import Word, attention_rollout, mean_over_heads, question_to_context
from core.encoding import MAX_WINDOWS, Encoding, Window, encode
from core.explain import add_saliency, clear_cache, explain, missing_saliency
from core.explanation import Explanation
from core.models import LoadedModel, ModelLoadError, load_model
from core.trust import (
    ATTENTION_VARIANTS,
    EXPLAINERS,
    Comparison,
    ContextWord,
    ExplainerFaithfulness,
    FaithfulnessReport,
    HeadImportance,
    LayerSpan,
    LayerwiseReport,
    Report,
    SanityReport,
    WordAlignment,
    align,
    build_report,
    compare_explanations,
    compare_models,
    context_words,
    faithfulness,
    head_importance,
    importance_order,
    layer_answers,
    sanity_check,
    token_importance,
)
from core.types import (
    CONTRAST_TARGET,
    DEFAULT_METHODS,
    DEFAULT_MODEL,
    EXPLAINABLE_TARGETS,
    GRADIENT_METHODS,
    IG_BASELINES,
    METHODS,
    NULL_TARGET,
    PERTURBATION_METHODS,
    PROBABILITY_TARGET,
    TARGETS,
)
from core.whatif import Edit, EditHistory, WhatIf, apply_edits, reanswer

__all__ = [
    "ATTENTION_VARIANTS",
    "CONTRAST_TARGET",
    "DEFAULT_METHODS",
    "DEFAULT_MODEL",
    "EXPLAINABLE_TARGETS",
    "EXPLAINERS",
    "GRADIENT_METHODS",
    "IG_BASELINES",
    "MAX_WINDOWS",
    "METHODS",
    "NULL_TARGET",
    "PERTURBATION_METHODS",
    "PROBABILITY_TARGET",
    "TARGETS",
    "Comparison",
    "ContextWord",
    "Edit",
    "EditHistory",
    "Encoding",
    "ExplainerFaithfulness",
    "Explanation",
    "FaithfulnessReport",
    "HeadImportance",
    "LayerSpan",
    "LayerwiseReport",
    "LoadedModel",
    "ModelLoadError",
    "Report",
    "SanityReport",
    "Span",
    "WhatIf",
    "Window",
    "Word",
    "WordAlignment",
    "add_saliency",
    "align",
    "apply_edits",
    "attention_rollout",
    "build_report",
    "clear_cache",
    "compare_explanations",
    "compare_models",
    "context_words",
    "encode",
    "explain",
    "faithfulness",
    "head_importance",
    "importance_order",
    "layer_answers",
    "load_model",
    "missing_saliency",
    "mean_over_heads",
    "question_to_context",
    "reanswer",
    "sanity_check",
    "token_importance",
]
