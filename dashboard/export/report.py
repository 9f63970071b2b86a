"""A one-page HTML report of the answer on show, with whatever trust results the session has computed.

``report_html(state)``: the answer and the runner-up spans, the coloured text, the saliency bars for
both targets, the attention map on show (``standalone_view``), and the trust results computed so far
(faithfulness ranking, sanity check, where the answer forms, models side by side). User text goes
through ``dashboard.escaping`` before it becomes HTML.
"""

from __future__ import annotations

from bokeh.embed import file_html
from bokeh.layouts import column
from bokeh.models import Div
from bokeh.resources import INLINE

from dashboard.escaping import html_text
from dashboard.export.standalone import WIDTH, offline_document, offline_page, standalone_view
from dashboard.labels import label
from dashboard.state import ExplorerState

REPORT_MEASURES = ("deletion_aopc", "comprehensiveness", "sufficiency")
"""The faithfulness measures the report's table shows."""


def _trust_summary(state: ExplorerState) -> str:
    trust = state.trust
    parts = []
    report = trust.faithfulness.report
    if report is not None:
        rows = "".join(
            f"<tr><td>{row['rank']}</td><td>{html_text(label(row['name']))}</td>"
            + "".join(f"<td>{row[name]:.3g}</td>" for name in REPORT_MEASURES)
            + "</tr>"
            for row in report.ranking()
        )
        headers = "".join(f"<th>{html_text(label(name))}</th>" for name in REPORT_MEASURES)
        parts.append(f"<h3>Faithfulness</h3><table><tr><th>#</th><th>explainer</th>{headers}</tr>{rows}</table>")
    sanity = trust.sanity.report
    if sanity is not None:
        flagged = ", ".join(label(m) for m in sanity.flagged) or "none"
        parts.append(
            "<h3>Sanity check</h3><p>Flagged methods (still correlated once the model is random): "
            f"{html_text(flagged)}</p>"
        )
    layers = trust.layers.report
    if layers is not None:
        forms = layers.answer_forms_at
        where = "not even the last layer" if forms is None else ("the embeddings" if forms == 0 else f"layer {forms}")
        parts.append(f"<h3>Where the answer forms</h3><p>Every layer from {where} on picks the final answer.</p>")
    comparison = trust.comparison.comparison
    if comparison is not None:
        rows = "".join(
            f"<tr><td>{html_text(pair.a)}</td><td>{html_text(pair.b)}</td><td>{pair.spearman:.3f}</td></tr>"
            for pairs in comparison.agreement.values()
            for pair in pairs[:1]
        )
        parts.append(f"<h3>Models side by side</h3><table><tr><th>A</th><th>B</th><th>ρ</th></tr>{rows}</table>")
    return "".join(parts) or "<p style='color:#777'>No trust results were computed in this session.</p>"


def report_html(state: ExplorerState) -> str:
    """A one-page HTML report of the answer on show: answer, runner-ups, maps and the trust results computed."""
    explanation = state.result.require()
    top = "".join(
        f"<tr><td>{rank}</td><td>{html_text(span.text)}</td><td>{span.score:.3g}</td></tr>"
        for rank, span in enumerate(explanation.top_k, start=1)
    )
    unconverged = [label(t) for t, done in explanation.ig_converged.items() if not done]
    warning = (
        f"<p style='color:#b35900'>Integrated gradients did not converge for the {' and '.join(unconverged)}.</p>"
        if unconverged
        else ""
    )
    summary = Div(
        text=(
            "<style>table{border-collapse:collapse} td,th{border:1px solid #ddd; padding:2px 8px}</style>"
            f"<h1 style='margin-bottom:0'>{html_text(explanation.answer.text)}</h1>"
            f"<p>Question: <b>{html_text(explanation.question)}</b><br>Model: {html_text(explanation.model)}"
            f" · score {explanation.answer.score:.3g}</p>"
            f"<h3>Top answers</h3><table><tr><th>#</th><th>answer</th><th>score</th></tr>{top}</table>{warning}"
        ),
        width=WIDTH,
    )
    trust = Div(text=_trust_summary(state), width=WIDTH)
    layout, ready = standalone_view(state)
    document = offline_document(column(summary, layout, trust), ready=ready)
    return offline_page(file_html(document, INLINE, title=f"QA Lens report · {explanation.question[:60]}"))


__all__ = ["REPORT_MEASURES", "report_html"]
