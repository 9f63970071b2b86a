"""What if: edit the selected words (delete, mask, replace) or the whole context, and see the new answer.

The new answer sits beside the original: its span and score, where the original answer went and its
probability now, how the top answers moved, and a word-level diff of the text.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from core.whatif import WhatIf
from dashboard.escaping import html_text, markdown_text
from dashboard.theme import ANSWER_COLOR
from dashboard.views.job_button import JobButton
from dashboard.views.state_view import StateView
from dashboard.views.widgets import TextBox, TextLine, full_box_note

_STATUS = {
    "kept": "still there",
    "deleted": "removed by an edit",
    "edited": "changed by an edit",
}


def _answer_card(title: str, text: str, score: float, note: str = "") -> str:
    return (
        '<div style="flex:1; min-width:220px; padding:8px 12px; border:1px solid #e3e3e3; border-radius:6px">'
        f'<div style="font-size:12px; color:#888; text-transform:uppercase">{html_text(title)}</div>'
        f'<div style="font-size:20px; font-weight:600">{html_text(text) or "<i>(empty)</i>"}</div>'
        f'<div style="color:#555">score {score:.3g}{note}</div></div>'
    )


def rank_before(rank: int | None) -> str:
    """A top-k rank as the page shows it: 1 is the answer (core counts from 0); "new" for a span not ranked before."""
    return "new" if rank is None else str(rank + 1)


def rank_now(rank: int | None) -> str:
    """The rank now, 1 for the answer; "out" for a span that left the top answers."""
    return "out" if rank is None else str(rank + 1)


def whatif_html(answer: WhatIf) -> str:
    """Escaped HTML: original and new answer side by side, the original span now, top-k moves, the diff."""
    original = answer.explanation.answer
    mapped = answer.original_answer
    if mapped.probability is None:
        now = f"; {_STATUS.get(mapped.status, mapped.status)}" + (f": {mapped.reason}" if mapped.reason else "")
    else:
        change = mapped.probability_change or 0.0
        now = f"; its probability now {mapped.probability:.3g} ({change:+.3g})"
    verdict = (
        '<div style="color:#b35900; font-weight:600">The answer changed.</div>'
        if answer.answer_changed
        else f'<div style="color:{ANSWER_COLOR}; font-weight:600">Same answer.</div>'
    )
    cards = (
        '<div style="display:flex; gap:12px; flex-wrap:wrap">'
        + _answer_card("original answer", original.text, original.score, html_text(now))
        + _answer_card("new answer", answer.answer.text, answer.answer.score)
        + "</div>"
    )
    rows = "".join(
        f"<tr><td>{html_text(change.status)}</td><td>{html_text(change.text)}</td>"
        f"<td>{rank_before(change.old_rank)}</td><td>{rank_now(change.new_rank)}</td>"
        f"<td>{'—' if change.old_score is None else f'{change.old_score:.3g}'}</td>"
        f"<td>{'—' if change.new_score is None else f'{change.new_score:.3g}'}</td></tr>"
        for change in answer.top_k_changes
    )
    table = (
        "<table style='border-collapse:collapse; margin-top:8px' class='whatif-topk'>"
        "<tr><th>change</th><th>span</th><th>rank before</th><th>rank now</th><th>score before</th>"
        f"<th>score now</th></tr>{rows}</table>"
        '<div style="color:#888; font-size:12px">Rank 1 is the answer. new: not among the top answers before the '
        "edit; out: no longer among them.</div>"
    )
    diff = "".join(
        html_text(op.edited_text)
        if op.tag == "equal"
        else (f"<del style='background:#fdd'>{html_text(op.original_text)}</del>" if op.original_text else "")
        + (f"<ins style='background:#dfd'>{html_text(op.edited_text)}</ins>" if op.edited_text else "")
        for op in answer.diff
    )
    return (
        '<div style="font-family: ui-sans-serif, system-ui, sans-serif">'
        f"{verdict}{cards}{table}"
        '<div style="margin-top:10px; font-size:12px; color:#888; text-transform:uppercase">The edited context</div>'
        f'<div style="white-space:pre-wrap; line-height:1.6">{diff}</div>'
        f'<div style="color:#888; font-size:12px">{answer.num_windows} window(s), {answer.seconds:.2f} s</div>'
        "</div>"
    )


class WhatIfPanel(StateView):
    """Edit the selected words or the whole context; the model answers again at once."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        whatif = self.state.whatif
        self.delete = pn.widgets.Button(label="Delete the selected words", width=210)
        self.mask = pn.widgets.Button(label="Mask them", width=120)
        self.replace = pn.widgets.Button(label="Replace them with:", width=150)
        self.replacement = TextLine.from_param(whatif.param.replacement, label="", width=220)
        self.undo = pn.widgets.Button(label="Undo", width=90)
        self.reset = pn.widgets.Button(label="Reset", width=90)
        self.draft = TextBox.from_param(
            whatif.param.draft,
            label="The what-if copy of the context (edit freely)",
            height=140,
            sizing_mode="stretch_width",
        )
        self.draft_full = full_box_note(whatif.param.draft, "what-if")
        self.job_button = JobButton(
            **self.wiring,
            job_name="whatif",
            label="Answer this text",
            action=whatif.reanswer_draft,
            running_text="Answering the edited text…",
            needs_answer=True,
            button_width=180,
        )
        self.reanswer = self.job_button.button
        self.delete.on_click(lambda _event: whatif.edit_selection("delete"))
        self.mask.on_click(lambda _event: whatif.edit_selection("mask"))
        self.replace.on_click(lambda _event: whatif.edit_selection("replace"))
        self.undo.on_click(lambda _event: whatif.undo())
        self.reset.on_click(lambda _event: whatif.reset())
        self.problem = pn.pane.Alert("", alert_type="warning", visible=False, sizing_mode="stretch_width")
        self.result = pn.pane.HTML("", sizing_mode="stretch_width")
        self.on(("whatif.answer", "whatif.history", "jobs.whatif.running", "jobs.whatif.error"), self._redraw)
        self.on(("whatif.problem",), self._show_problem)
        self._redraw()
        self._show_problem()

    def _show_problem(self) -> None:
        problem = self.state.whatif.problem
        self.problem.param.update(object=markdown_text(problem), visible=bool(problem))

    def _redraw(self) -> None:
        """The edit buttons wait for the job (the job button says how it goes); the result shows the new answer."""
        whatif, job = self.state.whatif, self.state.jobs.whatif
        for button in (self.delete, self.mask, self.replace):
            button.disabled = whatif.history is None or job.running
        self.undo.disabled = whatif.history is None or not whatif.history.can_undo or job.running
        self.reset.disabled = self.undo.disabled
        if job.running or job.error:
            self.result.object = ""
        elif whatif.answer is not None:
            self.result.object = whatif_html(whatif.answer)
        elif whatif.history is None:
            self.result.object = "<div style='color:#777'>Run a question first.</div>"
        else:
            self.result.object = (
                "<div style='color:#777'>Select words in the coloured text (click them), then delete, mask or "
                "replace them; or edit the copy of the context and answer it. The model answers again at once "
                "(one forward pass, no saliency).</div>"
            )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "#### What if the context said something else?\n<small>Edits apply to the selected context "
                "words, one step at a time; undo and reset go back.</small>",
                margin=(0, 10),
            ),
            pn.Row(self.delete, self.mask, self.replace, self.replacement, self.undo, self.reset),
            self.problem,
            self.result,
            self.draft,
            self.draft_full,
            self.job_button,
            sizing_mode="stretch_width",
        )


__all__ = ["WhatIfPanel", "rank_before", "rank_now", "whatif_html"]
