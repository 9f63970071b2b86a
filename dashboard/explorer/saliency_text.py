"""The question and the context as text, each token's background coloured by its saliency.

Each token is a ``<span data-pos=...>``; clicking one toggles it in the selection, shift-click
selects the run from the last clicked token. The answer is outlined, selected tokens ringed.
Every piece of user text is passed through ``html.escape`` (the context may contain ``<script>``).

The click bridge is a small ``panel.custom.JSComponent``: it renders the HTML string and sends
``{position, shift}`` messages back with ``model.send_msg``, which works the same under
``panel serve`` and in Jupyter.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import panel as pn
import param
from panel.custom import JSComponent

from core.trust import SIGNED_METHODS
from dashboard.escaping import markdown_text
from dashboard.labels import label
from dashboard.state import ExplorerState
from dashboard.state.result import saliency_peak
from dashboard.theme import NEGATIVE_RGB, POSITIVE_RGB
from dashboard.views.state_view import StateView

_CSS = """
:host { display: block; width: 100%; }
.qa-text { font-family: ui-sans-serif, system-ui, sans-serif; font-size: 14px; line-height: 1.9;
  max-height: 300px; overflow-y: auto; padding: 6px 10px; border: 1px solid #e3e3e3; border-radius: 6px;
  white-space: pre-wrap; word-wrap: break-word; background: white; }
.qa-text .part { display: block; margin-bottom: 6px; }
.qa-text .part-label { display: inline-block; min-width: 70px; color: #888; font-size: 11px;
  text-transform: uppercase; letter-spacing: .04em; white-space: nowrap; }
.qa-text .tok { cursor: pointer; border-radius: 3px; padding: 1px 0; }
.qa-text .tok:hover { box-shadow: 0 0 0 1px #555; }
.qa-text .special { font-family: ui-monospace, monospace; font-size: 10px; color: #666; padding: 0 3px;
  border: 1px dashed #bbb; }
.qa-text .answer { outline: 2px solid #2ca02c; outline-offset: 2px; border-radius: 3px; }
.qa-text .sel { box-shadow: 0 0 0 2px #ff7f0e; font-weight: 600; }
.qa-text .elided { color: #aaa; }
"""


class TokenText(JSComponent):
    """Renders trusted (already escaped) HTML and reports clicks on ``[data-pos]`` elements."""

    content = param.String(default="", doc="HTML to show; every piece of user text in it is already escaped.")
    clicks = param.Integer(default=0, doc="How many token clicks arrived (for tests and debugging).")

    _esm = """
    export function render({ model, el }) {
      const box = document.createElement("div");
      const draw = () => { box.innerHTML = model.content; };
      draw();
      model.on("content", draw);
      box.addEventListener("click", (event) => {
        const token = event.target.closest("[data-pos]");
        if (!token) { return; }
        model.send_msg({ position: Number(token.dataset.pos), shift: event.shiftKey });
      });
      el.appendChild(box);
    }
    """
    _stylesheets = [_CSS]

    def __init__(self, on_click: Any = None, **params: Any) -> None:
        super().__init__(**params)
        self._on_click = on_click

    def _handle_msg(self, data: Any) -> None:
        if not isinstance(data, dict) or "position" not in data:
            return
        self.clicks += 1
        if self._on_click is not None:
            self._on_click(int(data["position"]), bool(data.get("shift")))


def _background(value: float, peak: float) -> str:
    if peak <= 0 or not np.isfinite(value) or value == 0:
        return ""
    strength = min(abs(value) / peak, 1.0) * 0.85
    red, green, blue = POSITIVE_RGB if value > 0 else NEGATIVE_RGB
    return f"background: rgba({red},{green},{blue},{strength:.3f});"


def token_html(state: ExplorerState) -> str:
    """The question and the context window as escaped HTML, one span per token."""
    explanation = state.result.explanation
    if explanation is None:
        return ""
    values = state.saliency_values()
    scores = np.zeros(explanation.num_tokens) if values is None else np.asarray(values, dtype=np.float64)
    peak = saliency_peak(scores, explanation.roles, state.view.scale_without_special)
    selected = {int(p) for p in state.selection.positions()}
    answer = state.result.answer_positions()
    labels = state.result.token_labels()
    method = label(state.view.method)
    parts: list[str] = []
    current_role = None
    previous_end: dict[str, int] = {}
    for position, role in enumerate(explanation.roles):
        if role != current_role and role != "special":
            if current_role is not None:
                parts.append("</span>")
            title = "Question" if role == "question" else "Context"
            parts.append(f'<span class="part"><span class="part-label">{title}</span>')
            if role == "context" and explanation.offsets[position][0] > 0:
                parts.append('<span class="elided">… </span>')
            current_role = role
        classes = ["tok"]
        if position in selected:
            classes.append("sel")
        if role == "special":
            classes.append("special")
            text = explanation.tokens[position]
        else:
            source = explanation.question if role == "question" else explanation.context
            start, end = explanation.offsets[position]
            gap_start = previous_end.get(role)
            if gap_start is not None and gap_start < start:
                parts.append(html.escape(source[gap_start:start]))
            text = source[start:end] or explanation.tokens[position]
            previous_end[role] = max(end, gap_start or 0)
        if position == answer.start:
            parts.append('<span class="answer" title="answer">')
        tooltip = f"#{position} {labels[position]} · {method}: {scores[position]:.4g}"
        parts.append(
            f'<span class="{" ".join(classes)}" data-pos="{position}" '
            f'style="{_background(scores[position], peak)}" title="{html.escape(tooltip, quote=True)}">'
            f"{html.escape(text)}</span>"
        )
        if position == answer.stop - 1:
            parts.append("</span>")
    if current_role is not None:
        parts.append("</span>")
    context_end = previous_end.get("context", len(explanation.context))
    if context_end < len(explanation.context.rstrip()):
        parts.append('<span class="elided"> …</span>')
    return f'<div class="qa-text">{"".join(parts)}</div>'


class SaliencyText(StateView):
    """The coloured text, with click-to-select."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._anchor: int | None = None
        self.text = TokenText(on_click=self.click, sizing_mode="stretch_width")
        self.caption = pn.pane.Markdown("", margin=(0, 10), styles={"color": "#666"})
        self.on(
            (
                "result.result_id",
                "result.saliency_revision",
                "view.method",
                "view.target",
                "view.scale_without_special",
                "selection.tokens",
                "jobs.saliency.running",
            ),
            self._redraw,
        )
        self._redraw()

    def click(self, position: int, shift: bool = False) -> None:
        """A click on token ``position``: toggle it; with shift, add the run from the last click."""
        if shift and self._anchor is not None:
            low, high = sorted((self._anchor, position))
            self.state.select(range(low, high + 1), mode="add")
        else:
            self.state.selection.toggle(position)
        self._anchor = position

    def _redraw(self) -> None:
        state = self.state
        if state.result.explanation is None:
            self.text.content = ""
            self.caption.object = "Run a question to see its tokens coloured by saliency."
            return
        self.text.content = token_html(state)
        method = label(state.view.method)
        target = label(state.view.target)
        values = state.saliency_values()
        if values is None:
            pending = " (computing…)" if state.jobs.saliency.running else ""
            note = f"{method} is not available yet{pending}."
        else:
            peak = saliency_peak(values, state.result.explanation.roles, state.view.scale_without_special)
            signed = state.view.method in SIGNED_METHODS
            sign = "red raises, blue lowers the logit" if signed else "darker: larger gradient"
            note = f"Background: {method} for the {target} ({sign}; full colour at |score| ≥ {peak:.3g})."
        warning = state.integrated_gradients_note()
        warning = f" **{markdown_text(warning)}**" if warning else ""
        self.caption.object = (
            f"{note}{warning} Green outline: the answer. Click tokens to select them, shift-click for a run."
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown("#### Question and context by saliency", margin=(0, 10)),
            self.caption,
            self.text,
            sizing_mode="stretch_width",
        )
