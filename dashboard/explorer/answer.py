"""The answer, highlighted in its context, with its score (and the reference answer for examples)."""

from __future__ import annotations

import html
from typing import Any

import panel as pn

from dashboard.state import ExplorerState
from dashboard.views.state_view import StateView

EXCERPT_CHARS = 280


def answer_html(state: ExplorerState) -> str:
    """Escaped HTML: the answer, its score and where it is, and an excerpt of the context around it."""
    explanation = state.result.explanation
    if explanation is None:
        return ""
    answer = explanation.answer
    context = explanation.context
    before_start = max(0, answer.start_char - EXCERPT_CHARS)
    after_end = min(len(context), answer.end_char + EXCERPT_CHARS)
    excerpt = (
        ("…" if before_start > 0 else "")
        + html.escape(context[before_start : answer.start_char])
        + f'<mark style="background:#c7e9c0; outline:2px solid #2ca02c; border-radius:3px">'
        f"{html.escape(context[answer.start_char : answer.end_char])}</mark>"
        + html.escape(context[answer.end_char : after_end])
        + ("…" if after_end < len(context) else "")
    )
    reference = ""
    example = state.inputs.chosen_example()
    if (
        example is not None
        and example.answer_text
        and (example.question, example.context)
        == (
            explanation.question,
            context,
        )
    ):
        same = (example.answer_start, example.answer_start + len(example.answer_text)) == (
            answer.start_char,
            answer.end_char,
        ) or example.answer_text.strip().lower() == answer.text.strip().lower()
        mark = "✓ matches" if same else "✗ differs from"
        reference = (
            f'<div style="color:{"#2ca02c" if same else "#b04a00"}; margin-top:4px">{mark} the reference answer '
            f"“{html.escape(example.answer_text)}”</div>"
        )
    null_line = _null_answer_line(state)
    windows = (
        f" · window {explanation.window_index + 1} of {explanation.num_windows}" if explanation.num_windows > 1 else ""
    )
    return (
        '<div style="font-family: ui-sans-serif, system-ui, sans-serif">'
        '<div style="font-size:12px; color:#888; text-transform:uppercase; letter-spacing:.04em">Answer</div>'
        f'<div style="font-size:22px; font-weight:600; margin:2px 0">{html.escape(answer.text)}</div>'
        f'<div style="color:#555">score {answer.score:.3g} (P(start) × P(end)) · characters '
        f"{answer.start_char}–{answer.end_char} · tokens {answer.start_token}–{answer.end_token - 1}{windows}"
        f" · {html.escape(explanation.model)}</div>"
        f"{reference}{null_line}"
        f'<div style="margin-top:10px; line-height:1.6; color:#333; white-space:pre-wrap">{excerpt}</div>'
        "</div>"
    )


def _null_answer_line(state: ExplorerState) -> str:
    """SQuAD 2.0's decision: the no-answer score ([CLS]) against the answer's span score, at the chosen threshold."""
    explanation = state.result.require()
    null, best = explanation.null_score, explanation.best_span_score
    threshold = state.view.null_threshold
    abstains = explanation.answers_null(threshold)
    verdict = "the model would <b>abstain</b> (no answer)" if abstains else "the model answers"
    return (
        f'<div style="color:#666; font-size:12px; margin-top:2px">No-answer check (SQuAD 2.0): null score '
        f"{null:.2f} vs span score {best:.2f}; at threshold {threshold:g}, {verdict}.</div>"
    )


class AnswerView(StateView):
    """The answer, its score, and the context around it."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.html = pn.pane.HTML("", sizing_mode="stretch_width")
        self.on(("result.result_id", "view.null_threshold"), self._redraw)
        self._redraw()

    def _redraw(self) -> None:
        content = answer_html(self.state)
        self.html.object = content or (
            '<div style="color:#777">Pick an example or type a question and a context, then press <b>Run</b>.</div>'
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self.html
