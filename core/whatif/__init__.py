"""What if the context said something else? Edit the context and re-answer, cheaply.

Its one door (import from ``core.whatif``, never from its files):

- ``edits``: an ``Edit`` replaces the characters ``[start_char, end_char)`` of the context with new text
  (``delete``, ``mask`` with the model's mask token, ``replace``; an empty range inserts);
- ``diff``: a word-level diff of two texts, so a freely typed context becomes edits;
- ``mapping``: where a span of the original lies after the edits, or which edit ended it;
- ``history``: ``EditHistory``, edit steps with undo and reset;
- ``reanswer``: the answer pass over the edited text (``core.passes``, no attention weights, no saliency)
  and what changed: the new answer and top-k, where the original answer went, which spans entered, left or
  moved. This is the counterfactual view of an explanation (Ribeiro et al., 2020, "Beyond Accuracy:
  Behavioral Testing of NLP Models with CheckList"): the user states a hypothesis ("it answers from this
  clause") and tests it. ``WhatIf.to_explanation`` runs the full ``core.explain`` when the user asks.
"""

from core.whatif.diff import WORD_DIFF_LIMIT, DiffOp, DiffTag, diff_texts, edits_between
from core.whatif.edits import MASK_PLACEHOLDER, Edit, EditKind, apply_edits, check_edits, delete, mask, replace
from core.whatif.history import EditHistory
from core.whatif.mapping import CharMapping, SpanStatus, invert_steps, map_span
from core.whatif.reanswer import ChangeStatus, MappedSpan, SpanChange, WhatIf, explain_edited, reanswer

__all__ = [
    "MASK_PLACEHOLDER",
    "WORD_DIFF_LIMIT",
    "ChangeStatus",
    "CharMapping",
    "DiffOp",
    "DiffTag",
    "Edit",
    "EditHistory",
    "EditKind",
    "MappedSpan",
    "SpanChange",
    "SpanStatus",
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
