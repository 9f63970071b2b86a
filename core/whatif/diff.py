"""A word-level diff of two texts with character ranges in both: what a freely typed context changed."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Literal

from core.whatif.edits import Edit

DiffTag = Literal["equal", "insert", "delete", "replace"]


_DIFF_UNITS = re.compile(r"\w+|\s+|[^\w\s]")
"""Word-level diff units: runs of word characters, runs of whitespace, single punctuation marks."""


WORD_DIFF_LIMIT = 1_000_000
"""Largest (original units x edited units) a word-level difflib comparison is run on; beyond, one op."""


_DIFF_SENTENCES = re.compile(r"[^.!?\n]+[.!?\n]*\s*|[.!?\n]+\s*")
"""Sentence-level chunks (up to and with their closing punctuation and the space after), diffed first."""


@dataclass(frozen=True)
class DiffOp:
    """One word-level difference: ``original[original_start:original_end]`` became
    ``edited[edited_start:edited_end]`` (``equal`` when the two are the same text)."""

    tag: DiffTag
    original_start: int
    original_end: int
    edited_start: int
    edited_end: int
    original_text: str
    edited_text: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "original_start": self.original_start,
            "original_end": self.original_end,
            "edited_start": self.edited_start,
            "edited_end": self.edited_end,
            "original_text": self.original_text,
            "edited_text": self.edited_text,
        }


def diff_texts(original: str, edited: str) -> tuple[DiffOp, ...]:
    """Word-level opcodes (difflib ``SequenceMatcher``) with character ranges in both texts.

    Units are runs of word characters, runs of whitespace and single punctuation marks, so changing a
    letter shows as the whole word replaced. The ops tile both texts in order: joining every op's
    ``edited_text`` gives ``edited``, joining ``original_text`` gives ``original``.

    Why sentences first: a word-level ``SequenceMatcher`` over a whole long context takes seconds to minutes
    (whitespace units recur everywhere), over one sentence no time. So sentences are matched first, as
    line-then-word diffs do; differing runs with as many sentences on both sides are compared sentence by
    sentence, others word by word, and a run too long for that (over ``WORD_DIFF_LIMIT`` unit pairs, text
    rewritten wholesale) is one op.
    """
    ops: list[DiffOp] = []

    def add(tag: str, a: int, b: int, c: int, d: int) -> None:
        """Append an op, merged with the previous one when both are equal or both differ (as difflib's are)."""
        if a == b and c == d:
            return
        if ops and (ops[-1].tag == "equal") == (tag == "equal"):
            previous = ops.pop()
            a, c = previous.original_start, previous.edited_start
            if tag != "equal":
                tag = "insert" if a == b else "delete" if c == d else "replace"
        ops.append(DiffOp(tag, a, b, c, d, original[a:b], edited[c:d]))  # type: ignore[arg-type]

    original_sentences = _DIFF_SENTENCES.findall(original)
    edited_sentences = _DIFF_SENTENCES.findall(edited)
    original_bounds = list(accumulate((len(unit) for unit in original_sentences), initial=0))
    edited_bounds = list(accumulate((len(unit) for unit in edited_sentences), initial=0))
    matcher = difflib.SequenceMatcher(None, original_sentences, edited_sentences, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            add("equal", original_bounds[i1], original_bounds[i2], edited_bounds[j1], edited_bounds[j2])
        elif tag == "replace" and i2 - i1 == j2 - j1:
            for i, j in zip(range(i1, i2), range(j1, j2), strict=True):
                for op in _word_opcodes(
                    original, edited, original_bounds[i], original_bounds[i + 1], edited_bounds[j], edited_bounds[j + 1]
                ):
                    add(*op)
        else:
            for op in _word_opcodes(
                original, edited, original_bounds[i1], original_bounds[i2], edited_bounds[j1], edited_bounds[j2]
            ):
                add(*op)
    return tuple(ops)


def _word_opcodes(
    original: str, edited: str, original_start: int, original_end: int, edited_start: int, edited_end: int
) -> list[tuple[str, int, int, int, int]]:
    """Word-level opcodes of ``original[original_start:original_end]`` against ``edited[edited_start:edited_end]``,
    in character offsets of the whole texts: common leading and trailing units are matched directly, the
    middle by difflib (or as one op when it exceeds ``WORD_DIFF_LIMIT`` unit pairs)."""
    original_units = _DIFF_UNITS.findall(original[original_start:original_end])
    edited_units = _DIFF_UNITS.findall(edited[edited_start:edited_end])
    shorter = min(len(original_units), len(edited_units))
    prefix = 0
    while prefix < shorter and original_units[prefix] == edited_units[prefix]:
        prefix += 1
    suffix = 0
    while suffix < shorter - prefix and original_units[-1 - suffix] == edited_units[-1 - suffix]:
        suffix += 1
    original_middle = original_units[prefix : len(original_units) - suffix]
    edited_middle = edited_units[prefix : len(edited_units) - suffix]
    if not original_middle and not edited_middle:
        codes: list[tuple[str, int, int, int, int]] = []
    elif not original_middle or not edited_middle or len(original_middle) * len(edited_middle) > WORD_DIFF_LIMIT:
        tag = "insert" if not original_middle else "delete" if not edited_middle else "replace"
        codes = [(tag, 0, len(original_middle), 0, len(edited_middle))]
    else:
        codes = difflib.SequenceMatcher(None, original_middle, edited_middle, autojunk=False).get_opcodes()
    codes = [
        ("equal", -prefix, 0, -prefix, 0),
        *codes,
        ("equal", len(original_middle), len(original_middle) + suffix, len(edited_middle), len(edited_middle) + suffix),
    ]
    original_bounds = list(accumulate((len(unit) for unit in original_units), initial=0))
    edited_bounds = list(accumulate((len(unit) for unit in edited_units), initial=0))
    return [
        (
            tag,
            original_start + original_bounds[prefix + i1],
            original_start + original_bounds[prefix + i2],
            edited_start + edited_bounds[prefix + j1],
            edited_start + edited_bounds[prefix + j2],
        )
        for tag, i1, i2, j1, j2 in codes
    ]


def edits_between(original: str, edited: str) -> tuple[Edit, ...]:
    """The edits that turn ``original`` into ``edited``: the non-equal ops of ``diff_texts``."""
    return tuple(
        Edit(op.original_start, op.original_end, op.edited_text)
        for op in diff_texts(original, edited)
        if op.tag != "equal"
    )


__all__ = ["WORD_DIFF_LIMIT", "DiffOp", "DiffTag", "diff_texts", "edits_between"]
