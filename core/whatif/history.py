"""``EditHistory``: a stack of edit steps over a context, with undo and reset; every method returns a new one."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.whatif.diff import edits_between
from core.whatif.edits import MASK_PLACEHOLDER, Edit, apply_edits, check_edits
from core.whatif.mapping import CharMapping, map_span


@dataclass(frozen=True)
class EditHistory:
    """A stack of edit steps over ``original``; every method returns a new history (the old one stays valid).

    ``mask_token`` fills in mask edits (``replacement=None``) as they are pushed, so the stored steps are
    concrete; pass the model's (``loaded.tokenizer.mask_token``) for a mask the model knows.
    """

    original: str
    steps: tuple[tuple[Edit, ...], ...] = ()
    mask_token: str = MASK_PLACEHOLDER
    context: str = field(init=False, compare=False)
    """The text after every step."""

    def __post_init__(self) -> None:
        text = self.original
        steps = []
        for step in self.steps:
            concrete = tuple(edit.resolved(self.mask_token) for edit in check_edits(text, step))
            text = apply_edits(text, concrete)
            steps.append(concrete)
        object.__setattr__(self, "steps", tuple(steps))
        object.__setattr__(self, "context", text)

    def push(self, change: str | Edit | Iterable[Edit]) -> EditHistory:
        """A history with one more step: edits in the current context's coordinates, or a new full text.

        A change that changes nothing adds no step (so there is nothing to undo for it).
        """
        step = edits_between(self.context, change) if isinstance(change, str) else check_edits(self.context, change)
        return EditHistory(self.original, (*self.steps, step), self.mask_token) if step else self

    def undo(self) -> EditHistory:
        """Without the last step (the same history when there is nothing to undo)."""
        return EditHistory(self.original, self.steps[:-1], self.mask_token) if self.steps else self

    def reset(self) -> EditHistory:
        """Back to the original text."""
        return EditHistory(self.original, (), self.mask_token)

    @property
    def can_undo(self) -> bool:
        return bool(self.steps)

    def map_span(self, start_char: int, end_char: int) -> CharMapping:
        """Where an original character span lies in ``context`` (``core.whatif.map_span``)."""
        return map_span(start_char, end_char, self.steps)

    def to_dict(self) -> dict[str, Any]:
        return {
            "original": self.original,
            "context": self.context,
            "mask_token": self.mask_token,
            "steps": [[edit.to_dict() for edit in step] for step in self.steps],
        }


__all__ = ["EditHistory"]
