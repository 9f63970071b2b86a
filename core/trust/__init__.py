"""The evaluation wing: can an explanation be trusted?

Plain functions over ``Explanation`` objects from the pipeline (``core.explain``):

- ``faithfulness``: deletion and insertion curves, AOPC, ERASER comprehensiveness and sufficiency;
- ``sanity_check``: cascading model-parameter randomisation (Adebayo et al., 2018);
- ``layer_answers``: the QA head applied to every layer (van Aken et al., 2019);
- ``head_importance``: each head's ablation and gradient importance for the answer (Michel et al., 2019);
- ``compare_models`` / ``compare_explanations``: models side by side on the context's words;
- ``build_report``: all of the above as one JSON report;
- ``token_importance`` / ``importance_order``: the one ranking of tokens they all share.

Its one door is this module (import from ``core.trust``, never from its files). The pipeline never imports
this package; this package imports the pipeline, and runs the model only through ``core.passes``.
"""

from core.trust.compare import (
    Comparison,
    ContextWord,
    WordAlignment,
    align,
    compare_explanations,
    compare_models,
    context_words,
)
from core.trust.faithfulness import (
    FAITHFULNESS_BATCH_SIZE,
    PRECISIONS,
    RANDOM,
    RANDOM_ORDERS,
    ExplainerFaithfulness,
    FaithfulnessReport,
    faithfulness,
)
from core.trust.heads import HEAD_BATCH_SIZE, HeadImportance, head_importance
from core.trust.importance import (
    ATTENTION_VARIANTS,
    DEFAULT_EXPLAINERS,
    EXPLAINERS,
    SIGNED_METHODS,
    UNSIGNED_METHODS,
    importance_order,
    token_importance,
)
from core.trust.layerwise import LayerSpan, LayerwiseReport, layer_answers
from core.trust.report import Report, build_report
from core.trust.sanity import SANITY_IG_STEPS, SanityReport, sanity_check

__all__ = [
    "ATTENTION_VARIANTS",
    "DEFAULT_EXPLAINERS",
    "EXPLAINERS",
    "FAITHFULNESS_BATCH_SIZE",
    "HEAD_BATCH_SIZE",
    "PRECISIONS",
    "RANDOM",
    "RANDOM_ORDERS",
    "SANITY_IG_STEPS",
    "SIGNED_METHODS",
    "UNSIGNED_METHODS",
    "Comparison",
    "ContextWord",
    "ExplainerFaithfulness",
    "FaithfulnessReport",
    "HeadImportance",
    "LayerSpan",
    "LayerwiseReport",
    "Report",
    "SanityReport",
    "WordAlignment",
    "align",
    "build_report",
    "compare_explanations",
    "compare_models",
    "context_words",
    "faithfulness",
    "head_importance",
    "importance_order",
    "layer_answers",
    "sanity_check",
    "token_importance",
]
