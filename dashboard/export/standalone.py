"""The view on show as one offline HTML page, its plots linked in the browser without a server.

``standalone_view_html(state)``: the answer, its coloured text and the saliency, probability and
attention plots of the view on show, as one HTML file with Bokeh inlined (it opens offline). The
plots stay linked in the browser without a server: tap or box-select tokens in any plot and the
others, and the text, follow (``CustomJS`` on each plot's selection); a method and target menu
recolours the bars and the text from the saliency stored in the file. Attention is the layer and
head on show.

User text goes through ``dashboard.escaping`` before it becomes HTML, and reaches the page's
scripts only as data (JSON), never as code.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from bokeh.document import Document
from bokeh.embed import file_html
from bokeh.layouts import column, row
from bokeh.models import (
    BoxSelectTool,
    ColumnDataSource,
    CustomJS,
    Div,
    LinearColorMapper,
    Select,
    TapTool,
)
from bokeh.plotting import figure
from bokeh.resources import INLINE

import core
from dashboard.escaping import html_text
from dashboard.labels import label
from dashboard.state import ExplorerState
from dashboard.state.result import saliency_peak
from dashboard.theme import ANSWER_COLOR, NEGATIVE_COLOR, NEGATIVE_RGB, POSITIVE_COLOR, POSITIVE_RGB, SELECTION_COLOR
from dashboard.views.plotting import label_positions, name_saved_files

WIDTH = 900

_SELECT_JS = """
// Every linked source shows the same token positions; the heatmap's bands and the text follow.
const positions = Array.from(new Set(wanted)).filter((p) => p >= 0 && p < count).sort((a, b) => a - b);
const same = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);
for (const source of sources) {
  if (!same(Array.from(source.selected.indices).sort((a, b) => a - b), positions)) {
    source.selected.indices = positions;
  }
}
const starts = [], ends = [];
for (const p of positions) {
  if (starts.length && ends[ends.length - 1] === p - 0.5) { ends[ends.length - 1] = p + 0.5; }
  else { starts.push(p - 0.5); ends.push(p + 0.5); }
}
bands.data = {start: starts, end: ends};
text.text = render(positions);
"""

_TEXT_JS = """
function render(selected) {
  const chosen = new Set(selected);
  const key = method.value + "|" + target.value;
  const values = scores[key] || [];
  let peak = 0;
  for (let i = 0; i < values.length; i++) {
    if (roles[i] !== "special") { peak = Math.max(peak, Math.abs(values[i])); }
  }
  if (peak === 0) { for (const v of values) { peak = Math.max(peak, Math.abs(v)); } }
  let html = "";
  for (let i = 0; i < pieces.length; i++) {
    const v = values[i] || 0;
    const strength = peak > 0 ? Math.min(Math.abs(v) / peak, 1) * 0.85 : 0;
    const rgb = v >= 0 ? positive : negative;
    const style = "background: rgba(" + rgb.join(",") + "," + strength.toFixed(3) + ");"
      + (chosen.has(i) ? " box-shadow: 0 0 0 2px " + selection + "; font-weight: 600;" : "")
      + (answer[i] ? " outline: 2px solid " + answerColor + ";" : "");
    html += gaps[i] + "<span style='" + style + "' title='#" + i + "'>" + pieces[i] + "</span>";
  }
  return "<div style='font-family: ui-sans-serif, system-ui, sans-serif; line-height: 1.9; white-space: pre-wrap'>"
    + html + "</div>";
}
"""


def _token_pieces(explanation: core.Explanation) -> tuple[list[str], list[str]]:
    """Each token's escaped text, and the escaped gap (spaces, elisions) to print before it."""
    pieces, gaps = [], []
    previous_end: dict[str, int] = {}
    previous_role = None
    for position, role in enumerate(explanation.roles):
        gap = ""
        if role != previous_role:
            gap = "<br>" if previous_role is not None and role != "special" else ""
            previous_role = role
        if role == "special":
            pieces.append(f"<small style='color:#888'>{html_text(explanation.tokens[position])}</small>")
            gaps.append(gap + " ")
            continue
        source = explanation.question if role == "question" else explanation.context
        start, end = explanation.offsets[position]
        last = previous_end.get(role)
        if last is not None and last < start:
            gap += html_text(source[last:start])
        previous_end[role] = max(end, last or 0)
        pieces.append(html_text(source[start:end] or explanation.tokens[position]))
        gaps.append(gap)
    return pieces, gaps


def _bar_figure(count: int, labels: list[str], height: int, title: str) -> Any:
    plot = figure(
        width=WIDTH,
        height=height,
        x_range=(-0.5, count - 0.5),
        tools="xpan,xwheel_zoom,reset,save",
        toolbar_location="right",
        title=title,
        output_backend="canvas",
    )
    plot.add_tools(TapTool(), BoxSelectTool(dimensions="width"))
    plot.xgrid.visible = False
    name_saved_files(plot, title)
    label_positions(plot, labels, pixels_per_label=11)
    return plot


def _saliency_scores(explanation: core.Explanation) -> dict[str, list[float]]:
    return {
        f"{method}|{target}": [float(v) for v in np.nan_to_num(values)]
        for method, per_target in explanation.saliency.items()
        for target, values in per_target.items()
    }


def standalone_view(state: ExplorerState) -> tuple[Any, CustomJS]:
    """The Bokeh layout of ``standalone_view_html``, and the script that draws its text on load."""
    explanation = state.result.require()
    count = explanation.num_tokens
    labels = state.result.token_labels()
    answer = np.zeros(count, dtype=bool)
    answer[list(state.result.answer_positions())] = True
    scores = _saliency_scores(explanation)
    methods = sorted({key.split("|")[0] for key in scores}, key=lambda m: list(core.METHODS).index(m))
    method = state.view.method if state.view.method in methods else (methods[0] if methods else "")
    target = state.view.target
    positions = np.arange(count)

    def bars(values: np.ndarray) -> ColumnDataSource:
        values = np.nan_to_num(np.asarray(values, dtype=np.float64))
        return ColumnDataSource(
            {
                "position": positions,
                "top": np.maximum(values, 0.0),
                "bottom": np.minimum(values, 0.0),
                "color": [POSITIVE_COLOR if v >= 0 else NEGATIVE_COLOR for v in values],
            }
        )

    shown = scores.get(f"{method}|{target}", [0.0] * count)
    peak = saliency_peak(np.array(shown), explanation.roles, state.view.scale_without_special) or 1.0
    saliency_source = bars(np.clip(np.array(shown) / peak, -1, 1))
    saliency_plot = _bar_figure(count, labels, 230, "Saliency (scaled to the largest |score| of the words)")
    saliency_plot.vbar(x="position", top="top", bottom="bottom", width=0.84, color="color", source=saliency_source)

    probability_sources, probability_plots = [], []
    for which, values in (("start", explanation.start_probs), ("end", explanation.end_probs)):
        source = bars(values)
        source.data["color"] = [ANSWER_COLOR if a else "#4c78a8" for a in answer]
        plot = _bar_figure(count, labels, 170, f"P(answer {which}s here)")
        plot.vbar(x="position", top="top", bottom="bottom", width=0.84, color="color", source=source)
        probability_sources.append(source)
        probability_plots.append(plot)

    attention = state.attention_map()
    heatmap = figure(
        width=520,
        height=520,
        x_range=(-0.5, count - 0.5),
        y_range=(count - 0.5, -0.5),
        tools="pan,wheel_zoom,reset,save",
        title=f"Attention · {state.view.attention_title()} (rows attend to columns)",
        output_backend="canvas",
    )
    heatmap.add_tools(TapTool())
    name_saved_files(heatmap, "attention")
    mapper = LinearColorMapper(palette="Blues256", low=float(attention.max()), high=0.0)
    heatmap.image(
        image=[np.asarray(attention, dtype=np.float32)], x=-0.5, y=-0.5, dw=count, dh=count, color_mapper=mapper
    )
    label_positions(heatmap, labels, axes=("x", "y"), pixels_per_label=12)
    bands = ColumnDataSource({"start": [], "end": []})
    heatmap.quad(
        left="start",
        right="end",
        bottom=-0.5,
        top=count - 0.5,
        source=bands,
        fill_color=SELECTION_COLOR,
        fill_alpha=0.2,
        line_alpha=0,
    )
    heatmap.quad(
        left=-0.5,
        right=count - 0.5,
        bottom="start",
        top="end",
        source=bands,
        fill_color=SELECTION_COLOR,
        fill_alpha=0.2,
        line_alpha=0,
    )

    pieces, gaps = _token_pieces(explanation)
    method_menu = Select(title="Saliency method", value=method, options=[(m, label(m)) for m in methods])
    target_menu = Select(title="Target", value=target, options=[(t, label(t)) for t in core.TARGETS])
    text = Div(text="", width=WIDTH)
    sources = [saliency_source, *probability_sources]
    shared = {
        "count": count,
        "sources": sources,
        "bands": bands,
        "text": text,
        "method": method_menu,
        "target": target_menu,
        "scores": scores,
        "roles": list(explanation.roles),
        "pieces": pieces,
        "gaps": gaps,
        "answer": [bool(a) for a in answer],
        "positive": list(POSITIVE_RGB),
        "negative": list(NEGATIVE_RGB),
        "selection": SELECTION_COLOR,
        "answerColor": ANSWER_COLOR,
    }
    for source in sources:
        source.selected.js_on_change(
            "indices",
            CustomJS(
                args={**shared, "origin": source},
                code=_TEXT_JS + "const wanted = Array.from(origin.selected.indices);\n" + _SELECT_JS,
            ),
        )
    heatmap.js_on_event(
        "tap",
        CustomJS(
            args=shared,
            code=_TEXT_JS + "const wanted = [Math.round(cb_obj.x), Math.round(cb_obj.y)];\n" + _SELECT_JS,
        ),
    )
    recolour = CustomJS(
        args={
            **shared,
            "bars": saliency_source,
            "positive_color": POSITIVE_COLOR,
            "negative_color": NEGATIVE_COLOR,
        },
        code=_TEXT_JS
        + """
const key = method.value + "|" + target.value;
const values = scores[key] || new Array(count).fill(0);
let peak = 0;
for (let i = 0; i < values.length; i++) { if (roles[i] !== "special") { peak = Math.max(peak, Math.abs(values[i])); } }
peak = peak || 1;
const top = [], bottom = [], color = [];
for (const v of values) {
  const h = Math.max(-1, Math.min(1, v / peak));
  top.push(Math.max(h, 0)); bottom.push(Math.min(h, 0)); color.push(v >= 0 ? positive_color : negative_color);
}
bars.data = {position: bars.data.position, top: top, bottom: bottom, color: color};
text.text = render(Array.from(bars.selected.indices));
""",
    )
    method_menu.js_on_change("value", recolour)
    target_menu.js_on_change("value", recolour)

    answer_line = (
        f"<h2 style='margin:0'>{html_text(explanation.answer.text)}</h2>"
        f"<div style='color:#555'>score {explanation.answer.score:.3g} · question: "
        f"<b>{html_text(explanation.question)}</b> · model {html_text(explanation.model)}</div>"
        "<div style='color:#777; font-size:12px'>Tap or box-select tokens in any plot: the others and the text "
        "follow. Saved from QA Lens; opens without a server.</div>"
    )
    layout = column(
        Div(text=answer_line, width=WIDTH),
        row(method_menu, target_menu),
        text,
        saliency_plot,
        *probability_plots,
        heatmap,
    )
    return layout, CustomJS(args=shared, code=_TEXT_JS + "text.text = render([]);")


def offline_document(*roots: Any, ready: CustomJS) -> Document:
    """A document of ``roots`` that draws the coloured text once the page has loaded."""
    document = Document()
    for root in roots:
        document.add_root(root)
    document.js_on_event("document_ready", ready)
    return document


_SERVER_ONLY_SCRIPT = re.compile(r'<script[^>]*\ssrc="static/[^"]*"[^>]*>\s*</script>\s*')
"""Script tags pointing at a server's ``static/`` folder (Panel registers one for its ES-module components,
which these pages do not use): in a file opened offline they can only fail."""


def offline_page(page: str) -> str:
    """``page`` without the script tags only a server could answer (see ``_SERVER_ONLY_SCRIPT``)."""
    return _SERVER_ONLY_SCRIPT.sub("", page)


def standalone_view_html(state: ExplorerState) -> str:
    """The view on show as one offline HTML page (Bokeh inlined) with its selection linked in the browser."""
    explanation = state.result.require()
    layout, ready = standalone_view(state)
    return offline_page(
        file_html(offline_document(layout, ready=ready), INLINE, title=f"QA Lens · {explanation.question[:60]}")
    )


__all__ = ["WIDTH", "offline_document", "offline_page", "standalone_view", "standalone_view_html"]
