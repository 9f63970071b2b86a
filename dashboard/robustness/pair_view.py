"""One pair side by side: the original and the perturbed copy, the edit highlighted, both answers and their saliency.

The answers and scores are the suite's (what its run measured); the saliency comes from ``core.explain`` on both
sides, computed on the background runner when the pair opens (``robustness.job``), so the texts and the edit show
at once and the colours follow. Either side opens in the explorer with one click, where attention, saliency,
what-if and trust work on it.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from dashboard.escaping import html_text
from dashboard.labels import label
from dashboard.robustness.pair_text import answer_card, shared_peak, side_html, verdict_html
from dashboard.views.job_button import ERROR_COLOR
from dashboard.views.state_view import StateView

FOLLOWS = (
    "robustness.pair",
    "robustness.suite",
    "robustness.original",
    "robustness.perturbed",
    "robustness.method",
    "robustness.target",
    "robustness.pair_problem",
)
JOB = tuple(f"robustness.job.{name}" for name in ("running", "progress", "stage", "error"))


def _span(start: Any, end: Any) -> tuple[int, int] | None:
    return None if start is None or end is None else (int(start), int(end))


def _answer(explanation: Any, start: Any, end: Any) -> tuple[int, int] | None:
    """The answer to outline: the explanation's, once computed; until then the suite's run's."""
    if explanation is not None:
        return explanation.answer.start_char, explanation.answer.end_char
    return _span(start, end)


def pair_html(robustness: Any) -> str:
    """Escaped HTML of the pair on show: the verdict, then the two sides in two columns."""
    row = robustness.pair_row()
    if row is None:
        return '<div style="color:#777">Click a pair in the list to see it side by side.</div>'
    verdict = verdict_html(row, robustness.figures(str(row["family"])))
    if not row["applied"]:
        return verdict
    record = robustness.original_record() or {}
    original_context = str(record.get("context") or "")
    question_ops, context_ops = robustness.diff()
    original, perturbed = robustness.original, robustness.perturbed
    values = {"original": robustness.saliency("original"), "perturbed": robustness.saliency("perturbed")}
    peak = shared_peak((original, values["original"]), (perturbed, values["perturbed"]))
    sides = {
        "original": answer_card(
            "original",
            row["original_prediction"],
            row["original_em"],
            row["original_f1"],
            record.get("gold_answers") or [],
        )
        + side_html(
            "original",
            str(row["original_question"] or ""),
            original_context,
            question_ops,
            context_ops,
            original,
            values["original"],
            peak,
            _answer(original, row["original_prediction_start"], row["original_prediction_end"]),
        ),
        "perturbed": answer_card("perturbed", row["prediction"], row["em"], row["f1"], row["gold_answers"] or [])
        + side_html(
            "perturbed",
            str(row["question"] or ""),
            str(row["context"] or ""),
            question_ops,
            context_ops,
            perturbed,
            values["perturbed"],
            peak,
            _answer(perturbed, row["prediction_start"], row["prediction_end"]),
        ),
    }
    notes = []
    for side, explanation, answer in (
        ("original", original, row["original_prediction"]),
        ("perturbed", perturbed, row["prediction"]),
    ):
        if explanation is not None and (answer or "") != explanation.answer.text:
            notes.append(
                f"The explorer answers the {side} side {html_text(explanation.answer.text)!r}, the suite's run "
                f"{html_text(answer or '')!r} (another window or setting); the outline is the explorer's."
            )
    ids = {"original": row["original_id"], "perturbed": row["id"]}
    columns = "".join(
        f'<div class="qa-pair-side" data-side="{side}" style="flex:1; min-width:320px; padding:8px 12px; '
        "border:1px solid #e3e3e3; border-radius:6px; background:white; line-height:1.8; white-space:pre-wrap; "
        'word-wrap:break-word">'
        f'<div style="font-weight:600">{"Original" if side == "original" else "Perturbed copy"} '
        f'<span style="color:#888; font-weight:400">{html_text(ids[side])}</span></div>{body}</div>'
        for side, body in sides.items()
    )
    note = "".join(f'<div style="color:#b35900; font-size:12px">{text}</div>' for text in notes)
    return (
        '<div class="qa-pair" style="font-family: ui-sans-serif, system-ui, sans-serif">'
        f"{verdict}{note}"
        f'<div style="display:flex; gap:12px; flex-wrap:wrap; margin-top:6px">{columns}</div></div>'
    )


def legend_html(robustness: Any) -> str:
    """How to read the colours, and where the saliency stands (computing, failed, ready)."""
    job = robustness.job
    if robustness.pair_problem:
        return f'<span style="color:{ERROR_COLOR}">{html_text(robustness.pair_problem)}</span>'
    if job.error:
        return f'<span style="color:{ERROR_COLOR}">The saliency could not be computed: {html_text(job.error)}</span>'
    if job.running:
        return html_text(f"Explaining both sides… {job.stage}".rstrip())
    if robustness.original is None:
        return ""
    method, target = label(robustness.method), label(robustness.target)
    return html_text(
        f"Background: {method} for the {target}, one scale for both sides (red raises the logit, blue lowers it). "
        "Struck through: what the perturbation removed or replaced; underlined: what it wrote; ‸: where text was "
        "inserted or taken out; green outline: the answer; grey: outside the window the model read."
    )


class PairView(StateView):
    """The pair on show, with the method and target of its saliency and a way into the explorer for each side."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        robustness = self.state.robustness
        self.method = pn.widgets.Select.from_param(robustness.param.method, label="Saliency", width=200)
        self.target = pn.widgets.Select.from_param(robustness.param.target, label="Of the", width=160)
        self.open_original = pn.widgets.Button(label="Open the original in the explorer", width=260)
        self.open_perturbed = pn.widgets.Button(
            label="Open the perturbed copy in the explorer", color="primary", width=300
        )
        self.open_original.on_click(lambda _event: robustness.open_in_explorer("original"))
        self.open_perturbed.on_click(lambda _event: robustness.open_in_explorer("perturbed"))
        self.progress = pn.indicators.Progress(value=0, max=100, width=200, visible=False)
        self.legend = pn.pane.HTML("", margin=(0, 10), styles={"color": "#555", "font-size": "12px"})
        self.html = pn.pane.HTML("", sizing_mode="stretch_width")
        self.on(FOLLOWS, self._redraw)
        self.on(JOB, self._show_job)
        self._redraw()

    def _redraw(self) -> None:
        robustness = self.state.robustness
        row = robustness.pair_row()
        self.open_original.disabled = row is None
        self.open_perturbed.disabled = row is None or not row["applied"]
        self.html.object = pair_html(robustness)
        self._show_job()

    def _show_job(self) -> None:
        job = self.state.robustness.job
        self.progress.param.update(visible=job.running, value=int(round(job.progress * 100)))
        self.legend.object = legend_html(self.state.robustness)

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown("#### The pair side by side", margin=(0, 10)),
            pn.FlexBox(
                self.method,
                self.target,
                pn.Column(pn.Spacer(height=18), self.open_original),
                pn.Column(pn.Spacer(height=18), self.open_perturbed),
                sizing_mode="stretch_width",
            ),
            pn.Row(self.progress, self.legend, sizing_mode="stretch_width"),
            self.html,
            sizing_mode="stretch_width",
        )


__all__ = ["PairView", "legend_html", "pair_html"]
