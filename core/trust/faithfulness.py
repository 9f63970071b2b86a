"""Faithfulness of every explainer: deletion and insertion curves, AOPC, ERASER comprehensiveness and sufficiency.

Does removing the tokens an explainer calls important really change the model's answer? For every
saliency method and attention variant (``core.trust.importance.EXPLAINERS``) and for a random order:

- **order**: the window's context tokens, most important first (``core.trust.importance``: start and end
  maps summed, signed for the signed methods). Question and special tokens are never touched.
- **removing a token** replaces its id by the tokenizer's mask token (``[MASK]``, ``<mask>``; the
  pad token when the tokenizer has no mask token) and keeps its position, attention mask and
  token type, so the sequence keeps its length and the answer's token positions stay valid.
- **tracked probability**: ``p = p_start(s) * p_end(e - 1)`` of the *original* answer's tokens,
  each a softmax over the whole window, exactly as ``core.answering`` scores a span.
- **fractions**: ``k = ceil(f * n)`` of the ``n`` context tokens, for ``f`` in ``FRACTIONS``
  (0, 0.1, ..., 1.0) for the curves and ``ERASER_FRACTIONS`` (1, 5, 10, 20, 50 %) for ERASER.

Curves (Samek et al., 2017, "Evaluating the visualization of what a deep neural network has learned";
Petsiuk et al., 2018, RISE):

- ``deletion[f]``: ``p`` with the top ``k`` tokens removed. Starts at ``p_orig`` (``f = 0``) and
  ends at ``p_empty``, every context token removed (``f = 1``).
- ``insertion[f]``: ``p`` with only the top ``k`` tokens restored (all other context tokens
  removed). Starts at ``p_empty`` and ends at ``p_orig``.

Scores, **all higher-is-better except sufficiency** (``HIGHER_IS_BETTER``):

- ``deletion_aopc = mean_f (p_orig - deletion[f])``: the area over the deletion curve; a faithful
  order makes the probability fall early.
- ``insertion_aopc = mean_f (insertion[f] - p_empty)``: the area under the insertion curve above
  its floor; a faithful order makes the probability come back early. (The floor ``p_empty`` is the
  same for every explainer of an example, so rankings equal those by the plain mean of
  ``insertion[f]``; subtracting it makes the two AOPCs comparable in size.)
- ``comprehensiveness = mean_f (p_orig - p(without the top k))`` over ``ERASER_FRACTIONS``
  (DeYoung et al., 2020, ERASER): higher is better.
- ``sufficiency = mean_f (p_orig - p(only the top k kept))`` over ``ERASER_FRACTIONS`` (ERASER):
  **lower** is better (the top tokens alone suffice to keep the answer).
- ``*_normalised``: the AOPCs divided by ``p_orig - p_empty`` (comparable across examples; about
  0 for a random order and up to about 1 for a perfect one), ``None`` when the two are equal.

``random`` is the mean over ``RANDOM_ORDERS`` seeded random permutations (the curves' spread is
kept as ``deletion_std`` / ``insertion_std``). Every explainer sits beside it: ``beats_random``.

**Cost.** Every masked input of every explainer and fraction is built first, identical inputs are
run once (``f = 0`` and ``f = 1`` are shared by all, and ERASER's 10, 20 and 50 % are the curves'
own points), and the unique ones go through the model in batches under ``torch.inference_mode``
with SDPA attention (no attention weights are needed). ``forward_passes`` counts the sequences
actually run, ``inputs_requested`` those before de-duplication. Batching barely pays on a CPU at
384 tokens (the passes are compute-bound); ``precision="bfloat16"`` runs them under bfloat16
autocast. On a CPU with native bfloat16 (AVX512-BF16, AMX; ``core.passes.bfloat16_is_fast()``) and
trained weights (the MiniLM-L6 probe, three inputs) the full report took 1.7x less time, but its curve
points differed from float32's by up to 65% (relative; 6.4% of the original probability in absolute
terms) and one input's method ranking changed (bench/bench_faithfulness.py). The default is ``float32``
everywhere: the curves then use exactly the probabilities ``core.explain`` reports.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import numpy as np
import torch

from core.encoding import Window, context_positions
from core.explain import add_saliency, answer_window
from core.explanation import Explanation
from core.inputs import window_tensors
from core.models import LoadedModel, load_model
from core.passes import fast_attention, ids_logits
from core.progress import ProgressCallback, report_progress
from core.trust.faithfulness_report import (
    HIGHER_IS_BETTER,
    METRICS,
    RANDOM,
    ExplainerFaithfulness,
    FaithfulnessReport,
    removed_count,
)
from core.trust.importance import (
    ATTENTION_VARIANTS,
    EXPLAINERS,
    Combine,
    importance_order,
    token_importance,
)
from core.types import DEFAULT_METHODS, METHODS

FRACTIONS: tuple[float, ...] = tuple(round(step / 10, 1) for step in range(11))
"""Fractions of the context removed (deletion) or restored (insertion) along the curves: 0, 0.1, ..., 1."""

ERASER_FRACTIONS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.2, 0.5)
"""Top-k fractions comprehensiveness and sufficiency are averaged over (as in ERASER's AOPC variant)."""

RANDOM_ORDERS = 3
"""Random permutations averaged into the ``random`` baseline."""

FAITHFULNESS_BATCH_SIZE = 16
"""Sequences per forward call."""

Precision = Literal["float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")
"""What the masked inputs' forward passes compute in (see the module docstring's **Cost**)."""


def faithfulness(
    explanation: Explanation,
    model: str | LoadedModel | None = None,
    explainers: Iterable[str] | None = None,
    *,
    fractions: Sequence[float] = FRACTIONS,
    eraser_fractions: Sequence[float] = ERASER_FRACTIONS,
    random_orders: int = RANDOM_ORDERS,
    seed: int = 0,
    combine: Combine = "signed",
    batch_size: int = FAITHFULNESS_BATCH_SIZE,
    precision: Precision = "float32",
    compute_missing: bool = True,
    orders: dict[str, Sequence[int]] | None = None,
    progress: ProgressCallback | None = None,
) -> FaithfulnessReport:
    """Deletion and insertion curves, AOPC, comprehensiveness and sufficiency of each explainer.

    ``explainers`` defaults to the default saliency methods, every other saliency method the explanation
    has (smoothgrad, occlusion, lime, kernel_shap when computed) and the attention variants; a saliency
    method the explanation lacks is computed first (``core.add_saliency``) unless ``compute_missing`` is
    false, in which case it is skipped (or, named explicitly, a ``KeyError``).
    ``orders`` adds custom explainers given directly as context positions, most important first
    (an oracle order in a test, another library's attributions). ``model`` defaults to the
    explanation's model (``core.load_model`` keeps one copy per process). Runs on the explanation's
    window (the one holding the answer).
    """
    began = time.perf_counter()
    loaded = model if isinstance(model, LoadedModel) else load_model(model or explanation.model)
    curve_fractions = _check_fractions(fractions, include_ends=True)
    top_fractions = _check_fractions(eraser_fractions, include_ends=False)
    if random_orders < 1:
        raise ValueError("random_orders must be at least 1.")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1.")
    if precision not in PRECISIONS:
        raise ValueError(f"Unknown precision {precision!r}; choose from {list(PRECISIONS)}.")
    names = _explainer_names(explanation, explainers, compute_missing)
    missing = [name for name in names if name in METHODS and name not in explanation.saliency]
    if missing:
        explanation = add_saliency(explanation, missing, model=loaded)
    window = answer_window(loaded, explanation)
    positions = context_positions(explanation.roles)
    count = len(positions)
    ranked: dict[str, tuple[str, list[np.ndarray]]] = {}
    for name in names:
        kind = "attention" if name in ATTENTION_VARIANTS else "saliency"
        ranked[name] = (kind, [importance_order(token_importance(explanation, name, combine), positions)])
    for name, order in (orders or {}).items():
        ranked[name] = ("custom", [_check_order(order, positions, name)])
    rng = np.random.default_rng(seed)
    ranked[RANDOM] = (RANDOM, [rng.permutation(positions) for _ in range(random_orders)])

    replacement_id, replacement_token = replacement(loaded)
    requested: list[np.ndarray] = []
    unique: dict[bytes, int] = {}
    plans: dict[str, list[dict[str, list[int]]]] = {}
    base = np.zeros(window.length, dtype=bool)

    def add(removed: np.ndarray) -> int:
        mask = base.copy()
        mask[removed] = True
        requested.append(mask)
        key = np.packbits(mask).tobytes()
        if key not in unique:
            unique[key] = len(unique)
        return unique[key]

    for name, (_kind, permutations) in ranked.items():
        plans[name] = []
        for order in permutations:
            plans[name].append(
                {
                    "deletion": [add(order[: removed_count(f, count)]) for f in curve_fractions],
                    "insertion": [add(order[removed_count(f, count) :]) for f in curve_fractions],
                    "without_top": [add(order[: removed_count(f, count)]) for f in top_fractions],
                    "only_top": [add(order[removed_count(f, count) :]) for f in top_fractions],
                }
            )
    original = add(np.zeros(0, dtype=np.int64))
    empty = add(positions)
    masks = np.zeros((len(unique), window.length), dtype=bool)
    for key, row in unique.items():
        masks[row] = np.unpackbits(np.frombuffer(key, dtype=np.uint8), count=window.length).astype(bool)
    probabilities, batches = span_probabilities(
        loaded,
        window,
        masks,
        explanation.answer.start_token,
        explanation.answer.end_token,
        replacement_id=replacement_id,
        batch_size=batch_size,
        precision=precision,
        progress=progress,
    )
    p_orig, p_empty = float(probabilities[original]), float(probabilities[empty])

    results: dict[str, ExplainerFaithfulness] = {}
    for name, (kind, permutations) in ranked.items():
        runs = plans[name]
        curves = {part: np.array([probabilities[run[part]] for run in runs]) for part in runs[0]}
        results[name] = _scores(
            name,
            kind,
            [int(p) for p in permutations[0]],
            curves,
            p_orig,
            p_empty,
            spread=len(permutations) > 1,
        )
    baseline = results[RANDOM]
    for name in list(results):
        if name == RANDOM:
            continue
        item = results[name]
        beats = {
            metric: bool(
                getattr(item, metric) > getattr(baseline, metric)
                if HIGHER_IS_BETTER[metric]
                else getattr(item, metric) < getattr(baseline, metric)
            )
            for metric in METRICS
        }
        results[name] = _replace(item, beats_random=beats)
    return FaithfulnessReport(
        model=loaded.name,
        question=explanation.question,
        answer_text=explanation.answer.text,
        answer_start_token=explanation.answer.start_token,
        answer_end_token=explanation.answer.end_token,
        fractions=list(curve_fractions),
        eraser_fractions=list(top_fractions),
        replacement_token=replacement_token,
        replacement_id=replacement_id,
        combine=combine,
        original_probability=p_orig,
        empty_probability=p_empty,
        num_context_tokens=count,
        explainers=results,
        random_orders=random_orders,
        seed=seed,
        inputs_requested=len(requested),
        forward_passes=len(unique),
        batches=batches,
        seconds=time.perf_counter() - began,
        precision=precision,
    )


def replacement(loaded: LoadedModel) -> tuple[int, str]:
    """The id and string that stand in for a removed token: the mask token, else the pad token."""
    tokenizer = loaded.tokenizer
    for token, token_id in (
        (tokenizer.mask_token, tokenizer.mask_token_id),
        (tokenizer.pad_token, tokenizer.pad_token_id),
    ):
        if token_id is not None:
            return int(token_id), str(token)
    raise ValueError(f"The tokenizer of {loaded.name!r} has neither a mask nor a pad token to remove tokens with.")


def span_probabilities(
    loaded: LoadedModel,
    window: Window,
    removed: np.ndarray,
    start_token: int,
    end_token: int,
    *,
    replacement_id: int | None = None,
    batch_size: int = FAITHFULNESS_BATCH_SIZE,
    precision: Precision = "float32",
    progress: ProgressCallback | None = None,
) -> tuple[np.ndarray, int]:
    """``p_start(start_token) * p_end(end_token - 1)`` for each row of ``removed`` (bool ``[rows, tokens]``).

    Tokens marked in a row are replaced by ``replacement_id`` (default: ``replacement(loaded)``) at
    the same position. Returns the probabilities (float64 ``[rows]``) and the number of batches run.
    ``precision="bfloat16"`` runs the model under bfloat16 autocast (softmax still in float64).
    """
    if replacement_id is None:
        replacement_id = replacement(loaded)[0]
    device = loaded.device
    tensors = window_tensors(loaded, window)
    base = tensors.input_ids[0]
    mask_rows = torch.from_numpy(np.ascontiguousarray(removed)).to(device)
    results = np.empty(len(removed), dtype=np.float64)
    batches = 0
    total = max(math.ceil(len(removed) / batch_size), 1)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bfloat16")
    with fast_attention(loaded), torch.inference_mode(), autocast:
        for first in range(0, len(removed), batch_size):
            chunk = mask_rows[first : first + batch_size]
            ids = torch.where(chunk, torch.full_like(base, replacement_id), base)
            start_logits, end_logits = ids_logits(loaded, tensors, ids)
            log_start = torch.log_softmax(start_logits.double(), dim=-1)[:, start_token]
            log_end = torch.log_softmax(end_logits.double(), dim=-1)[:, end_token - 1]
            results[first : first + len(chunk)] = (log_start + log_end).exp().cpu().numpy()
            batches += 1
            report_progress(progress, "faithfulness", batches / total)
    return results, batches


def _scores(
    name: str,
    kind: str,
    order: list[int],
    curves: dict[str, np.ndarray],
    p_orig: float,
    p_empty: float,
    spread: bool,
) -> ExplainerFaithfulness:
    deletion = curves["deletion"].mean(axis=0)
    insertion = curves["insertion"].mean(axis=0)
    without_top = curves["without_top"].mean(axis=0)
    only_top = curves["only_top"].mean(axis=0)
    deletion_aopc = float(np.mean(p_orig - deletion))
    insertion_aopc = float(np.mean(insertion - p_empty))
    span = p_orig - p_empty
    usable = abs(span) > 1e-12
    return ExplainerFaithfulness(
        name=name,
        kind=kind,
        order=order,
        deletion=[float(v) for v in deletion],
        insertion=[float(v) for v in insertion],
        deletion_aopc=deletion_aopc,
        insertion_aopc=insertion_aopc,
        comprehensiveness=float(np.mean(p_orig - without_top)),
        sufficiency=float(np.mean(p_orig - only_top)),
        comprehensiveness_at=[float(p_orig - v) for v in without_top],
        sufficiency_at=[float(p_orig - v) for v in only_top],
        deletion_aopc_normalised=deletion_aopc / span if usable else None,
        insertion_aopc_normalised=insertion_aopc / span if usable else None,
        deletion_std=[float(v) for v in curves["deletion"].std(axis=0)] if spread else None,
        insertion_std=[float(v) for v in curves["insertion"].std(axis=0)] if spread else None,
    )


def _replace(item: ExplainerFaithfulness, **changes: Any) -> ExplainerFaithfulness:
    return dataclasses.replace(item, **changes)


def _check_fractions(fractions: Sequence[float], include_ends: bool) -> list[float]:
    values = sorted({float(f) for f in fractions} | ({0.0, 1.0} if include_ends else set()))
    if not values or values[0] < 0.0 or values[-1] > 1.0:
        raise ValueError(f"Fractions must lie in [0, 1]; got {list(fractions)}.")
    return values


def _check_order(order: Sequence[int], positions: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(list(order), dtype=np.int64)
    if sorted(array.tolist()) != sorted(positions.tolist()):
        raise ValueError(f"Order {name!r} must be a permutation of the window's context positions.")
    return array


def _explainer_names(explanation: Explanation, explainers: Iterable[str] | None, compute_missing: bool) -> list[str]:
    if explainers is None:
        return [
            name
            for name in EXPLAINERS
            if name not in METHODS or name in explanation.saliency or (compute_missing and name in DEFAULT_METHODS)
        ]
    chosen = list(dict.fromkeys(explainers))
    unknown = [name for name in chosen if name not in EXPLAINERS]
    if unknown:
        raise ValueError(f"Unknown explainer(s) {unknown}; choose from {list(EXPLAINERS)}.")
    if not compute_missing:
        lacking = [name for name in chosen if name in METHODS and name not in explanation.saliency]
        if lacking:
            raise KeyError(f"The explanation has no saliency for {lacking}; compute it or pass compute_missing=True.")
    return chosen


__all__ = [
    "ERASER_FRACTIONS",
    "FRACTIONS",
    "HIGHER_IS_BETTER",
    "METRICS",
    "PRECISIONS",
    "RANDOM",
    "RANDOM_ORDERS",
    "ExplainerFaithfulness",
    "FaithfulnessReport",
    "Precision",
    "faithfulness",
    "replacement",
    "span_probabilities",
]
