"""Explain why an extractive QA model picks its answer: attention and captum saliency.

Computation only (torch, transformers, captum, numpy); no UI imports here.
"""

from core.answering import Span
from core.attention import Word, attention_rollout, mean_over_heads, question_to_context
from core.compare import (
    Comparison,
    ContextWord,
    WordAlignment,
    align,
    compare_explanations,
    compare_models,
    context_words,
)
from core.encoding import MAX_WINDOWS, Encoding, Window, encode
from core.explain import add_saliency, clear_cache, explain
from core.explanation import Explanation
from core.faithfulness import ExplainerFaithfulness, FaithfulnessReport, faithfulness
from core.importance import ATTENTION_VARIANTS, EXPLAINERS, importance_order, token_importance
from core.layerwise import LayerSpan, LayerwiseReport, layer_answers
from core.models import LoadedModel, ModelLoadError, load_model
from core.report import Report, build_report
from core.sanity import SanityReport, sanity_check
from core.types import DEFAULT_MODEL, METHODS, TARGETS

__all__ = [
    "ATTENTION_VARIANTS",
    "DEFAULT_MODEL",
    "EXPLAINERS",
    "MAX_WINDOWS",
    "METHODS",
    "TARGETS",
    "Comparison",
    "ContextWord",
    "Encoding",
    "ExplainerFaithfulness",
    "Explanation",
    "FaithfulnessReport",
    "LayerSpan",
    "LayerwiseReport",
    "LoadedModel",
    "ModelLoadError",
    "Report",
    "SanityReport",
    "Span",
    "Window",
    "Word",
    "WordAlignment",
    "add_saliency",
    "align",
    "attention_rollout",
    "build_report",
    "clear_cache",
    "compare_explanations",
    "compare_models",
    "context_words",
    "encode",
    "explain",
    "faithfulness",
    "importance_order",
    "layer_answers",
    "load_model",
    "mean_over_heads",
    "question_to_context",
    "sanity_check",
    "token_importance",
]
