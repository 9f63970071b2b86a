"""The run's headline: EM and F1, how many examples, failures, model, data and time."""

from __future__ import annotations

from typing import Any

import panel as pn

from dashboard.escaping import html_text
from dashboard.state import ExplorerState
from dashboard.views.state_view import StateView


def summary_html(state: ExplorerState) -> str:
    """Escaped HTML of the run's headline (or why there is none)."""
    dataset = state.dataset
    if dataset.problem:
        return f'<div style="color:#b00020">{html_text(dataset.problem)}</div>'
    run = dataset.run
    if run is None:
        return '<div style="color:#777">No dataset run is open. Start the app with <code>--args --run DIR</code>.</div>'
    summary = run.summary
    shown = len(dataset.filtered())
    questions = summary.questions if summary.questions is not None else summary.n
    counts = [f"{summary.n:,} examples", f"{questions:,} questions scored"]
    if summary.malformed:
        counts.append(f"{summary.malformed:,} malformed (not scored)")
    counts.append(f"{summary.failures:,} failed (scored 0)")
    if summary.ig_unconverged:
        counts.append(f"{summary.ig_unconverged:,} integrated gradients unconverged")
    counts.append(f"{shown:,} shown")
    over = (
        f"SQuAD {html_text(summary.squad_version)} official rules: EM and F1 over every question of the file, a "
        "question the model could not run on counting 0; malformed records are not questions"
    )
    return (
        '<div style="font-family: ui-sans-serif, system-ui, sans-serif">'
        f'<span style="font-size:26px; font-weight:600">EM {_figure(summary.em)}</span>'
        f'<span style="font-size:26px; font-weight:600; margin-left:18px">F1 {_figure(summary.f1)}</span>'
        f'<span style="margin-left:18px; color:#555">{" · ".join(counts)}</span>'
        f'<div style="color:#555; margin-top:4px; font-size:12px">{over}.</div>'
        f"{_squad2_html(summary)}"
        f'<div style="color:#555; margin-top:4px">{html_text(summary.model)} on '
        f"{html_text(summary.data)} (SQuAD {html_text(summary.squad_version)}) · {summary.seconds:.3g} s</div>"
        "</div>"
    )


def _figure(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def _squad2_html(summary: Any) -> str:
    """The official SQuAD 2.0 split (HasAns, NoAns) and the best no-answer threshold, for v2.0 runs."""
    if summary.has_answer is None or summary.no_answer is None:
        return ""
    has, no = summary.has_answer, summary.no_answer

    def threshold(value: float | None) -> str:
        return "abstain everywhere" if value is None else f"threshold {value:.3g}"

    return (
        '<div style="margin-top:4px">'
        f"HasAns ({has['total']:,}): EM {_figure(has['exact'])} · F1 {_figure(has['f1'])} &nbsp;|&nbsp; "
        f"NoAns ({no['total']:,}): EM {_figure(no['exact'])} · F1 {_figure(no['f1'])} &nbsp;|&nbsp; "
        f"no-answer threshold {summary.null_threshold:g} &nbsp;|&nbsp; best: EM {_figure(summary.best_exact)} at "
        f"{threshold(summary.best_exact_threshold)}, F1 {_figure(summary.best_f1)} at "
        f"{threshold(summary.best_f1_threshold)}</div>"
    )


class RunSummary(StateView):
    """EM, F1 and counts of the run on show; follows the filters (the "shown" count)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.html = pn.pane.HTML(summary_html(self.state), sizing_mode="stretch_width")
        self.on(("dataset.run", "dataset.problem", "dataset.revision"), self._redraw)

    def _redraw(self) -> None:
        self.html.object = summary_html(self.state)

    def __panel__(self) -> pn.viewable.Viewable:
        return self.html
