"""Perturbation saliency with captum: occlusion, LIME and Kernel SHAP, word by word.

These methods never differentiate: they run the model on copies of the window with some words
replaced, and read how the explained scalars (``core.attribution.targets``) move. What they share:

- **features are words**: the question's and the context's words (a word's wordpieces, grouped by
  ``word_ids`` exactly as ``Explanation.words()`` groups them) are the features of captum's
  ``feature_mask``. Special tokens are never perturbed: captum sees only the ids of the question and
  context tokens, and the forward function puts them back between the fixed special tokens.
- **removing a word** replaces every piece of it by the tokenizer's mask token (``[MASK]``, ``<mask>``;
  ``[PAD]`` when there is none), at the same position, with the same attention mask and token types:
  the replacement ``core.trust.faithfulness`` uses, so these maps are judged on the inputs they came from.
- **one value per word, split evenly over its pieces**: captum gives each word one value; the token-level
  array holds ``value / pieces`` on each piece (0 on special tokens), so ``Explanation.saliency_by_word``
  (a sum over pieces) gives back the word's value.
- **forward passes are shared between targets**: the model's outputs are memoised by input, and every
  target's captum call draws the same perturbations (the same seed), so explaining start, end, contrast
  and null costs the passes of one target. ``forward_passes`` in the settings counts the sequences run.

The methods:

- ``occlusion`` (Zeiler & Fergus, 2014; captum ``FeatureAblation``): a word's value is
  ``F(input) - F(input without the word)``: positive when removing the word lowers the target. Besides the
  logit targets it records ``probability``: the drop in the answer's ``p_start * p_end``.
- ``lime`` (Ribeiro et al., 2016; captum ``Lime``): a weighted linear surrogate fitted to ``n_samples``
  random subsets of the words (each kept with probability 1/2, captum's sampler). As in LIME's own text
  explainer, the surrogate is ridge regression (``alpha=1``) and a sample's weight is
  ``exp(-d^2 / (2 * 0.25^2))`` with ``d`` the cosine distance between its kept-words vector and the
  all-kept one (lime_text's kernel width 25 on ``100 * d``). The value is the word's coefficient.
- ``kernel_shap`` (Lundberg & Lee, 2017; captum ``KernelShap``): Shapley values estimated by captum's
  kernel-SHAP sampling (subset sizes drawn by the Shapley kernel, the empty and full sets forced) and a
  linear regression. With fewer samples than words the regression is underdetermined (then least squares
  picks the minimum-norm solution): give ``n_samples`` at least the number of words for stable values.

Both samplers draw from torch's generator, seeded with ``seed`` inside ``torch.random.fork_rng`` (the
caller's random state is left as it was): the same seed and samples give the same map as captum's own
call on the same input.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import FeatureAblation, KernelShap, Lime

from core.attribution.baselines import replacement_token
from core.attribution.gradients import seeded
from core.attribution.targets import TargetOutput, weight_matrix
from core.encoding import Window
from core.inputs import window_tensors
from core.models import LoadedModel
from core.passes import fast_attention, ids_logits
from core.types import PROBABILITY_TARGET, Role, Target, TokenScores

PERTURBATION_BATCH = 16
"""Perturbed sequences per forward pass."""
LIME_SAMPLES = 300
"""Random word subsets LIME fits its surrogate to (per explanation: shared by the targets)."""
KERNEL_SHAP_SAMPLES = 300
"""Word subsets Kernel SHAP samples; at least the number of words for a determined regression."""
LIME_KERNEL_WIDTH = 0.25
"""Width of LIME's exponential kernel on the cosine distance of kept-word vectors (lime_text's 25 / 100)."""
LIME_RIDGE_ALPHA = 1.0
"""Ridge penalty of LIME's surrogate (LIME's own default)."""


@dataclass(frozen=True)
class WordFeatures:
    """The words captum perturbs: which token positions it sees and which word each belongs to."""

    positions: list[int]
    """Token positions of question and context tokens, in order: the columns of captum's input."""
    feature: list[int]
    """Per position in ``positions``, its word's feature index (0, 1, ... in reading order)."""
    pieces: list[int]
    """Per word, how many tokens it has."""

    @property
    def count(self) -> int:
        return len(self.pieces)

    def token_scores(self, values: np.ndarray, length: int) -> TokenScores:
        """``[tokens]``: each word's value split evenly over its pieces; 0 on special tokens."""
        scores = np.zeros(length, dtype=np.float64)
        for position, feature in zip(self.positions, self.feature, strict=True):
            scores[position] = values[feature] / self.pieces[feature]
        return scores.astype(np.float32)


def word_features(roles: Sequence[Role], word_ids: Sequence[int | None]) -> WordFeatures:
    """Group question and context tokens into words by ``(role, word id)`` runs (``core.attention.words``' rule)."""
    positions: list[int] = []
    feature: list[int] = []
    pieces: list[int] = []
    previous: tuple[Role, int | None] | None = None
    for position, (role, word) in enumerate(zip(roles, word_ids, strict=True)):
        if role == "special":
            previous = None
            continue
        if (role, word) != previous:
            pieces.append(0)
        pieces[-1] += 1
        positions.append(position)
        feature.append(len(pieces) - 1)
        previous = (role, word)
    if not positions:
        raise ValueError("The window has no question or context tokens to perturb.")
    return WordFeatures(positions=positions, feature=feature, pieces=pieces)


class WordForward:
    """``ids of the question and context tokens [batch, positions] -> [batch, targets]``, memoised by input.

    The special tokens are put back around the given ids; ``outputs`` are ``core.attribution.targets`` scalars and,
    with ``probability_span`` given, a last column holds ``p_start * p_end`` of that span.
    """

    def __init__(
        self,
        loaded: LoadedModel,
        window: Window,
        features: WordFeatures,
        outputs: Mapping[Target, TargetOutput],
        probability_span: tuple[int, int] | None = None,
    ) -> None:
        self.loaded = loaded
        self.tensors = window_tensors(loaded, window)
        self.positions = torch.tensor(features.positions, device=loaded.device)
        self.weights = weight_matrix(outputs, window.length, torch.float32, loaded.device)
        self.probability_span = probability_span
        self.memo: dict[tuple[tuple[int, ...], bytes], torch.Tensor] = {}
        self.forward_passes = 0

    def __call__(self, word_ids: torch.Tensor) -> torch.Tensor:
        key = (tuple(word_ids.shape), word_ids.detach().cpu().numpy().tobytes())
        cached = self.memo.get(key)
        if cached is None:
            cached = self.memo[key] = self._run(word_ids)
        return cached

    def _run(self, word_ids: torch.Tensor) -> torch.Tensor:
        batch = word_ids.shape[0]
        ids = self.tensors.input_ids.expand(batch, -1).clone()
        ids[:, self.positions] = word_ids.to(ids.device)
        with torch.no_grad():
            start_logits, end_logits = ids_logits(self.loaded, self.tensors, ids)
        self.forward_passes += batch
        logits = torch.cat([start_logits, end_logits], dim=-1).float()
        columns = [logits @ self.weights]
        if self.probability_span is not None:
            start, end = self.probability_span
            log_start = torch.log_softmax(start_logits.double(), dim=-1)[:, start]
            log_end = torch.log_softmax(end_logits.double(), dim=-1)[:, end - 1]
            columns.append((log_start + log_end).exp().float().unsqueeze(1))
        return torch.cat(columns, dim=1)


@dataclass(frozen=True)
class PerturbationInputs:
    """What every captum perturbation call gets: input ids, baseline ids and the word mask, ``[1, positions]``."""

    inputs: torch.Tensor
    baselines: torch.Tensor
    feature_mask: torch.Tensor
    replacement_id: int
    replacement: str


def perturbation_inputs(loaded: LoadedModel, window: Window, features: WordFeatures) -> PerturbationInputs:
    """The question and context ids, their replacement by the mask (or pad) token, and the word of each."""
    replacement_id, replacement = replacement_token(loaded, prefer_mask=True)
    ids = torch.tensor([[window.input_ids[p] for p in features.positions]], dtype=torch.long, device=loaded.device)
    return PerturbationInputs(
        inputs=ids,
        baselines=torch.full_like(ids, replacement_id),
        feature_mask=torch.tensor([features.feature], dtype=torch.long, device=loaded.device),
        replacement_id=replacement_id,
        replacement=replacement,
    )


def occlusion(
    loaded: LoadedModel,
    window: Window,
    outputs: Mapping[Target, TargetOutput],
    answer_span: tuple[int, int],
    *,
    batch_size: int = PERTURBATION_BATCH,
) -> tuple[dict[Target, TokenScores], dict[str, Any]]:
    """Word occlusion (Zeiler & Fergus, 2014) with captum ``FeatureAblation``: per target, and the probability drop.

    ``answer_span`` is the answer's ``(start_token, end_token)``, whose ``p_start * p_end`` drop is returned as
    target ``probability``. Returns the token maps and the settings used.
    """
    features = word_features(window.roles, window.word_ids)
    given = perturbation_inputs(loaded, window, features)
    forward = WordForward(loaded, window, features, outputs, probability_span=answer_span)
    names: list[Target] = [*outputs, PROBABILITY_TARGET]
    maps: dict[Target, TokenScores] = {}
    with fast_attention(loaded):
        for column, name in enumerate(names):
            drops = FeatureAblation(forward).attribute(
                given.inputs,
                baselines=given.baselines,
                target=column,
                feature_mask=given.feature_mask,
                perturbations_per_eval=batch_size,
            )
            maps[name] = features.token_scores(_per_word(drops, features), window.length)
    settings = {
        "captum": "FeatureAblation",
        "features": "words of the question and the context; special tokens never perturbed",
        "words": features.count,
        "replacement_token": given.replacement,
        "replacement_id": given.replacement_id,
        "value": "F(input) - F(input with the word replaced), split evenly over the word's pieces",
        "probability": "target 'probability': drop in p_start(answer start) * p_end(answer end - 1)",
        "batch_size": batch_size,
        "forward_passes": forward.forward_passes,
    }
    return maps, settings


def lime(
    loaded: LoadedModel,
    window: Window,
    outputs: Mapping[Target, TargetOutput],
    *,
    n_samples: int = LIME_SAMPLES,
    seed: int = 0,
    batch_size: int = PERTURBATION_BATCH,
) -> tuple[dict[Target, TokenScores], dict[str, Any]]:
    """LIME (Ribeiro et al., 2016) with captum ``Lime`` over words (see the module docstring for its kernel and
    surrogate). Returns the token maps and the settings used."""

    def explainer(forward: WordForward) -> Lime:
        return Lime(
            forward,
            interpretable_model=SkLearnRidge(alpha=LIME_RIDGE_ALPHA),
            similarity_func=kept_words_kernel(LIME_KERNEL_WIDTH),
        )

    maps, settings = _sampled(explainer, loaded, window, outputs, n_samples=n_samples, seed=seed, batch=batch_size)
    settings.update(
        captum="Lime",
        interpretable_model=f"SkLearnRidge(alpha={LIME_RIDGE_ALPHA})",
        similarity=f"exp(-d^2 / (2 * {LIME_KERNEL_WIDTH}^2)), d = cosine distance of kept-word vectors to all-kept",
        sampler="each word kept with probability 1/2 (captum's default)",
    )
    return maps, settings


def kernel_shap(
    loaded: LoadedModel,
    window: Window,
    outputs: Mapping[Target, TargetOutput],
    *,
    n_samples: int = KERNEL_SHAP_SAMPLES,
    seed: int = 0,
    batch_size: int = PERTURBATION_BATCH,
) -> tuple[dict[Target, TokenScores], dict[str, Any]]:
    """Kernel SHAP (Lundberg & Lee, 2017) with captum ``KernelShap`` over words. Returns the token maps and the
    settings used."""
    maps, settings = _sampled(KernelShap, loaded, window, outputs, n_samples=n_samples, seed=seed, batch=batch_size)
    settings.update(
        captum="KernelShap",
        interpretable_model="SkLearnLinearRegression()",
        similarity="Shapley kernel through captum's sampler; empty and full word sets weighted 1e6",
    )
    return maps, settings


def kept_words_kernel(width: float):  # noqa: ANN201 - captum's similarity_func signature
    """LIME's text kernel on the interpretable sample: ``exp(-d^2 / (2 width^2))``, ``d`` the cosine distance of the
    kept-words vector to the all-kept vector (``d = 1`` for the empty set)."""

    def similarity(_original: torch.Tensor, _perturbed: torch.Tensor, sample: torch.Tensor, **_: Any) -> float:
        kept = float(sample.sum())
        total = sample.numel()
        distance = 1.0 - (kept / math.sqrt(kept * total) if kept > 0 else 0.0)
        return math.exp(-(distance**2) / (2 * width**2))

    return similarity


def _sampled(
    make_explainer: Callable[[WordForward], Lime],
    loaded: LoadedModel,
    window: Window,
    outputs: Mapping[Target, TargetOutput],
    *,
    n_samples: int,
    seed: int,
    batch: int,
) -> tuple[dict[Target, TokenScores], dict[str, Any]]:
    """One captum ``Lime``/``KernelShap`` call per target, each with the same seed (so the same samples, run once)."""
    if n_samples < 1:
        raise ValueError("n_samples must be at least 1.")
    features = word_features(window.roles, window.word_ids)
    given = perturbation_inputs(loaded, window, features)
    forward = WordForward(loaded, window, features, outputs)
    explainer = make_explainer(forward)
    maps: dict[Target, TokenScores] = {}
    with fast_attention(loaded):
        for column, name in enumerate(outputs):
            with seeded(seed, loaded.device):
                coefficients = explainer.attribute(
                    given.inputs,
                    baselines=given.baselines,
                    target=column,
                    feature_mask=given.feature_mask,
                    n_samples=n_samples,
                    perturbations_per_eval=batch,
                    return_input_shape=False,
                )
            values = coefficients.detach().double().cpu().numpy().reshape(-1)
            maps[name] = features.token_scores(values, window.length)
    settings = {
        "features": "words of the question and the context; special tokens never perturbed",
        "words": features.count,
        "replacement_token": given.replacement,
        "replacement_id": given.replacement_id,
        "value": "the word's coefficient, split evenly over the word's pieces",
        "n_samples": n_samples,
        "seed": seed,
        "batch_size": batch,
        "forward_passes": forward.forward_passes,
    }
    return maps, settings


def _per_word(attributions: torch.Tensor, features: WordFeatures) -> np.ndarray:
    """captum's per-position output (every piece of a word holds the word's value) as one value per word."""
    values = attributions.detach().double().cpu().numpy().reshape(-1)
    per_word = np.zeros(features.count, dtype=np.float64)
    for column, feature in enumerate(features.feature):
        per_word[feature] = values[column]
    return per_word


__all__ = [
    "KERNEL_SHAP_SAMPLES",
    "LIME_KERNEL_WIDTH",
    "LIME_RIDGE_ALPHA",
    "LIME_SAMPLES",
    "PERTURBATION_BATCH",
    "PerturbationInputs",
    "WordFeatures",
    "WordForward",
    "kernel_shap",
    "kept_words_kernel",
    "lime",
    "occlusion",
    "perturbation_inputs",
    "word_features",
]
