"""What if the context said something else? Edits of the answer on show, and the model's new answer.

Selected context tokens can be deleted, masked or replaced, or the context edited freely in a copy;
every change re-answers at once (``core.reanswer``: one batched forward, no saliency). The edits form
a history (undo, reset) over the explained context, so a selection made on the explained window's
tokens is followed through earlier edits to where its characters are now. Nothing re-runs on a pure
view change; a new answer starts a fresh history.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import param

import core
from core import ProgressCallback
from core.whatif import Edit, EditHistory, WhatIf
from dashboard.state.jobs import Jobs
from dashboard.state.result import Result
from dashboard.state.selection import Selection

EDIT_KINDS = ("delete", "mask", "replace")


class WhatIfState(param.Parameterized):
    """The edit history over the explained context, the what-if copy of it, and the last re-answer."""

    result = param.ClassSelector(class_=Result, precedence=-1, doc="The session's answer on show.")
    selection = param.ClassSelector(class_=Selection, precedence=-1, doc="The session's shared token selection.")
    jobs = param.ClassSelector(class_=Jobs, precedence=-1, doc="The session's jobs (``whatif`` re-answers).")
    history = param.Parameter(default=None, doc="core.whatif.EditHistory over the explained context, or None.")
    answer = param.Parameter(default=None, doc="core.whatif.WhatIf: the model's answer over the edited context.")
    replacement = param.String(default="", doc="What 'replace' puts in place of the selected words.")
    draft = param.String(default="", doc="The what-if copy of the context, edited freely and re-answered on request.")
    problem = param.String(default="", doc="Why the last edit could not be made; empty when it could.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.result.param.watch(self._on_new_answer, ["result_id"])

    def _on_new_answer(self, _event: param.parameterized.Event) -> None:
        self.jobs.whatif.reset()
        explanation = self.result.explanation
        history = None if explanation is None else EditHistory(explanation.context, mask_token=self._mask_token())
        self.param.update(history=history, answer=None, draft=history.context if history else "", problem="")

    def _mask_token(self) -> str:
        explanation = self.result.explanation
        if explanation is None:
            return core.whatif.MASK_PLACEHOLDER
        try:
            token = core.load_model(explanation.model).tokenizer.mask_token
        except core.ModelLoadError:
            token = None
        return token or core.whatif.MASK_PLACEHOLDER

    # ------------------------------------------------------------------ edits

    def selected_span(self) -> tuple[int, int]:
        """The explained context's characters the selected context tokens cover (``ValueError`` if none)."""
        explanation = self.result.require()
        chosen = [p for p in self.selection.positions() if explanation.roles[p] == "context"]
        if not chosen:
            raise ValueError("Select words of the context first (click them in the coloured text).")
        return explanation.offsets[min(chosen)][0], max(explanation.offsets[p][1] for p in chosen)

    def edit_selection(self, kind: str) -> None:
        """Delete, mask or replace (with ``replacement``) the selected context words, and re-answer."""
        if kind not in EDIT_KINDS:
            raise ValueError(f"Unknown edit {kind!r}; choose from {', '.join(EDIT_KINDS)}.")
        try:
            start, end = self.selected_span()
            mapped = self.history.map_span(start, end)
            if mapped.start_char is None:
                raise ValueError("The selected words were changed by an earlier edit: undo it, or edit the text.")
            replacement = {"delete": "", "mask": None, "replace": self.replacement}[kind]
            self.apply(Edit(mapped.start_char, mapped.end_char, replacement))
        except ValueError as error:
            self.problem = str(error)

    def reanswer_draft(self) -> None:
        """Re-answer the freely edited copy of the context."""
        try:
            self.apply(self.draft)
        except ValueError as error:
            self.problem = str(error)

    def apply(self, change: str | Edit) -> None:
        """Push one change onto the history and re-answer (``ValueError`` for an edit that cannot be made)."""
        self.result.require()
        self._reanswer(self.history.push(change))

    def undo(self) -> None:
        if self.history is not None and self.history.can_undo:
            self._reanswer(self.history.undo())

    def reset(self) -> None:
        if self.history is not None:
            self.jobs.whatif.reset()
            self.param.update(history=self.history.reset(), answer=None, draft=self.history.original, problem="")

    def _reanswer(self, history: EditHistory) -> None:
        explanation = self.result.require()
        self.param.update(history=history, draft=history.context, problem="")
        if not history.can_undo:
            self.answer = None
            return

        def work(_progress: ProgressCallback) -> WhatIf:
            return core.reanswer(explanation, history)

        self.jobs.whatif.start(work, self._arrived(explanation), self._failed)

    def _arrived(self, explanation: core.Explanation) -> Callable[[WhatIf], None]:
        def done(answer: WhatIf) -> None:
            if self.result.explanation is explanation or (
                self.result.explanation is not None and self.result.explanation.context == explanation.context
            ):
                self.answer = answer

        return done

    def _failed(self, error: BaseException) -> None:
        self.problem = str(error)


__all__ = ["EDIT_KINDS", "WhatIfState"]
