"""The one immutable result of explaining an answer, and its file format.

Everything a view or a report needs is here, computed once: the answer, the window's tokens,
probabilities, all attention maps, per-layer answer logits and saliency. Arrays are read-only.
Files are JSON (``.json``) or compressed NumPy (``.npz``); arrays are stored bit-exactly in both,
so ``Explanation.load(path)`` gives back an equal object. Version 2 added ``method_settings``; version 1
files load with it empty.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.answering import DEFAULT_MAX_ANSWER_TOKENS, Span, spans_per_layer
from core.atomic_files import write_atomically
from core.attention import (
    Word,
    attention_rollout,
    mean_over_heads,
    merge_scores_to_words,
    question_to_context,
    words,
)
from core.types import AttentionArray, LayerHeadsArray, LayerTokenScores, Method, Role, Target, TokenScores

FORMAT_NAME = "qa-explain/explanation"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)


@dataclass(frozen=True, eq=False)
class Explanation:
    """Why a QA model picked its answer, for the window of the context that holds the answer.

    Token positions index every per-token array. Spans are start-inclusive and end-exclusive in
    both characters and tokens.
    """

    model: str
    model_type: str
    question: str
    context: str
    tokens: list[str]
    roles: list[Role]
    offsets: list[tuple[int, int]]
    """Character span of each token in the question or the context (see ``roles``); specials ``(0, 0)``."""
    word_ids: list[int | None]
    answer: Span
    top_k: list[Span]
    start_logits: TokenScores
    end_logits: TokenScores
    start_probs: TokenScores
    end_probs: TokenScores
    attentions: AttentionArray
    """``[layers, heads, tokens, tokens]``, rows sum to 1."""
    layer_start_logits: LayerTokenScores
    """The QA head applied to every layer's hidden states, ``[layers + 1, tokens]`` (row 0: embeddings)."""
    layer_end_logits: LayerTokenScores
    saliency: dict[Method, dict[Target, TokenScores]] = field(default_factory=dict)
    """``[tokens]`` per method and target. Every computed method has ``start`` and ``end``; ``contrast`` and ``null``
    when asked for (``core.attribution.targets``); occlusion also ``probability``, the drop in the answer's
    ``p_start * p_end``."""
    convergence_delta: dict[Target, float] = field(default_factory=dict)
    """Integrated gradients' completeness error per target: ``sum(map) - (F(input) - F(baseline))``."""
    ig_steps: dict[str, int] = field(default_factory=dict)
    """Integrated gradients' nodes per target, and ``evaluations``: forward passes spent (each served both targets)."""
    ig_converged: dict[Target, bool] = field(default_factory=dict)
    """Per target, whether integrated gradients met its tolerance (map error and completeness) before its step cap."""
    ig_error: dict[Target, float | None] = field(default_factory=dict)
    """Per target, integrated gradients' estimated relative L2 map error (``None``: not estimable, one level only)."""
    baseline: str = ""
    """Integrated gradients' baseline in words; its name is ``method_settings["integrated_gradients"]["baseline"]``."""
    window_index: int = 0
    num_windows: int = 1
    settings: dict[str, Any] = field(default_factory=dict)
    """What ``explain`` was asked for: windows, spans, and every method's knobs (``ig_baseline``, ``contrast_rank``,
    ``smoothgrad_samples``, ``smoothgrad_noise``, ``lime_samples``, ``kernel_shap_samples``, ``seed``...)."""
    timings: dict[str, float] = field(default_factory=dict)
    method_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per computed method, how its maps were made: the captum class, samples, seed, noise, baseline, replacement
    token, forward passes... (JSON values; empty for files written before version 2)."""

    def __post_init__(self) -> None:
        for name in _ARRAY_FIELDS:
            _freeze(getattr(self, name))
        for per_target in self.saliency.values():
            for values in per_target.values():
                _freeze(values)

    @property
    def num_layers(self) -> int:
        return int(self.attentions.shape[0])

    @property
    def num_heads(self) -> int:
        return int(self.attentions.shape[1])

    @property
    def num_tokens(self) -> int:
        return len(self.tokens)

    @property
    def null_score(self) -> float:
        """SQuAD 2.0's no-answer score in the answer's window: ``start_logit[0] + end_logit[0]`` (``[CLS]``/``<s>``).

        Per window, as explained here; BERT's SQuAD 2.0 code takes the smallest over all windows instead.
        """
        return float(self.start_logits[0]) + float(self.end_logits[0])

    @property
    def best_span_score(self) -> float:
        """The answer's span score in logits: ``start_logit[answer.start_token] + end_logit[answer.end_token - 1]``."""
        return float(self.start_logits[self.answer.start_token]) + float(self.end_logits[self.answer.end_token - 1])

    def answers_null(self, threshold: float = 0.0) -> bool:
        """Whether a SQuAD 2.0 model abstains: ``null_score - best_span_score > threshold`` (tuned on dev data)."""
        return self.null_score - self.best_span_score > threshold

    @property
    def contrast_span(self) -> Span | None:
        """The span the ``contrast`` target compares the answer with (``top_k[settings["contrast_rank"] - 1]``);
        ``None`` when no saliency has a contrast map."""
        if not any("contrast" in per_target for per_target in self.saliency.values()):
            return None
        rank = int(self.settings.get("contrast_rank", 2))
        return self.top_k[rank - 1] if rank <= len(self.top_k) else None

    def positions(self, role: Role) -> list[int]:
        """Token positions with the given role."""
        return [i for i, r in enumerate(self.roles) if r == role]

    def token_text(self, position: int) -> str:
        """The exact characters a token covers (its tokenizer string for special tokens)."""
        role = self.roles[position]
        if role == "special":
            return self.tokens[position]
        start, end = self.offsets[position]
        return (self.question if role == "question" else self.context)[start:end]

    def token_labels(self) -> list[str]:
        """A label to print for each token: the exact text it covers, with its case.

        Special tokens, and tokens covering only whitespace, show the tokenizer's string; WordPiece
        continuations keep their ``##`` so a reader sees where a word was split.
        """
        labels = []
        for position, (token, role) in enumerate(zip(self.tokens, self.roles, strict=True)):
            text = self.token_text(position) if role != "special" else ""
            if role == "special" or not text.strip():
                labels.append(token)
            elif token.startswith("##"):
                labels.append("##" + text)
            else:
                labels.append(text)
        return labels

    def mean_attention(self) -> LayerHeadsArray:
        """Attention averaged over heads, ``[layers, tokens, tokens]``."""
        return mean_over_heads(self.attentions)

    def rollout(self) -> LayerHeadsArray:
        """Attention rollout up to each layer, ``[layers, tokens, tokens]``."""
        return attention_rollout(self.attentions)

    def question_to_context(self, layer: int | None = None, head: int | None = None) -> TokenScores:
        """Mean attention from question tokens to each context token.

        ``layer=None`` averages all layers; ``head=None`` averages the layer's heads.
        """
        maps = self.attentions if head is None else self.attentions[:, head : head + 1]
        averaged = maps.mean(axis=1)
        attention_map = averaged.mean(axis=0) if layer is None else averaged[layer]
        return question_to_context(attention_map, self.roles)

    def words(self) -> list[Word]:
        """Wordpieces grouped into words (see ``core.attention.words``)."""
        return words(self.tokens, self.roles, self.word_ids, self.offsets, self.question, self.context)

    def saliency_by_word(self, method: Method, target: Target) -> tuple[list[Word], np.ndarray]:
        """Saliency summed over each word's pieces."""
        groups = self.words()
        return groups, merge_scores_to_words(self.saliency[method][target], groups)

    def layer_spans(self, max_answer_tokens: int | None = None) -> list[tuple[int, int, int]]:
        """``(layer, start_token, end_token)`` the QA head would pick from each layer's hidden states.

        The same rule as the answer's (``core.answering.best_span``); ``core.trust.layer_answers`` adds
        probabilities and texts.
        """
        limit = max_answer_tokens or int(self.settings.get("max_answer_tokens", DEFAULT_MAX_ANSWER_TOKENS))
        spans = spans_per_layer(
            self.roles,
            self.offsets,
            self.context,
            self.layer_start_logits,
            self.layer_end_logits,
            window_index=self.window_index,
            max_answer_tokens=limit,
        )
        return [(layer, span.start_token, span.end_token) for layer, span in enumerate(spans)]

    def token_table(self) -> list[dict[str, Any]]:
        """One row per token: position, token, role, offsets, probabilities and every saliency."""
        rows = []
        for position in range(self.num_tokens):
            row: dict[str, Any] = {
                "position": position,
                "token": self.tokens[position],
                "text": self.token_text(position),
                "role": self.roles[position],
                "start_char": self.offsets[position][0],
                "end_char": self.offsets[position][1],
                "in_answer": self.answer.start_token <= position < self.answer.end_token,
                "start_prob": float(self.start_probs[position]),
                "end_prob": float(self.end_probs[position]),
            }
            for method, per_target in self.saliency.items():
                for target, values in per_target.items():
                    row[f"{method}_{target}"] = float(values[position])
            rows.append(row)
        return rows

    def replace(self, **changes: Any) -> Explanation:
        """A copy with some fields changed (the original stays as it is)."""
        return dataclasses.replace(self, **changes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Explanation):
            return NotImplemented
        return _to_payload(self) == _to_payload(other)

    __hash__ = None  # type: ignore[assignment]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; arrays as base64 of their raw bytes with dtype and shape (exact)."""
        return _to_payload(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any], arrays: dict[str, np.ndarray] | None = None) -> Explanation:
        """Inverse of ``to_dict``; ``arrays`` holds the arrays an ``.npz`` file stored natively."""
        if payload.get("format") != FORMAT_NAME:
            raise ValueError(f"Not an explanation file (format is {payload.get('format')!r}).")
        if payload.get("version") not in READABLE_VERSIONS:
            raise ValueError(f"Unsupported explanation version {payload.get('version')!r}.")
        data = dict(payload["data"])
        for name in _ARRAY_FIELDS:
            data[name] = _decode_array(data[name], arrays)
        data["saliency"] = {
            method: {target: _decode_array(values, arrays) for target, values in per_target.items()}
            for method, per_target in data["saliency"].items()
        }
        data["offsets"] = [tuple(pair) for pair in data["offsets"]]
        data["answer"] = Span.from_dict(data["answer"])
        data["top_k"] = [Span.from_dict(span) for span in data["top_k"]]
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> Explanation:
        return cls.from_dict(json.loads(text))

    def save(self, path: str | Path) -> Path:
        """Write to ``path``: NumPy's compressed ``.npz`` (arrays stored natively), JSON otherwise.

        The file appears whole or not at all (``core.atomic_files.write_atomically``); missing parent directories are
        created. Raises ``OSError`` when it cannot be written.
        """
        target = Path(path)
        if target.suffix == ".npz":
            arrays: dict[str, np.ndarray] = {}
            metadata = _to_payload(self, arrays)
            return write_atomically(
                target, lambda handle: np.savez_compressed(handle, metadata=np.array(json.dumps(metadata)), **arrays)
            )
        data = self.to_json().encode("utf-8")
        return write_atomically(target, lambda handle: handle.write(data))

    @classmethod
    def load(cls, path: str | Path) -> Explanation:
        source = Path(path)
        if not source.is_file():
            raise FileNotFoundError(f"No explanation file at {source}.")
        if source.suffix == ".npz":
            with np.load(source, allow_pickle=False) as archive:
                metadata = json.loads(str(archive["metadata"]))
                arrays = {key: archive[key] for key in archive.files if key != "metadata"}
            return cls.from_dict(metadata, arrays)
        return cls.from_json(source.read_text(encoding="utf-8"))


_ARRAY_FIELDS = (
    "start_logits",
    "end_logits",
    "start_probs",
    "end_probs",
    "attentions",
    "layer_start_logits",
    "layer_end_logits",
)


def _freeze(array: np.ndarray) -> None:
    array.setflags(write=False)


def _encode_array(array: np.ndarray, key: str, arrays: dict[str, np.ndarray] | None) -> dict[str, Any]:
    contiguous = np.ascontiguousarray(array)
    if arrays is not None:
        arrays[key] = contiguous
        return {"npz_key": key}
    return {
        "dtype": contiguous.dtype.str,
        "shape": list(contiguous.shape),
        "base64": base64.b64encode(contiguous.tobytes()).decode("ascii"),
    }


def _decode_array(encoded: dict[str, Any], arrays: dict[str, np.ndarray] | None) -> np.ndarray:
    if "npz_key" in encoded:
        if arrays is None:
            raise ValueError("This explanation's arrays live in an .npz file; load it with Explanation.load.")
        return np.array(arrays[encoded["npz_key"]])
    raw = base64.b64decode(encoded["base64"])
    return np.frombuffer(raw, dtype=np.dtype(encoded["dtype"])).reshape(encoded["shape"]).copy()


def _to_payload(explanation: Explanation, arrays: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
    """The JSON-ready form; with ``arrays`` given, arrays go there instead of into base64."""
    data: dict[str, Any] = {}
    for item in dataclasses.fields(explanation):
        value = getattr(explanation, item.name)
        if item.name in _ARRAY_FIELDS:
            data[item.name] = _encode_array(value, item.name, arrays)
        elif item.name == "saliency":
            data[item.name] = {
                method: {
                    target: _encode_array(values, f"saliency.{method}.{target}", arrays)
                    for target, values in per_target.items()
                }
                for method, per_target in value.items()
            }
        elif item.name == "offsets":
            data[item.name] = [list(pair) for pair in value]
        elif item.name == "answer":
            data[item.name] = value.to_dict()
        elif item.name == "top_k":
            data[item.name] = [span.to_dict() for span in value]
        else:
            data[item.name] = value
    return {"format": FORMAT_NAME, "version": FORMAT_VERSION, "data": json.loads(json.dumps(data))}
