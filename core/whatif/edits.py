"""Edits of a context: replace ``[start_char, end_char)`` with new text, checked and applied in one place.

A deletion replaces the characters with nothing, a mask with the model's mask token, a replacement with any
text; an empty range inserts. Edits of one step are in that step's text's coordinates and may not overlap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from core.encoding import validate_text

MASK_PLACEHOLDER = "[MASK]"
"""The text of a mask edit when the model's tokenizer has no mask token (or no model is at hand)."""


EditKind = Literal["delete", "insert", "mask", "replace"]


@dataclass(frozen=True)
class Edit:
    """Replace ``context[start_char:end_char]`` with ``replacement`` (start-inclusive, end-exclusive).

    ``replacement=None`` is a mask: the model's mask token (``[MASK]``, ``<mask>``), resolved when the
    edit is applied (``MASK_PLACEHOLDER`` when the tokenizer has none). ``start_char == end_char`` inserts.
    """

    start_char: int
    end_char: int
    replacement: str | None = ""

    def __post_init__(self) -> None:
        for name in ("start_char", "end_char"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise TypeError(f"Edit.{name} must be an int, got {type(value).__name__}.")
            object.__setattr__(self, name, int(value))
        if self.start_char < 0 or self.end_char < self.start_char:
            raise ValueError(
                f"An edit spans characters [start_char, end_char) with 0 <= start_char <= end_char; "
                f"got [{self.start_char}, {self.end_char})."
            )
        if self.replacement is not None and not isinstance(self.replacement, str):
            raise TypeError(f"Edit.replacement must be text or None (a mask), got {type(self.replacement).__name__}.")

    @property
    def kind(self) -> EditKind:
        """``mask`` (unresolved), ``delete``, ``insert`` or ``replace``."""
        if self.replacement is None:
            return "mask"
        if self.start_char == self.end_char:
            return "insert"
        return "delete" if self.replacement == "" else "replace"

    def resolved(self, mask_token: str) -> Edit:
        """The same edit with a mask's text filled in (other edits come back unchanged)."""
        return self if self.replacement is not None else Edit(self.start_char, self.end_char, mask_token)

    def to_dict(self) -> dict[str, Any]:
        return {"start_char": self.start_char, "end_char": self.end_char, "replacement": self.replacement}


def delete(start_char: int, end_char: int) -> Edit:
    """Remove ``context[start_char:end_char]``."""
    return Edit(start_char, end_char, "")


def mask(start_char: int, end_char: int, token: str | None = None) -> Edit:
    """Replace ``context[start_char:end_char]`` with ``token``, by default the model's mask token."""
    return Edit(start_char, end_char, token)


def replace(start_char: int, end_char: int, text: str) -> Edit:
    """Replace ``context[start_char:end_char]`` with ``text`` (``start_char == end_char`` inserts it)."""
    return Edit(start_char, end_char, text)


def check_edits(context: str, edits: Edit | Iterable[Edit]) -> tuple[Edit, ...]:
    """The edits sorted by position, after checking they lie inside ``context`` and do not overlap.

    Two insertions at the same position are refused too: their order would be a guess.
    """
    chosen = [edits] if isinstance(edits, Edit) else list(edits)
    for edit in chosen:
        if not isinstance(edit, Edit):
            raise TypeError(f"Expected Edit objects, got {type(edit).__name__}.")
        if edit.end_char > len(context):
            raise ValueError(
                f"The edit [{edit.start_char}, {edit.end_char}) lies outside the context, which has "
                f"{len(context)} characters."
            )
    ordered = sorted(chosen, key=lambda edit: (edit.start_char, edit.end_char))
    for before, after in zip(ordered, ordered[1:], strict=False):
        same_point = before.start_char == before.end_char == after.start_char == after.end_char
        if after.start_char < before.end_char or same_point:
            raise ValueError(
                f"The edits [{before.start_char}, {before.end_char}) and [{after.start_char}, {after.end_char}) "
                "overlap; merge them into one edit."
            )
    return tuple(ordered)


def apply_edits(context: str, edits: Edit | Iterable[Edit], *, mask_token: str = MASK_PLACEHOLDER) -> str:
    """``context`` with non-overlapping ``edits`` applied (all in ``context``'s coordinates).

    Raises ``ValueError`` for an edit outside the context, overlapping edits, or edits that leave no
    visible text (a model cannot answer from an empty context).
    """
    ordered = check_edits(context, edits)
    pieces: list[str] = []
    position = 0
    for edit in ordered:
        pieces.append(context[position : edit.start_char])
        pieces.append(edit.resolved(mask_token).replacement or "")
        position = edit.end_char
    pieces.append(context[position:])
    edited = "".join(pieces)
    try:
        validate_text("?", edited)
    except ValueError as error:
        raise ValueError(f"After these edits the context cannot be answered from. {error}") from error
    return edited


__all__ = ["MASK_PLACEHOLDER", "Edit", "EditKind", "apply_edits", "check_edits", "delete", "mask", "replace"]
