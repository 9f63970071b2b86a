"""Where a character span of the original context lies after edits, and edits that undo a history.

Spans follow the edits by their characters: an edit before a span shifts it, one that touches it ends it
(with the reason).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from core.whatif.edits import Edit, apply_edits

SpanStatus = Literal["kept", "deleted", "edited"]


@dataclass(frozen=True)
class CharMapping:
    """Where a character span of the original text lies after the edits, or why it no longer exists."""

    start_char: int | None
    end_char: int | None
    status: SpanStatus
    """``kept`` (mapped), ``deleted`` (a deletion removed all of it) or ``edited`` (an edit touched it)."""
    reason: str | None
    """``None`` when kept; otherwise which edit removed or changed it."""


def map_span(start_char: int, end_char: int, steps: Sequence[Sequence[Edit]]) -> CharMapping:
    """``[start_char, end_char)`` carried through each step of concrete edits (masks resolved) in turn.

    A span survives an edit wholly before it (it shifts by the edit's change in length) or after it, and
    an insertion at either of its ends (before it at the start, after it at the end). Any edit that touches
    one of its characters, or inserts inside it, ends it: its text is no longer the model's to score.
    """
    start, end = start_char, end_char
    for step_number, step in enumerate(steps):
        shift = 0
        for edit in step:
            inside_insert = edit.start_char == edit.end_char and start < edit.start_char < end
            overlaps = edit.start_char < end and edit.end_char > start
            if overlaps or inside_insert:
                where = f"edit [{edit.start_char}, {edit.end_char})"
                if len(steps) > 1:
                    where += f" of step {step_number + 1}"
                if edit.replacement == "":
                    whole = edit.start_char <= start and edit.end_char >= end
                    return CharMapping(
                        None,
                        None,
                        "deleted" if whole else "edited",
                        f"{where} deleted {'it' if whole else 'part of it'}",
                    )
                new_text = "the mask token" if edit.replacement is None else repr(edit.replacement)
                if inside_insert:
                    return CharMapping(None, None, "edited", f"{where} inserted {new_text} inside it")
                return CharMapping(None, None, "edited", f"{where} replaced part of it with {new_text}")
            if edit.end_char <= start:
                shift += len(edit.replacement or "") - (edit.end_char - edit.start_char)
        start, end = start + shift, end + shift
    return CharMapping(start, end, "kept", None)


def invert_steps(original: str, steps: Sequence[Sequence[Edit]]) -> tuple[tuple[Edit, ...], ...]:
    """Steps that turn the edited text back into ``original``, in reverse order (for mapping spans back)."""
    inverse: list[tuple[Edit, ...]] = []
    text = original
    for step in steps:
        undo: list[Edit] = []
        shift = 0
        for edit in step:
            replacement = edit.replacement or ""
            start = edit.start_char + shift
            undo.append(Edit(start, start + len(replacement), text[edit.start_char : edit.end_char]))
            shift += len(replacement) - (edit.end_char - edit.start_char)
        text = apply_edits(text, step) if step else text
        inverse.append(tuple(undo))
    return tuple(reversed(inverse))


__all__ = ["CharMapping", "SpanStatus", "invert_steps", "map_span"]
