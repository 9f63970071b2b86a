"""Where the answer forms: the QA head applied to every layer's hidden states (van Aken et al., 2019).

van Aken et al. ("How Does BERT Answer Questions? A Layer-Wise Analysis of Transformer
Representations", CIKM 2019) probe each layer of a fine-tuned QA model. The cheapest probe is the
model's own QA head: ``Explanation.layer_start_logits`` / ``layer_end_logits`` hold it applied to
the embeddings (layer 0) and to the output of every transformer layer (layers 1..L), computed in
the same forward pass as the answer. This module turns those logits into, per layer:

- start and end probabilities over the window's tokens (softmax over the whole window, as for the
  answer itself);
- the span the model would pick at that depth, decoded by ``core.answering.best_span``, the
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

from core.answering import DEFAULT_MAX_ANSWER_TOKENS, softmax, spans_per_layer
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
    start_probs = softmax(np.asarray(explanation.layer_start_logits, dtype=np.float32)).astype(np.float64)
    end_probs = softmax(np.asarray(explanation.layer_end_logits, dtype=np.float32)).astype(np.float64)
    answer = explanation.answer
    spans: list[LayerSpan] = []
    picked = spans_per_layer(
        explanation.roles,
        explanation.offsets,
        explanation.context,
        explanation.layer_start_logits,
        explanation.layer_end_logits,
        window_index=explanation.window_index,
        max_answer_tokens=limit,
    )
    for layer, best in enumerate(picked):
        answer_probability = float(start_probs[layer, answer.start_token] * end_probs[layer, answer.end_token - 1])
        spans.append(
            LayerSpan(
                layer=layer,
                start_token=best.start_token,
                end_token=best.end_token,
                text=best.text,
                score=best.score,
                answer_probability=answer_probability,
                matches_answer=(best.start_token, best.end_token) == (answer.start_token, answer.end_token),
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


__all__ = ["LayerSpan", "LayerwiseReport", "layer_answers"]
