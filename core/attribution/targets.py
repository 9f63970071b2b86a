"""What a saliency map explains: one scalar of the model's output per target.

Every saliency method attributes one scalar per input. ``core.passes.EmbeddingForward`` returns the window's
start logits then its end logits (``[batch, 2 * tokens]``), and every target is a fixed weighted sum of
those columns, so the gradient methods, integrated gradients and the perturbation methods all explain
exactly the same numbers:

- ``start``: ``start_logit[s]``, the answer's first token ``s``;
- ``end``: ``end_logit[e]``, the answer's last token ``e`` (``answer.end_token - 1``);
- ``contrast``: ``(start_logit[s] + end_logit[e]) - (start_logit[s'] + end_logit[e'])`` for the runner-up
  span ``(s', e')`` of rank ``k`` (``settings["contrast_rank"]``, 2 = the runner-up): why this span rather
  than that one. Both spans must come from the same window (the same forward pass);
- ``null``: ``(start_logit[0] + end_logit[0]) - (start_logit[s] + end_logit[e])``: SQuAD 2.0's no-answer
  score (the first token, ``[CLS]`` / ``<s>``) minus the answer's span score; positive when the model
  would rather abstain (Rajpurkar et al., 2018; the convention of BERT's SQuAD 2.0 code, Devlin et al., 2019).

Span scores here are sums of logits, the SQuAD 2.0 convention. Within one window they rank spans exactly
as ``p_start * p_end`` does (both softmaxes share their normaliser), so the answer is also the best span by
logit sum in its window. The spans' token positions are fixed: a perturbed or interpolated input is scored
at the same positions, never re-decoded.

``probability`` (``p_start[s] * p_end[e]``, softmaxes over the window) is not a weighted sum; only the
perturbation methods, which never differentiate, explain it (occlusion records its drop).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

from core.answering import Span
from core.encoding import Window
from core.models import LoadedModel
from core.passes import TargetForward
from core.types import CONTRAST_TARGET, EXPLAINABLE_TARGETS, NULL_TARGET, TARGETS, Role, Target


@dataclass(frozen=True)
class TargetOutput:
    """One explained scalar: ``sum(weight * column)`` over ``core.passes.EmbeddingForward``'s output columns."""

    name: Target
    weights: tuple[tuple[int, float], ...]
    """``(column, weight)`` pairs; column ``i < tokens`` is ``start_logit[i]``, ``tokens + i`` is ``end_logit[i]``."""


def span_weights(length: int, start_token: int, end_token: int, sign: float = 1.0) -> list[tuple[int, float]]:
    """Columns of a span's score ``start_logit[start_token] + end_logit[end_token - 1]`` (end-exclusive span)."""
    return [(start_token, sign), (length + end_token - 1, sign)]


def target_outputs(
    length: int,
    roles: Sequence[Role],
    answer: Span,
    targets: Iterable[Target] = TARGETS,
    contrast: Span | None = None,
) -> dict[Target, TargetOutput]:
    """The explained scalars for ``targets`` on a window of ``length`` tokens, in the order given.

    ``contrast`` is the runner-up span (needed for the ``contrast`` target). Raises ``ValueError`` for an
    unknown target, a missing runner-up, or a ``null`` target on a window whose first token is not special.
    """
    outputs: dict[Target, TargetOutput] = {}
    for name in targets:
        if name == "start":
            weights = [(answer.start_token, 1.0)]
        elif name == "end":
            weights = [(length + answer.end_token - 1, 1.0)]
        elif name == CONTRAST_TARGET:
            if contrast is None:
                raise ValueError("The contrast target needs a runner-up span.")
            weights = span_weights(length, answer.start_token, answer.end_token) + span_weights(
                length, contrast.start_token, contrast.end_token, -1.0
            )
        elif name == NULL_TARGET:
            if not roles or roles[0] != "special":
                raise ValueError("The null target needs a special first token ([CLS] or <s>) to score 'no answer'.")
            weights = span_weights(length, 0, 1) + span_weights(length, answer.start_token, answer.end_token, -1.0)
        else:
            raise ValueError(f"Unknown target {name!r}; choose from {list(EXPLAINABLE_TARGETS)}.")
        outputs[name] = TargetOutput(name=name, weights=tuple(_merge(weights)))
    return outputs


def weight_matrix(
    outputs: Mapping[Target, TargetOutput], length: int, dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    """``[2 * tokens, targets]``: ``logits @ matrix`` gives every target's scalar, one column per target."""
    matrix = torch.zeros(2 * length, len(outputs), dtype=dtype, device=device)
    for column, output in enumerate(outputs.values()):
        for row, weight in output.weights:
            matrix[row, column] += weight
    return matrix


def target_index(window: Window, target: Target, start_token: int, end_token: int) -> int:
    """Column of ``core.passes.EmbeddingForward``'s output for the answer's start or its last token."""
    return start_token if target == "start" else window.length + end_token - 1


def answer_outputs(window: Window, start_token: int, end_token: int) -> dict[Target, TargetOutput]:
    """The ``start`` and ``end`` targets of the span ``[start_token, end_token)``."""
    return {
        target: TargetOutput(target, ((target_index(window, target, start_token, end_token), 1.0),))
        for target in ("start", "end")
    }


def target_forward(loaded: LoadedModel, window: Window, outputs: Mapping[Target, TargetOutput]) -> TargetForward:
    """The window's forward from word embeddings to every target's scalar, one column per target."""
    return TargetForward(loaded, window, weight_matrix(outputs, window.length, loaded.model.dtype, loaded.device))


def contrast_span(answer: Span, top_k: Sequence[Span], rank: int) -> Span:
    """Span number ``rank`` of ``top_k`` (1 = the answer, 2 = the runner-up), checked to share the answer's window.

    Raises ``ValueError`` when ``rank`` is below 2, beyond the spans found, or names a span of another window
    (its logits come from another forward pass, so the difference has no gradient through one input).
    """
    if rank < 2:
        raise ValueError(f"contrast_rank must be at least 2 (1 is the answer itself), not {rank}.")
    if rank > len(top_k):
        raise ValueError(
            f"contrast_rank {rank} asks for span #{rank}, but only {len(top_k)} spans were kept: raise top_k to "
            f"at least {rank}, or choose a lower rank if the context has no more candidate spans."
        )
    span = top_k[rank - 1]
    if span.window != answer.window:
        same = [index + 1 for index, other in enumerate(top_k[1:], start=1) if other.window == answer.window]
        hint = f"spans in the answer's window have ranks {same}" if same else "no other kept span lies in it"
        raise ValueError(
            f"Runner-up #{rank} ({span.text!r}) lies in window {span.window}, the answer in window {answer.window}: "
            f"their scores come from different forward passes, so 'why this span rather than that one' cannot be "
            f"attributed to one input. Choose another contrast_rank ({hint}) or a larger max_length."
        )
    return span


def _merge(weights: Iterable[tuple[int, float]]) -> list[tuple[int, float]]:
    """Add up weights on the same column (a runner-up sharing the answer's start cancels there)."""
    merged: dict[int, float] = {}
    for column, weight in weights:
        merged[column] = merged.get(column, 0.0) + weight
    return [(column, weight) for column, weight in merged.items() if weight != 0.0]


__all__ = [
    "TargetOutput",
    "answer_outputs",
    "contrast_span",
    "span_weights",
    "target_forward",
    "target_index",
    "target_outputs",
    "weight_matrix",
]
