"""Where the answer forms: the QA head applied to every layer's hidden states (van Aken et al., 2019).

van Aken et al. ("How Does BERT Answer Questions? A Layer-Wise Analysis of Transformer
Representations", CIKM 2019) probe each layer of a fine-tuned QA model. The cheapest probe is the
model's own QA head: ``Explanation.layer_start_logits`` / ``layer_end_logits`` hold it applied to
the embeddings (layer 0) and to the output of every transformer layer (layers 1..L), computed in
the same forward pass as the answer. This module turns those logits into, per layer:

- start and end probabilities over the window's tokens (softmax over the whole window, as for the
  answer itself);
- the span the model would pick at that depth, decoded by ``core.answering.window_spans``, the
  very rule that picks the final answer (context tokens only, end at or after start, at most
  ``max_answer_tokens`` long, score ``p_start * p_end``): so the last layer's span *is* the answer;
- the probability the final answer's span already has at that depth, and whether the layer's span
  equals it.

``answer_forms_at`` is the first layer from which every deeper layer picks the final answer.
The head was trained on the last layer only, so early layers' spans are a lens, not a prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from core.answering import DEFAULT_MAX_ANSWER_TOKENS, softmax, window_spans
from core.encoding import Window
from core.explanation import Explanation


@dataclass(frozen=True)
class LayerSpan:
    """The span picked from one layer's hidden states (layer 0 is the embedding output)."""

    layer: int
    start_token: int
    end_token: int
    """End-exclusive."""
    text: str
    score: float
    """``p_start * p_end`` of this span at this layer."""
    answer_probability: float
    """``p_start * p_end`` of the final answer's span at this layer."""
    matches_answer: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "start_token": self.start_token,
            "end_token": self.end_token,
            "text": self.text,
            "score": self.score,
            "answer_probability": self.answer_probability,
            "matches_answer": self.matches_answer,
        }


@dataclass(frozen=True)
class LayerwiseReport:
    """Per layer: start/end probabilities over the window's tokens and the span picked there."""

    model: str
    answer_start_token: int
    answer_end_token: int
    start_probs: np.ndarray
    """``[layers + 1, tokens]``; row 0 is the embedding output."""
    end_probs: np.ndarray
    spans: list[LayerSpan]
    answer_forms_at: int | None
    """First layer from which every deeper layer picks the final answer (``None``: not even the last)."""

    @property
    def num_layers(self) -> int:
        """Transformer layers (the rows are one more: the embeddings come first)."""
        return int(self.start_probs.shape[0]) - 1

    def span_probabilities(self) -> np.ndarray:
        """``p_start(t) * p_end(t)`` per layer and token, ``[layers + 1, tokens]`` (a single-token span's score)."""
        return self.start_probs * self.end_probs

    def to_dict(self, probabilities: bool = True) -> dict[str, Any]:
        """JSON-ready; ``probabilities=False`` leaves out the ``[layers + 1, tokens]`` arrays."""
        payload: dict[str, Any] = {
            "model": self.model,
            "answer": {"start_token": self.answer_start_token, "end_token": self.answer_end_token},
            "answer_forms_at": self.answer_forms_at,
            "spans": [span.to_dict() for span in self.spans],
        }
        if probabilities:
            payload["start_probs"] = self.start_probs.tolist()
            payload["end_probs"] = self.end_probs.tolist()
        return payload


def layer_answers(explanation: Explanation, max_answer_tokens: int | None = None) -> LayerwiseReport:
    """The answer the QA head reads from each layer of ``explanation``'s window (see the module docstring)."""
    limit = int(max_answer_tokens or explanation.settings.get("max_answer_tokens", DEFAULT_MAX_ANSWER_TOKENS))
    view = _window_view(explanation)
    start_probs = softmax(np.asarray(explanation.layer_start_logits, dtype=np.float32)).astype(np.float64)
    end_probs = softmax(np.asarray(explanation.layer_end_logits, dtype=np.float32)).astype(np.float64)
    answer = explanation.answer
    spans: list[LayerSpan] = []
    for layer in range(start_probs.shape[0]):
        candidates = window_spans(
            view,
            explanation.window_index,
            explanation.context,
            explanation.layer_start_logits[layer],
            explanation.layer_end_logits[layer],
            max_answer_tokens=limit,
            top_k=1,
        )
        answer_probability = float(start_probs[layer, answer.start_token] * end_probs[layer, answer.end_token - 1])
        if candidates:
            best = candidates[0]
            start, end, text, score = best.start_token, best.end_token, best.text, best.score
        else:  # every candidate covered only whitespace: report the best token pair anyway
            start, end = _best_pair(start_probs[layer], end_probs[layer], view, limit)
            text, score = "", float(start_probs[layer, start] * end_probs[layer, end - 1])
        spans.append(
            LayerSpan(
                layer=layer,
                start_token=int(start),
                end_token=int(end),
                text=text,
                score=float(score),
                answer_probability=answer_probability,
                matches_answer=(start, end) == (answer.start_token, answer.end_token),
            )
        )
    forms_at = None
    for span in reversed(spans):
        if not span.matches_answer:
            break
        forms_at = span.layer
    return LayerwiseReport(
        model=explanation.model,
        answer_start_token=answer.start_token,
        answer_end_token=answer.end_token,
        start_probs=start_probs,
        end_probs=end_probs,
        spans=spans,
        answer_forms_at=forms_at,
    )


def _window_view(explanation: Explanation) -> Window:
    """The explained window as ``core.answering`` reads it (roles and offsets; ids are not needed)."""
    return Window(
        input_ids=[],
        token_type_ids=None,
        tokens=list(explanation.tokens),
        roles=list(explanation.roles),
        offsets=list(explanation.offsets),
        word_ids=list(explanation.word_ids),
    )


def _best_pair(start: np.ndarray, end: np.ndarray, view: Window, limit: int) -> tuple[int, int]:
    positions = view.context_positions()
    scores = np.outer(start[positions], end[positions])
    distance = positions[None, :] - positions[:, None]
    scores = np.where((distance >= 0) & (distance < limit), scores, -1.0)
    row, column = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return int(positions[row]), int(positions[column]) + 1


__all__ = ["LayerSpan", "LayerwiseReport", "layer_answers"]
