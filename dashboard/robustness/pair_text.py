"""A pair's two examples as HTML, side by side: the edit highlighted, each token coloured by its saliency.

The edit is the what-if view's word-level diff (``core.whatif.diff_texts``) of the original and the perturbed
question and context: on the original side what the perturbation removed or replaced is struck through, on the
perturbed side what it wrote is underlined, and a caret marks where text was inserted (or taken out). Saliency
colours each token's characters (``Explanation.offsets``), on one scale for both sides so their colours compare;
the answer is outlined. Characters outside the window the model read stay grey.

Every piece of text goes through ``html_text``: a perturbed example is user data (a context may hold
``<script>``, and an inserted sentence is built from the question's own words).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

import numpy as np

from dashboard.escaping import html_text
from dashboard.labels import label
from dashboard.state.result import saliency_peak
from dashboard.theme import ANSWER_COLOR, FLAG_COLOR, NEGATIVE_RGB, POSITIVE_RGB, SELECTION_COLOR

Range = tuple[int, int]
TokenValue = tuple[int, int, float]
"""A token's characters ``[start, end)`` in its text, and its saliency."""

EDITED = {
    "original": f"text-decoration: line-through 2px {FLAG_COLOR};",
    "perturbed": f"text-decoration: underline 3px {SELECTION_COLOR}; text-underline-offset: 3px;",
}
"""How each side marks the edit: what went away is struck through, what was written is underlined."""
POINT_TITLE = {"original": "the perturbed copy inserts text here", "perturbed": "the original had text here"}


def _background(value: float, peak: float) -> str:
    if peak <= 0 or not np.isfinite(value) or value == 0:
        return ""
    strength = min(abs(value) / peak, 1.0) * 0.85
    red, green, blue = POSITIVE_RGB if value > 0 else NEGATIVE_RGB
    return f"background: rgba({red},{green},{blue},{strength:.3f});"


def _point(side: str) -> str:
    style = f"color:{SELECTION_COLOR}; font-weight:700"
    return f'<span class="qa-edit-point" title="{POINT_TITLE[side]}" style="{style}">‸</span>'


def marked_text(
    text: str,
    side: str,
    tokens: Sequence[TokenValue] = (),
    edits: Sequence[Range] = (),
    points: Sequence[int] = (),
    answer: Range | None = None,
    peak: float = 0.0,
    window: Range | None = None,
) -> str:
    """``text`` as escaped HTML: ``edits`` marked for ``side``, a caret at each of ``points``, each token's
    characters coloured by its value (full colour at ``peak``), ``answer`` outlined, outside ``window`` grey."""
    cuts = {0, len(text), *points}
    for start, end, _value in tokens:
        cuts.update((start, end))
    for start, end in (*edits, *((answer,) if answer else ()), *((window,) if window else ())):
        cuts.update((start, end))
    bounds = sorted(cut for cut in cuts if 0 <= cut <= len(text))
    ordered = sorted(tokens)
    starts = [start for start, _end, _value in ordered]
    carets = {point for point in points if 0 <= point <= len(text)}
    parts: list[str] = []
    for low, high in zip(bounds, bounds[1:], strict=False):
        if low in carets:
            parts.append(_point(side))
        if low == high:
            continue
        index = bisect_right(starts, low) - 1
        value = ordered[index][2] if index >= 0 and ordered[index][1] > low else None
        style = "" if value is None else _background(value, peak)
        if any(start <= low < end for start, end in edits):
            style += EDITED[side]
        if answer is not None and answer[0] <= low < answer[1]:
            style += f"box-shadow: 0 0 0 2px {ANSWER_COLOR};"
        if window is not None and not window[0] <= low < window[1]:
            style += "color: #999;"
        chunk = html_text(text[low:high])
        if style or value is not None:
            tip = "" if value is None else f' title="{value:.4g}"'
            parts.append(f'<span style="{style}"{tip}>{chunk}</span>')
        else:
            parts.append(chunk)
    if len(text) in carets:
        parts.append(_point(side))
    return "".join(parts)


def diff_marks(ops: Sequence[Any], side: str) -> tuple[list[Range], list[int]]:
    """The changed ranges and the insertion points of one side, from ``core.whatif.diff_texts`` ops."""
    ranges: list[Range] = []
    points: list[int] = []
    for op in ops:
        if op.tag == "equal":
            continue
        start, end = (op.original_start, op.original_end) if side == "original" else (op.edited_start, op.edited_end)
        if start == end:
            points.append(start)
        else:
            ranges.append((start, end))
    return ranges, points


def token_values(explanation: Any, values: np.ndarray | None, role: str) -> list[TokenValue]:
    """The tokens of one role (question or context) with their saliency (0 before it is computed)."""
    if explanation is None:
        return []
    return [
        (int(start), int(end), 0.0 if values is None else float(values[position]))
        for position, ((start, end), token_role) in enumerate(zip(explanation.offsets, explanation.roles, strict=True))
        if token_role == role and end > start
    ]


def shared_peak(*pairs: tuple[Any, np.ndarray | None]) -> float:
    """One full-colour value for both sides (explanation, values), so their colours compare."""
    peaks = [saliency_peak(values, explanation.roles) for explanation, values in pairs if values is not None]
    return max(peaks, default=0.0)


def side_html(
    side: str,
    question: str,
    context: str,
    question_ops: Sequence[Any],
    context_ops: Sequence[Any],
    explanation: Any = None,
    values: np.ndarray | None = None,
    peak: float = 0.0,
    answer: Range | None = None,
) -> str:
    """One side's question and context, marked (the answer outlined in the context)."""
    question_edits, question_points = diff_marks(question_ops, side)
    context_edits, context_points = diff_marks(context_ops, side)
    window = None
    context_tokens = token_values(explanation, values, "context")
    if context_tokens:
        window = (min(start for start, _end, _v in context_tokens), max(end for _s, end, _v in context_tokens))
    question_html = marked_text(
        question, side, token_values(explanation, values, "question"), question_edits, question_points, peak=peak
    )
    context_html = marked_text(context, side, context_tokens, context_edits, context_points, answer, peak, window)
    caption = 'style="color:#888; font-size:11px; text-transform:uppercase; letter-spacing:.04em"'
    return (
        f'<div {caption}>Question</div><div class="qa-pair-question" style="margin-bottom:6px">{question_html}</div>'
        f'<div {caption}>Context</div><div class="qa-pair-context" style="max-height:420px; overflow-y:auto">'
        f"{context_html}</div>"
    )


def answer_card(side: str, answer: str | None, em: float | None, f1: float | None, gold: Sequence[str]) -> str:
    """The answer a side got (from the suite's run), its EM and F1, and its gold answers."""
    scores = "" if em is None else f" · EM {em:.0f} · F1 {100 * (f1 or 0.0):.0f}"
    golds = ", ".join(html_text(item) for item in gold) or "–"
    shown = html_text(answer) if answer else "<i>(no answer)</i>"
    return (
        f'<div class="qa-pair-answer" data-side="{side}" style="padding:6px 10px; margin:4px 0 8px; '
        'border:1px solid #e3e3e3; border-radius:6px">'
        f'<span style="color:#888; font-size:11px; text-transform:uppercase">answer</span> '
        f'<span class="qa-pair-answer-text" style="font-size:18px; font-weight:600">{shown}</span>'
        f'<span style="color:#555">{scores} · gold: {golds}</span></div>'
    )


def verdict_html(row: dict[str, Any], figures: dict[str, Any]) -> str:
    """What the pair shows: the family, its expectation, the edit, and whether the answer changed or failed."""
    if not row["applied"]:
        return f'<div style="color:#777">Not made: {html_text(row["reason"])}</div>'
    badges = []
    if row.get("error"):
        badges.append(f'<span style="color:{FLAG_COLOR}">could not run: {html_text(row["error"])}</span>')
    else:
        changed = bool(row.get("changed"))
        badges.append("<b>the answer changed</b>" if changed else "the same answer")
        failed = bool(row.get("failed"))
        color = FLAG_COLOR if failed else ANSWER_COLOR
        badges.append(f'<span style="color:{color}">{"fails" if failed else "meets"} the expectation</span>')
        # The text the edit wrote: a distractor's sentence must not be answered from, a replaced answer must be.
        written = "the inserted sentence" if row.get("kind") == "distractor" else "the text the edit wrote"
        if row.get("captured"):
            color = FLAG_COLOR if row.get("kind") == "distractor" else "#555"
            badges.append(f'<span style="color:{color}">answered from {written}</span>')
        if row.get("region_share") is not None:
            badges.append(f"saliency on {written} {100 * row['region_share']:.0f}%")
        if row.get("f1_drop") is not None:
            badges.append(f"F1 drop {100 * row['f1_drop']:+.0f} points")
    kind = figures.get("kind") or row.get("kind") or ""
    return (
        f'<div class="qa-pair-verdict"><b>{html_text(label(row["family"]))}</b> ({html_text(kind)}; expected: '
        f"{html_text(row.get('expectation') or '')}) · edit: {html_text(row.get('edit') or '')}"
        f'<div style="margin-top:2px">{" · ".join(badges)}</div></div>'
    )


__all__ = ["answer_card", "diff_marks", "marked_text", "shared_peak", "side_html", "token_values", "verdict_html"]
