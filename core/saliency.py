"""Gradient saliency with captum, on the word embeddings of one window.

Why the word embeddings: they are the model's real input. Position and token-type embeddings are
added inside the model after them, so a baseline that swaps words for ``[PAD]`` keeps the
sequence's shape and positions (as in captum's BERT SQuAD tutorial).

Each method gives one value per token and per target (answer start, answer end):

- ``gradient`` (Simonyan et al., 2014, captum ``Saliency``): the L2 norm of d logit / d embedding.
- ``gradient_x_input`` (Shrikumar et al., 2016, captum ``InputXGradient``): the sum over the
  embedding dimension of gradient * embedding; signed.
- ``integrated_gradients`` (Sundararajan et al., 2017, captum ``IntegratedGradients``): signed,
  summed over the embedding dimension; the values add up to ``F(input) - F(baseline)`` up to the
  reported convergence delta.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from captum.attr import IntegratedGradients, Saliency

from core.compute import fast_attention
from core.encoding import Window
from core.inputs import input_embeddings, window_tensors
from core.models import LoadedModel
from core.types import Method, Target, TokenScores

IG_METHOD = "gausslegendre"
IG_START_STEPS = 6
"""First step count; doubled until the delta is within tolerance. Six Gauss-Legendre nodes already reach float32
noise on smooth (random-weight) models, and 6 -> 12 -> 24 met the 1% tolerance with fewer total steps than
8 -> 16 -> 32 on real MiniLM-L6 weights at 18-384 tokens (see bench/README.md)."""
IG_MAX_STEPS = 128
IG_RELATIVE_TOLERANCE = 0.01
IG_ABSOLUTE_TOLERANCE = 1e-3
IG_INTERNAL_BATCH = 16
BASELINE_DESCRIPTION = "question and context word embeddings replaced by the [PAD] embedding; special tokens kept"


@dataclass(frozen=True)
class IntegratedGradientsResult:
    """Per-token attributions for one target, with how well they met completeness."""

    scores: TokenScores
    convergence_delta: float
    n_steps: int
    output_difference: float
    """``F(input) - F(baseline)`` for the target logit."""


class QAForward:
    """``embeddings [batch, tokens, dim] -> [batch, 2 * tokens]``: start logits, then end logits.

    One output row per example lets captum pick the start or the end logit by target index.
    """

    def __init__(self, loaded: LoadedModel, window: Window) -> None:
        self.model = loaded.model
        self.tensors = window_tensors(loaded, window)

    def __call__(self, inputs_embeds: torch.Tensor) -> torch.Tensor:
        output = self.model(inputs_embeds=inputs_embeds, **self.tensors.extra(inputs_embeds.shape[0]))
        return torch.cat([output.start_logits, output.end_logits], dim=-1)


def target_index(window: Window, target: Target, start_token: int, end_token: int) -> int:
    """Column of ``QAForward``'s output for the answer's start or its last token."""
    return start_token if target == "start" else window.length + end_token - 1


def baseline_ids(loaded: LoadedModel, window: Window) -> list[int]:
    """The baseline sequence: every question and context token replaced by ``[PAD]``."""
    pad = loaded.tokenizer.pad_token_id
    if pad is None:
        pad = loaded.tokenizer.unk_token_id
    return [token if role == "special" else pad for token, role in zip(window.input_ids, window.roles, strict=True)]


def gradient_saliency(
    loaded: LoadedModel, window: Window, start_token: int, end_token: int
) -> dict[Method, dict[Target, TokenScores]]:
    """``gradient`` and ``gradient_x_input`` for both targets from one captum ``Saliency`` call.

    Both targets go in one batch of two copies of the input. ``gradient_x_input`` is the gradient
    times the input, exactly captum's ``InputXGradient``, without paying for the gradient twice.
    """
    embeddings = input_embeddings(loaded, window.input_ids)
    forward = QAForward(loaded, window)
    targets = [target_index(window, t, start_token, end_token) for t in ("start", "end")]
    # The copies already require gradients, so captum has nothing to switch on and no warning to print.
    both_targets = embeddings.expand(2, -1, -1).clone().requires_grad_()
    with fast_attention(loaded):
        gradients = Saliency(forward).attribute(both_targets, target=targets, abs=False)
    gradients = gradients.detach()
    norms = gradients.norm(dim=-1).cpu().numpy().astype(np.float32)
    times_input = (gradients * embeddings).sum(dim=-1).cpu().numpy().astype(np.float32)
    return {
        "gradient": {"start": norms[0], "end": norms[1]},
        "gradient_x_input": {"start": times_input[0], "end": times_input[1]},
    }


def integrated_gradients(
    loaded: LoadedModel,
    window: Window,
    target: Target,
    start_token: int,
    end_token: int,
    *,
    n_steps: int = IG_START_STEPS,
    max_steps: int = IG_MAX_STEPS,
    relative_tolerance: float = IG_RELATIVE_TOLERANCE,
    absolute_tolerance: float = IG_ABSOLUTE_TOLERANCE,
    internal_batch_size: int = IG_INTERNAL_BATCH,
) -> IntegratedGradientsResult:
    """Integrated gradients for one target with captum's Gauss-Legendre rule.

    Starts at ``n_steps`` and doubles until the convergence delta is within ``relative_tolerance``
    of ``|F(input) - F(baseline)|`` or below ``absolute_tolerance`` (or ``max_steps`` is reached):
    Gauss-Legendre converges fast on these smooth paths, so few steps usually suffice.
    """
    if n_steps < 1 or max_steps < n_steps:
        raise ValueError("Integrated gradients needs 1 <= n_steps <= max_steps.")
    embeddings = input_embeddings(loaded, window.input_ids)
    baseline = input_embeddings(loaded, baseline_ids(loaded, window))
    forward = QAForward(loaded, window)
    index = target_index(window, target, start_token, end_token)
    explainer = IntegratedGradients(forward)
    with fast_attention(loaded):
        steps = n_steps
        while True:
            attributions, delta = explainer.attribute(
                embeddings,
                baselines=baseline,
                target=index,
                n_steps=steps,
                method=IG_METHOD,
                internal_batch_size=internal_batch_size,
                return_convergence_delta=True,
            )
            delta_value = float(delta.abs().max())
            # captum's delta is sum(attributions) - (F(input) - F(baseline)), so the difference comes for free
            # instead of from two more forward passes.
            difference = float(attributions.detach().sum(dtype=torch.float64) - delta.reshape(-1)[0].double())
            good_enough = delta_value <= max(relative_tolerance * abs(difference), absolute_tolerance)
            if good_enough or steps * 2 > max_steps:
                break
            steps *= 2
    scores = attributions.detach().sum(dim=-1)[0].cpu().numpy().astype(np.float32)
    return IntegratedGradientsResult(
        scores=scores, convergence_delta=float(delta.reshape(-1)[0]), n_steps=steps, output_difference=difference
    )
