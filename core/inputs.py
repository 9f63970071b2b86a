"""Model inputs built from token windows: the one place that turns a ``Window`` into tensors.

The answer pass, the attention pass, the gradient passes and the faithfulness passes all feed the
same windows to the same model; building the tensors here keeps padding, attention masks and token
types identical everywhere (a mismatch would silently change the logits being explained).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from core.encoding import Window
from core.models import LoadedModel


def batch_inputs(loaded: LoadedModel, windows: Sequence[Window]) -> dict[str, torch.Tensor]:
    """``input_ids``, ``attention_mask`` (and ``token_type_ids``) for windows padded to the longest one."""
    longest = max(window.length for window in windows)
    pad = loaded.tokenizer.pad_token_id or 0
    ids = torch.full((len(windows), longest), pad, dtype=torch.long)
    mask = torch.zeros((len(windows), longest), dtype=torch.long)
    types = torch.zeros((len(windows), longest), dtype=torch.long)
    for row, window in enumerate(windows):
        ids[row, : window.length] = torch.tensor(window.input_ids)
        mask[row, : window.length] = 1
        if window.token_type_ids is not None:
            types[row, : window.length] = torch.tensor(window.token_type_ids)
    inputs = {"input_ids": ids, "attention_mask": mask}
    if windows[0].token_type_ids is not None:
        inputs["token_type_ids"] = types
    return {name: tensor.to(loaded.device) for name, tensor in inputs.items()}


@dataclass(frozen=True)
class WindowTensors:
    """One window's fixed inputs, each ``[1, tokens]``, expanded to any batch size on demand.

    Passes that vary only the token ids (faithfulness) or the embeddings (saliency) share these.
    """

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    token_type_ids: torch.Tensor | None

    def extra(self, batch: int) -> dict[str, torch.Tensor]:
        """``attention_mask`` (and ``token_type_ids``) for a batch of ``batch`` copies of the window."""
        extra = {"attention_mask": self.attention_mask.expand(batch, -1)}
        if self.token_type_ids is not None:
            extra["token_type_ids"] = self.token_type_ids.expand(batch, -1)
        return extra


def window_tensors(loaded: LoadedModel, window: Window) -> WindowTensors:
    """The window's ids, an all-ones attention mask and its token types, on the model's device."""
    device = loaded.device
    types = window.token_type_ids
    return WindowTensors(
        input_ids=torch.tensor([window.input_ids], dtype=torch.long, device=device),
        attention_mask=torch.ones(1, window.length, dtype=torch.long, device=device),
        token_type_ids=torch.tensor([types], dtype=torch.long, device=device) if types is not None else None,
    )


def input_embeddings(loaded: LoadedModel, input_ids: Sequence[int]) -> torch.Tensor:
    """Word embeddings ``[1, tokens, dim]`` of ``input_ids``, detached: attribution differentiates from here."""
    ids = torch.tensor([list(input_ids)], device=loaded.device)
    with torch.no_grad():
        return loaded.model.get_input_embeddings()(ids).detach()


__all__ = ["WindowTensors", "batch_inputs", "input_embeddings", "window_tensors"]
