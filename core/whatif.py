"""What if the context said something else? Edit the context and re-answer, cheaply.

An edit replaces the characters ``[start_char, end_char)`` of the context with new text: a deletion
replaces them with nothing, a mask with the model's mask token, a replacement with any text. Edits
compose into an ``EditHistory`` (push, undo, reset), each step's edits in the coordinates of the text
the step before left; a freely edited context string becomes one step through a word-level diff.

``reanswer`` runs only the answer pass on the edited text (every window in one batched forward, no
attention weights, no saliency) with the explanation's settings, and says what changed: the new answer
and top-k, where the original answer went (its characters mapped through the edits, and its new
probability), which top-k spans entered, left or moved, and a word-level diff. This is the
perturbation view of an explanation (counterfactual edits, as in Ribeiro et al., 2020, "Beyond Accuracy:
Behavioral Testing of NLP Models with CheckList"): the user states a hypothesis ("it answers from this
clause") and tests it. ``WhatIf.to_explanation`` runs the full ``core.explain`` when the user asks.
"""

from __future__ import annotations

import difflib
import re
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Literal

import numpy as np

from core.answering import Span, best_spans, softmax
from core.encoding import DEFAULT_MAX_LENGTH, DEFAULT_STRIDE, MAX_WINDOWS, Window, encode, validate_text
from core.explain import explain, run_windows
from core.explanation import Explanation
from core.models import LoadedModel, load_model
from core.progress import ProgressCallback
from core.types import DEFAULT_METHODS, Method, Role

MASK_PLACEHOLDER = "[MASK]"
"""The text of a mask edit when the model's tokenizer has no mask token (or no model is at hand)."""

EditKind = Literal["delete", "insert", "mask", "replace"]
DiffTag = Literal["equal", "insert", "delete", "replace"]
SpanStatus = Literal["kept", "deleted", "edited"]
ChangeStatus = Literal["same", "moved", "entered", "left"]

_DIFF_UNITS = re.compile(r"\w+|\s+|[^\w\s]")
"""Word-level diff units: runs of word characters, runs of whitespace, single punctuation marks."""

WORD_DIFF_LIMIT = 1_000_000
"""Largest (original units x edited units) a word-level difflib comparison is run on; beyond, one op."""

_DIFF_SENTENCES = re.compile(r"[^.!?\n]+[.!?\n]*\s*|[.!?\n]+\s*")
"""Sentence-level chunks (up to and with their closing punctuation and the space after), diffed first."""


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


@dataclass(frozen=True)
class MappedSpan:
    """A span of the original context followed into the edited one, with its probability there."""

    original: Span
    start_char: int | None
    """Where it lies in the edited context (``None`` when an edit removed or touched it)."""
    end_char: int | None
    status: SpanStatus
    reason: str | None
    probability: float | None
    """``p_start * p_end`` of its tokens in the edited text's window that holds it (the best one when
    windows overlap); ``None`` when it was removed or no single window holds it."""
    window: int | None = None
    start_token: int | None = None
    end_token: int | None = None

    @property
    def probability_change(self) -> float | None:
        return None if self.probability is None else self.probability - self.original.score

    def to_dict(self) -> dict[str, Any]:
        return {
            "original": self.original.to_dict(),
            "start_char": self.start_char,
            "end_char": self.end_char,
            "status": self.status,
            "reason": self.reason,
            "probability": self.probability,
            "probability_change": self.probability_change,
            "window": self.window,
            "start_token": self.start_token,
            "end_token": self.end_token,
        }


@dataclass(frozen=True)
class SpanChange:
    """One top-k span before and after the edits, matched by its characters mapped through the edits.

    ``same``: same rank; ``moved``: another rank; ``left``: in the old top-k only (``new_score`` is its
    probability now, when it still exists); ``entered``: in the new top-k only (``old_score`` is its
    probability before, when its text existed in the explanation's window).
    """

    status: ChangeStatus
    text: str
    old_rank: int | None
    new_rank: int | None
    old_score: float | None
    new_score: float | None
    old_chars: tuple[int, int] | None
    """Its character span in the original context."""
    new_chars: tuple[int, int] | None
    """Its character span in the edited context."""

    @property
    def score_change(self) -> float | None:
        if self.old_score is None or self.new_score is None:
            return None
        return self.new_score - self.old_score

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "text": self.text,
            "old_rank": self.old_rank,
            "new_rank": self.new_rank,
            "old_score": self.old_score,
            "new_score": self.new_score,
            "score_change": self.score_change,
            "old_chars": list(self.old_chars) if self.old_chars else None,
            "new_chars": list(self.new_chars) if self.new_chars else None,
        }


@dataclass(frozen=True, eq=False)
class WhatIf:
    """The model's answer to the explanation's question over an edited context, and what changed."""

    explanation: Explanation
    """The original explanation (its context, settings and model)."""
    history: EditHistory
    """The edit steps from ``explanation.context`` to ``context``."""
    answer: Span
    """The new answer; its characters index ``context``."""
    top_k: tuple[Span, ...]
    original_answer: MappedSpan
    """The explanation's answer followed into the edited text."""
    top_k_changes: tuple[SpanChange, ...]
    """New top-k first (in new rank order), then the spans that left (in old rank order)."""
    diff: tuple[DiffOp, ...]
    num_windows: int
    settings: dict[str, Any]
    seconds: float

    @property
    def question(self) -> str:
        return self.explanation.question

    @property
    def original_context(self) -> str:
        return self.explanation.context

    @property
    def context(self) -> str:
        return self.history.context

    @property
    def answer_changed(self) -> bool:
        """Whether the new answer is another span than the original one (mapped through the edits)."""
        mapped = self.original_answer
        return (mapped.start_char, mapped.end_char) != (self.answer.start_char, self.answer.end_char)

    def to_explanation(
        self,
        model: str | LoadedModel | None = None,
        methods: Iterable[Method] = DEFAULT_METHODS,
        *,
        progress: ProgressCallback | None = None,
    ) -> Explanation:
        """The full ``core.explain`` (attention, saliency) of the edited context, with the same settings."""
        return explain_edited(self, model, methods, progress=progress)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the original explanation is referred to by model, question and context)."""
        return {
            "model": self.explanation.model,
            "question": self.question,
            "original_context": self.original_context,
            "context": self.context,
            "history": self.history.to_dict(),
            "answer": self.answer.to_dict(),
            "answer_changed": self.answer_changed,
            "top_k": [span.to_dict() for span in self.top_k],
            "original_answer": self.original_answer.to_dict(),
            "top_k_changes": [change.to_dict() for change in self.top_k_changes],
            "diff": [op.to_dict() for op in self.diff],
            "num_windows": self.num_windows,
            "settings": dict(self.settings),
            "seconds": self.seconds,
        }


def reanswer(
    explanation: Explanation,
    change: str | Edit | Iterable[Edit] | EditHistory,
    *,
    model: str | LoadedModel | None = None,
) -> WhatIf:
    """Answer the explanation's question again over an edited context: one batched forward, no saliency.

    ``change`` is the freely edited full context, one edit or a list of non-overlapping edits (in the
    explanation's context coordinates), or an ``EditHistory`` over the explanation's context. The settings
    (``max_length``, ``stride``, ``top_k``, ``max_answer_tokens``) are the explanation's, so the unedited
    context gives back exactly its answer and top-k. Raises ``ValueError`` for edits outside the context,
    overlapping edits, or edits that leave it empty.
    """
    began = time.perf_counter()
    loaded = model if isinstance(model, LoadedModel) else load_model(model or explanation.model)
    history = _history(explanation, change, loaded)
    settings = _reanswer_settings(explanation)
    encoding = encode(
        loaded.tokenizer,
        explanation.question,
        history.context,
        max_length=settings["max_length"],
        stride=settings["stride"],
        max_windows=settings["max_windows"],
    )
    with loaded.lock:
        start_logits, end_logits = run_windows(loaded, encoding.windows)
    top_k = best_spans(
        encoding, start_logits, end_logits, max_answer_tokens=settings["max_answer_tokens"], top_k=settings["top_k"]
    )
    start_probs = [softmax(logits) for logits in start_logits]
    end_probs = [softmax(logits) for logits in end_logits]

    def follow(span: Span) -> MappedSpan:
        mapping = history.map_span(span.start_char, span.end_char)
        if mapping.start_char is None or mapping.end_char is None:
            return MappedSpan(span, None, None, mapping.status, mapping.reason, None)
        found = _best_window_score(encoding.windows, start_probs, end_probs, mapping.start_char, mapping.end_char)
        if found is None:
            reason = "no single window of the edited context holds it"
            return MappedSpan(span, mapping.start_char, mapping.end_char, "kept", reason, None)
        probability, window, start_token, end_token = found
        return MappedSpan(
            span, mapping.start_char, mapping.end_char, "kept", None, probability, window, start_token, end_token
        )

    followed = [follow(span) for span in explanation.top_k]
    changes = _top_k_changes(explanation, history, followed, top_k)
    return WhatIf(
        explanation=explanation,
        history=history,
        answer=top_k[0],
        top_k=tuple(top_k),
        original_answer=followed[0] if explanation.top_k[0] == explanation.answer else follow(explanation.answer),
        top_k_changes=changes,
        diff=diff_texts(explanation.context, history.context),
        num_windows=len(encoding.windows),
        settings=settings,
        seconds=time.perf_counter() - began,
    )


def explain_edited(
    whatif: WhatIf,
    model: str | LoadedModel | None = None,
    methods: Iterable[Method] = DEFAULT_METHODS,
    *,
    progress: ProgressCallback | None = None,
) -> Explanation:
    """Run the full ``core.explain`` on a what-if's edited context with the original explanation's settings."""
    original = whatif.explanation
    settings = original.settings
    loaded = model if isinstance(model, LoadedModel) else load_model(model or original.model)
    optional = {name: settings[name] for name in ("ig_steps", "ig_max_steps", "ig_tolerance") if name in settings}
    return explain(
        original.question,
        whatif.context,
        loaded,
        methods,
        top_k=whatif.settings["top_k"],
        max_answer_tokens=whatif.settings["max_answer_tokens"],
        max_length=whatif.settings["max_length"],
        stride=whatif.settings["stride"],
        max_windows=whatif.settings["max_windows"],
        progress=progress,
        **optional,
    )


def _history(
    explanation: Explanation, change: str | Edit | Iterable[Edit] | EditHistory, loaded: LoadedModel
) -> EditHistory:
    if isinstance(change, EditHistory):
        if change.original != explanation.context:
            raise ValueError("This edit history starts from another context than the explanation's.")
        return change
    mask_token = loaded.tokenizer.mask_token or MASK_PLACEHOLDER
    if isinstance(change, str):
        validate_text(explanation.question, change)
    return EditHistory(explanation.context, mask_token=mask_token).push(change)


def _reanswer_settings(explanation: Explanation) -> dict[str, Any]:
    settings = explanation.settings
    return {
        "max_length": int(settings.get("max_length", DEFAULT_MAX_LENGTH)),
        "stride": int(settings.get("stride", DEFAULT_STRIDE)),
        "max_windows": int(settings.get("max_windows", MAX_WINDOWS)),
        "top_k": int(settings.get("top_k", len(explanation.top_k))),
        "max_answer_tokens": int(settings["max_answer_tokens"]),
    }


def _covering_tokens(
    roles: Sequence[Role], offsets: Sequence[tuple[int, int]], start_char: int, end_char: int
) -> tuple[int, int] | None:
    """First and one-past-last context token covering ``[start_char, end_char)``, if the tokens hold all of it."""
    covering = [
        position
        for position, (role, (low, high)) in enumerate(zip(roles, offsets, strict=True))
        if role == "context" and high > low and high > start_char and low < end_char
    ]
    if not covering:
        return None
    first, last = covering[0], covering[-1]
    if offsets[first][0] > start_char or offsets[last][1] < end_char:
        return None
    return first, last + 1


def _best_window_score(
    windows: Sequence[Window],
    start_probs: Sequence[np.ndarray],
    end_probs: Sequence[np.ndarray],
    start_char: int,
    end_char: int,
) -> tuple[float, int, int, int] | None:
    """``(p_start * p_end, window, start_token, end_token)`` in the window scoring the span best.

    The product is taken in float32 like ``core.answering``'s, so an untouched span scores exactly as it did.
    """
    best: tuple[float, int, int, int] | None = None
    for index, window in enumerate(windows):
        tokens = _covering_tokens(window.roles, window.offsets, start_char, end_char)
        if tokens is None:
            continue
        score = float(start_probs[index][tokens[0]] * end_probs[index][tokens[1] - 1])
        if best is None or score > best[0]:
            best = (score, index, tokens[0], tokens[1])
    return best


def _top_k_changes(
    explanation: Explanation, history: EditHistory, followed: Sequence[MappedSpan], top_k: Sequence[Span]
) -> tuple[SpanChange, ...]:
    new_rank = {(span.start_char, span.end_char): rank for rank, span in enumerate(top_k)}
    old_by_new_chars: dict[tuple[int, int], int] = {}
    for rank, mapped in enumerate(followed):
        if mapped.start_char is not None and mapped.end_char is not None:
            old_by_new_chars.setdefault((mapped.start_char, mapped.end_char), rank)
    inverse = invert_steps(explanation.context, history.steps)
    changes: list[SpanChange] = []
    for rank, span in enumerate(top_k):
        chars = (span.start_char, span.end_char)
        old = old_by_new_chars.get(chars)
        if old is not None:
            original = explanation.top_k[old]
            changes.append(
                SpanChange(
                    "same" if old == rank else "moved",
                    span.text,
                    old,
                    rank,
                    original.score,
                    span.score,
                    (original.start_char, original.end_char),
                    chars,
                )
            )
            continue
        back = map_span(span.start_char, span.end_char, inverse)
        old_chars = None if back.start_char is None or back.end_char is None else (back.start_char, back.end_char)
        old_score = None
        if old_chars is not None:
            tokens = _covering_tokens(explanation.roles, explanation.offsets, *old_chars)
            if tokens is not None:
                old_score = float(explanation.start_probs[tokens[0]] * explanation.end_probs[tokens[1] - 1])
        changes.append(SpanChange("entered", span.text, None, rank, old_score, span.score, old_chars, chars))
    for rank, mapped in enumerate(followed):
        chars = None if mapped.start_char is None or mapped.end_char is None else (mapped.start_char, mapped.end_char)
        if chars is not None and chars in new_rank:
            continue
        original = mapped.original
        changes.append(
            SpanChange(
                "left",
                original.text,
                rank,
                None,
                original.score,
                mapped.probability,
                (original.start_char, original.end_char),
                chars,
            )
        )
    return tuple(changes)


__all__ = [
    "MASK_PLACEHOLDER",
    "CharMapping",
    "DiffOp",
    "Edit",
    "EditHistory",
    "MappedSpan",
    "SpanChange",
    "WhatIf",
    "apply_edits",
    "check_edits",
    "delete",
    "diff_texts",
    "edits_between",
    "explain_edited",
    "invert_steps",
    "map_span",
    "mask",
    "reanswer",
    "replace",
]
