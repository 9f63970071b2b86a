"""Integrated gradients' baselines, and the token that stands for a removed word.

``pad`` (the default: question and context words replaced by ``[PAD]``), ``mask`` (by the mask token, ``[PAD]``
when the tokenizer has none), ``zero`` (their word embeddings set to zero) and ``average``: the mean of the maps
over the *distinct* baselines among pad, mask and zero (Sturmfels et al., 2020, "Visualizing the impact of
feature attribution baselines", Distill), each integrated to its own tolerance, so it costs one integral per
distinct baseline (three at most; a model whose ``[PAD]`` embedding is the zero vector, like this project's tiny
test models with their zero-initialised padding row, has two). Its completeness is
``sum(map) = F(input) - mean_b F(b)``. Special tokens always keep their embeddings. An input whose every
question and context embedding equals the baseline's would get an all-zero map without a word (captum#873),
so ``distinct_baselines`` raises ``ValueError`` instead.

Why the word embeddings: they are the model's real input. Position and token-type embeddings are added inside
the model after them, so a baseline that swaps words for ``[PAD]`` keeps the sequence's shape and positions
(as in captum's BERT SQuAD tutorial).
"""

from __future__ import annotations

import torch

from core.encoding import Window
from core.inputs import input_embeddings
from core.models import LoadedModel
from core.types import IG_BASELINES, Baseline

BASELINE_DESCRIPTION = "question and context word embeddings replaced by the [PAD] embedding; special tokens kept"
BASELINE_DESCRIPTIONS: dict[str, str] = {
    "pad": BASELINE_DESCRIPTION,
    "mask": "question and context word embeddings replaced by the mask token's embedding ([PAD]'s without a mask "
    "token); special tokens kept",
    "zero": "question and context word embeddings set to zero; special tokens kept",
    "average": "mean of the integrated-gradients maps over the distinct baselines among pad, mask and zero",
}
"""What ``Explanation.baseline`` says for each integrated-gradients baseline (pad's text is the historical one)."""


def replacement_token(loaded: LoadedModel, prefer_mask: bool) -> tuple[int, str]:
    """The id and string standing in for a removed word: the mask token (when preferred), else pad, else unk."""
    tokenizer = loaded.tokenizer
    candidates = [(tokenizer.mask_token_id, tokenizer.mask_token)] if prefer_mask else []
    candidates += [(tokenizer.pad_token_id, tokenizer.pad_token), (tokenizer.unk_token_id, tokenizer.unk_token)]
    for token_id, token in candidates:
        if token_id is not None:
            return int(token_id), str(token)
    raise ValueError(f"The tokenizer of {loaded.name!r} has no mask, pad or unknown token to stand for a word.")


def baseline_ids(loaded: LoadedModel, window: Window, token: Baseline = "pad") -> list[int]:
    """The baseline sequence: every question and context token replaced by ``[PAD]`` (or the mask token)."""
    replacement = replacement_token(loaded, prefer_mask=token == "mask")[0]
    return [
        token_id if role == "special" else replacement
        for token_id, role in zip(window.input_ids, window.roles, strict=True)
    ]


def baseline_embeddings(loaded: LoadedModel, window: Window, baseline: Baseline) -> torch.Tensor:
    """Word embeddings ``[1, tokens, dim]`` of a single baseline (``pad``, ``mask`` or ``zero``); specials kept."""
    if baseline in ("pad", "mask"):
        return input_embeddings(loaded, baseline_ids(loaded, window, baseline))
    if baseline == "zero":
        embeddings = input_embeddings(loaded, window.input_ids).clone()
        kept = torch.tensor([role == "special" for role in window.roles], device=embeddings.device)
        return torch.where(kept.view(1, -1, 1), embeddings, torch.zeros_like(embeddings))
    raise ValueError(f"Unknown baseline {baseline!r}; choose from {list(IG_BASELINES)}.")


def distinct_baselines(loaded: LoadedModel, window: Window, baseline: Baseline) -> dict[str, torch.Tensor]:
    """The single baselines ``baseline`` stands for: itself, or for ``average`` the distinct ones of pad, mask, zero.

    Raises ``ValueError`` when the input's question and context embeddings all equal a baseline's: every
    attribution would be zero (captum#873), which says nothing about the model.
    """
    if baseline not in IG_BASELINES:
        raise ValueError(f"Unknown integrated-gradients baseline {baseline!r}; choose from {list(IG_BASELINES)}.")
    names = ("pad", "mask", "zero") if baseline == "average" else (baseline,)
    embeddings = input_embeddings(loaded, window.input_ids)
    words = torch.tensor([role != "special" for role in window.roles], device=embeddings.device)
    chosen: dict[str, torch.Tensor] = {}
    for name in names:
        candidate = baseline_embeddings(loaded, window, name)
        if torch.equal(candidate[:, words], embeddings[:, words]):
            others = [other for other in IG_BASELINES if other not in (name, "average")]
            raise ValueError(
                f"Every question and context token's embedding equals the {name!r} baseline's, so integrated "
                f"gradients would be zero everywhere (the input is its own baseline). Choose another baseline "
                f"({' or '.join(repr(other) for other in others)})."
            )
        if not any(torch.equal(candidate, seen) for seen in chosen.values()):
            chosen[name] = candidate
    return chosen


__all__ = [
    "BASELINE_DESCRIPTION",
    "BASELINE_DESCRIPTIONS",
    "baseline_embeddings",
    "baseline_ids",
    "distinct_baselines",
    "replacement_token",
]
