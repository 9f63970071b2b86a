"""Gradient saliency with captum, on the word embeddings of one window.

Each method gives one value per token and per target (``core.attribution.targets``: start, end, contrast, null):

- ``gradient`` (Simonyan et al., 2014, captum ``Saliency``): the L2 norm of d target / d embedding.
- ``gradient_x_input`` (Shrikumar et al., 2016, captum ``InputXGradient``): the sum over the embedding
  dimension of gradient * embedding; signed.
- ``smoothgrad`` (Smilkov et al., 2017, captum ``NoiseTunnel`` over ``Saliency``): the gradient averaged
  over noisy copies of the word embeddings, then its L2 norm per token like ``gradient``.

Each target is a weighted sum of the window's logits, so one batch of copies serves several targets; the
forward captum differentiates is ``core.passes.TargetForward`` (the model runs only in ``core.passes``).

**SmoothGrad: why over ``Saliency`` and not ``InputXGradient``.** SmoothGrad is defined on the gradient
(Smilkov et al. average the sensitivity map ``dS/dx``), and ``NoiseTunnel(InputXGradient)`` would multiply
each noisy gradient by its own noisy input, so the noise would enter the map twice. Averaging the raw
gradient (``abs=False``) and then taking the per-token L2 norm, exactly as ``gradient`` reduces captum's
``Saliency``, makes ``smoothgrad`` the smoothed version of ``gradient``: with zero noise they are equal.
The noise is Gaussian, added to every token's word embedding (never to token ids), with a standard
deviation of ``noise`` (default 0.15; the paper recommends 10-20 % of the input's range) times the standard
deviation of the window's word embeddings, drawn from torch's generator seeded with ``seed`` inside
``torch.random.fork_rng``, so the caller's random state is left as it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from captum.attr import NoiseTunnel, Saliency

from core.attribution.targets import TargetOutput, answer_outputs, target_forward
from core.encoding import Window
from core.inputs import input_embeddings
from core.models import LoadedModel
from core.passes import fast_attention
from core.types import Method, Target, TokenScores

SMOOTHGRAD_SAMPLES = 50
"""Noisy copies averaged per target (Smilkov et al., 2017, saw little change beyond 50)."""
SMOOTHGRAD_NOISE = 0.15
"""Noise standard deviation as a share of the word embeddings' standard deviation (the paper: 10-20 %)."""
GRADIENT_BATCH = 16
"""Sequences per forward and backward pass of SmoothGrad (copies times targets)."""


def gradient_saliency(
    loaded: LoadedModel,
    window: Window,
    start_token: int,
    end_token: int,
    *,
    outputs: Mapping[Target, TargetOutput] | None = None,
) -> dict[Method, dict[Target, TokenScores]]:
    """``gradient`` and ``gradient_x_input`` for every target from one captum ``Saliency`` call.

    The targets (default: the span's start and end) go in one batch of copies of the input, one copy
    per target. ``gradient_x_input`` is the gradient times the input, exactly captum's ``InputXGradient``,
    without paying for the gradient twice.
    """
    outputs = dict(outputs) if outputs is not None else answer_outputs(window, start_token, end_token)
    embeddings = input_embeddings(loaded, window.input_ids)
    forward = target_forward(loaded, window, outputs)
    # The copies already require gradients, so captum has nothing to switch on and no warning to print.
    copies = embeddings.expand(len(outputs), -1, -1).clone().requires_grad_()
    with fast_attention(loaded):
        gradients = Saliency(forward).attribute(copies, target=list(range(len(outputs))), abs=False)
    gradients = gradients.detach()
    norms = gradients.norm(dim=-1).cpu().numpy().astype(np.float32)
    times_input = (gradients * embeddings).sum(dim=-1).cpu().numpy().astype(np.float32)
    return {
        "gradient": {target: norms[row] for row, target in enumerate(outputs)},
        "gradient_x_input": {target: times_input[row] for row, target in enumerate(outputs)},
    }


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch's generator for the block only: the caller's random state is restored afterwards."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def smoothgrad(
    loaded: LoadedModel,
    window: Window,
    outputs: Mapping[Target, TargetOutput],
    *,
    n_samples: int = SMOOTHGRAD_SAMPLES,
    noise: float = SMOOTHGRAD_NOISE,
    seed: int = 0,
    batch_size: int = GRADIENT_BATCH,
) -> tuple[dict[Target, TokenScores], dict[str, Any]]:
    """SmoothGrad (Smilkov et al., 2017): captum ``NoiseTunnel(Saliency)``, the L2 norm of the mean noisy gradient.

    Returns the maps per target and the settings used (see the module docstring). ``noise`` is the noise's
    standard deviation as a share of the word embeddings' standard deviation; 0 gives ``gradient``'s map.
    """
    if n_samples < 1:
        raise ValueError("SmoothGrad needs at least one sample.")
    if noise < 0:
        raise ValueError("SmoothGrad's noise must not be negative.")
    embeddings = input_embeddings(loaded, window.input_ids)
    embedding_std = float(embeddings.float().std())
    stdev = float(noise * embedding_std)
    forward = target_forward(loaded, window, outputs)
    copies = embeddings.expand(len(outputs), -1, -1).clone()
    per_batch = max(1, batch_size // len(outputs))
    with fast_attention(loaded), seeded(seed, loaded.device):
        gradients = NoiseTunnel(Saliency(forward)).attribute(
            copies,
            nt_type="smoothgrad",
            nt_samples=n_samples,
            nt_samples_batch_size=per_batch,
            stdevs=stdev,
            target=list(range(len(outputs))),
            abs=False,
        )
    norms = gradients.detach().norm(dim=-1).cpu().numpy().astype(np.float32)
    settings = {
        "captum": "NoiseTunnel(Saliency), nt_type='smoothgrad', abs=False; L2 norm over the embedding dimension",
        "n_samples": n_samples,
        "noise": noise,
        "noise_std": stdev,
        "embedding_std": embedding_std,
        "noise_on": "word embeddings of every token",
        "seed": seed,
        "samples_per_batch": per_batch,
    }
    return {target: norms[row] for row, target in enumerate(outputs)}, settings


__all__ = ["GRADIENT_BATCH", "SMOOTHGRAD_NOISE", "SMOOTHGRAD_SAMPLES", "gradient_saliency", "seeded", "smoothgrad"]
