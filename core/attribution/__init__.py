"""The attribution wing: one value per token for one explained scalar (a target), by gradients or perturbation.

Its one door (import from ``core.attribution``, never from its files):

- ``targets``: what a map explains (start, end, contrast, null: weighted sums of the window's logits);
- ``gradients``: captum ``Saliency`` (gradient, gradient x input) and ``NoiseTunnel`` (SmoothGrad);
- ``integrated_gradients`` with its ``quadrature`` (nested trapezoid with Gregory end corrections, refined
  until each map's estimated error is within the tolerance) and ``baselines`` (pad, mask, zero, average);
- ``perturbation``: captum ``FeatureAblation`` (occlusion), ``Lime`` and ``KernelShap`` over words.

Every method reads the model through ``core.passes``; ``core.explain`` calls them for an ``Explanation``.
"""

from core.attribution.baselines import (
    BASELINE_DESCRIPTION,
    BASELINE_DESCRIPTIONS,
    baseline_embeddings,
    baseline_ids,
    distinct_baselines,
    replacement_token,
)
from core.attribution.gradients import (
    GRADIENT_BATCH,
    SMOOTHGRAD_NOISE,
    SMOOTHGRAD_SAMPLES,
    gradient_saliency,
    seeded,
    smoothgrad,
)
from core.attribution.integrated_gradients import (
    IG_INTERNAL_BATCH,
    IG_MAX_STEPS,
    IG_METHOD,
    IG_START_STEPS,
    IntegratedGradientsResult,
    LevelCallback,
    integrated_gradients,
    integrated_gradients_both,
    path_integrand,
)
from core.attribution.perturbation import (
    KERNEL_SHAP_SAMPLES,
    LIME_KERNEL_WIDTH,
    LIME_RIDGE_ALPHA,
    LIME_SAMPLES,
    PERTURBATION_BATCH,
    WordFeatures,
    kernel_shap,
    lime,
    occlusion,
    word_features,
)
from core.attribution.quadrature import (
    FLOAT32_FLOOR,
    GREGORY_POINTS,
    IG_RICHARDSON_LEVEL,
    IG_RULE_ORDER,
    IG_SAFETY,
    IG_TOLERANCE,
    completeness_met,
    gregory_weights,
    level_error,
    relative_change,
)
from core.attribution.targets import (
    TargetOutput,
    answer_outputs,
    contrast_span,
    span_weights,
    target_forward,
    target_index,
    target_outputs,
    weight_matrix,
)

__all__ = [
    "BASELINE_DESCRIPTION",
    "BASELINE_DESCRIPTIONS",
    "FLOAT32_FLOOR",
    "GRADIENT_BATCH",
    "GREGORY_POINTS",
    "IG_INTERNAL_BATCH",
    "IG_MAX_STEPS",
    "IG_METHOD",
    "IG_RICHARDSON_LEVEL",
    "IG_RULE_ORDER",
    "IG_SAFETY",
    "IG_START_STEPS",
    "IG_TOLERANCE",
    "KERNEL_SHAP_SAMPLES",
    "LIME_KERNEL_WIDTH",
    "LIME_RIDGE_ALPHA",
    "LIME_SAMPLES",
    "PERTURBATION_BATCH",
    "SMOOTHGRAD_NOISE",
    "SMOOTHGRAD_SAMPLES",
    "IntegratedGradientsResult",
    "LevelCallback",
    "TargetOutput",
    "WordFeatures",
    "answer_outputs",
    "baseline_embeddings",
    "baseline_ids",
    "completeness_met",
    "contrast_span",
    "distinct_baselines",
    "gradient_saliency",
    "gregory_weights",
    "integrated_gradients",
    "integrated_gradients_both",
    "kernel_shap",
    "level_error",
    "lime",
    "occlusion",
    "path_integrand",
    "relative_change",
    "replacement_token",
    "seeded",
    "smoothgrad",
    "span_weights",
    "target_forward",
    "target_index",
    "target_outputs",
    "weight_matrix",
    "word_features",
]
