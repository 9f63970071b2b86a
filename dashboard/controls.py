"""The sidebar: inputs, run control, status and errors, view choices, selection and exports.

Every widget comes from a state parameter (``Widget.from_param``), so widget and state never
drift apart; the only other wiring is buttons calling state methods.
"""

from __future__ import annotations

import io
from typing import Any, ClassVar

import panel as pn
import param

from dashboard.escaping import markdown_text
from dashboard.export import explanation_json, export_basename, token_table_csv
from dashboard.state import ExplorerState
from dashboard.views.widgets import Checkbox, TextBox, TextLine, full_box_note

SIDEBAR_WIDTH = 300


class ImmediateSelect(pn.widgets.Select):
    """A Select whose change reaches the server's state at once.

    Panel holds every widget change for 50 ms (``Syncable._debounce``) to batch bursts such as a
    slider drag; a choice in a Select is one discrete event, and a head or method switch should
    redraw without that wait. ``_priority_changes`` is Panel's own opt-out (Tabulator uses it).
    """

    _priority_changes: ClassVar[list[str]] = ["value"]


def describe_selection(state: ExplorerState) -> str:
    positions = state.selection.positions()
    if state.result.explanation is None:
        return "Run a question, then select tokens in any plot or in the text."
    if len(positions) == 0:
        return "No tokens selected: tap or box-select in any plot, or click words in the text."
    labels = state.result.token_labels()
    shown = ", ".join(f"{markdown_text(labels[p])}&nbsp;<small>#{p}</small>" for p in positions[:8])
    more = f" and {len(positions) - 8} more" if len(positions) > 8 else ""
    return f"**{len(positions)} selected:** {shown}{more}"


class Controls(pn.viewable.Viewer):
    """All controls of the dashboard, built from the state's parameters."""

    state = param.ClassSelector(class_=ExplorerState, doc="The shared dashboard state the controls drive.")

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        state = self.state
        inputs, view, messages = state.inputs, state.view, state.messages
        answer_job, saliency_job = state.jobs.answer, state.jobs.saliency
        self.model = pn.widgets.Select.from_param(inputs.param.model, label="Model", sizing_mode="stretch_width")
        self.example = pn.widgets.Select.from_param(inputs.param.example, label="Example", sizing_mode="stretch_width")
        self.question = TextLine.from_param(
            inputs.param.question, label="Question", placeholder="Ask about the context…", sizing_mode="stretch_width"
        )
        # Enter submits the text box's value_input, which Panel does not update when the state sets the
        # question (an example, a URL): keep it in step, or Enter would run a stale or empty question.
        inputs.param.watch(self._question_set, ["question"])
        self.context = TextBox.from_param(
            inputs.param.context,
            label="Context",
            placeholder="Paste the text the answer should come from…",
            height=170,
            sizing_mode="stretch_width",
        )
        self.context_full = full_box_note(inputs.param.context, "Context")
        self.run_button = pn.widgets.Button(
            label="Run", color="primary", disabled=answer_job.param.running, sizing_mode="stretch_width"
        )
        self.run_button.on_click(lambda _event: state.run())
        self.question.param.watch(lambda _event: state.run(), "enter_pressed")
        self.spinner = pn.indicators.LoadingSpinner(
            value=answer_job.param.running, visible=answer_job.param.running, size=26, color="primary", margin=(12, 5)
        )
        self.progress = pn.indicators.Progress(
            # -1 animates the bar: work is under way before the first stage reports.
            value=pn.bind(lambda fraction: int(round(fraction * 100)) or -1, saliency_job.param.progress),
            max=100,
            visible=saliency_job.param.running,
            bar_color="info",
            sizing_mode="stretch_width",
            height=12,
        )
        self.status = pn.pane.Markdown(
            pn.bind(lambda text: f"<small>{markdown_text(text)}</small>" if text else "", messages.param.status),
            margin=(0, 10),
            styles={"color": "#555"},
        )
        self.error = pn.pane.Alert(
            pn.bind(markdown_text, messages.param.error),
            alert_type="danger",
            visible=pn.bind(bool, messages.param.error),
            sizing_mode="stretch_width",
        )
        self.model_error = pn.pane.Alert(
            pn.bind(lambda text: "**The model cannot be loaded.** " + markdown_text(text), messages.param.model_error),
            alert_type="warning",
            visible=pn.bind(bool, messages.param.model_error),
            sizing_mode="stretch_width",
        )
        self.notice = pn.pane.Alert(
            pn.bind(markdown_text, messages.param.notice),
            alert_type="info",
            visible=pn.bind(bool, messages.param.notice),
            sizing_mode="stretch_width",
        )

        self.layer = pn.widgets.IntSlider.from_param(view.param.layer, label="Layer", sizing_mode="stretch_width")
        view.param.watch(self._fit_layer_slider, ["layer"], what="bounds")
        self._fit_layer_slider()
        self.head = ImmediateSelect.from_param(view.param.head, label="Head", sizing_mode="stretch_width")
        self.color_scale = ImmediateSelect.from_param(
            view.param.color_scale, label="Attention colours", sizing_mode="stretch_width"
        )
        self.method = ImmediateSelect.from_param(
            view.param.method, label="Saliency method", sizing_mode="stretch_width"
        )
        self.target = ImmediateSelect.from_param(view.param.target, label="Explaining the", sizing_mode="stretch_width")

        self.selection = pn.pane.Markdown(
            pn.bind(lambda *_: describe_selection(state), state.selection.param.tokens, state.result.param.result_id),
            sizing_mode="stretch_width",
            margin=(0, 10),
        )
        self.clear = pn.widgets.Button(
            label="Clear selection",
            disabled=pn.bind(lambda selected: not selected, state.selection.param.tokens),
            sizing_mode="stretch_width",
        )
        self.clear.on_click(lambda _event: state.selection.clear())

        nothing = pn.bind(lambda _result: state.result.explanation is None, state.result.param.result_id)
        self.download_json = pn.widgets.FileDownload(
            callback=self._json,
            filename=pn.bind(lambda _r: self._filename("json"), state.result.param.result_id),
            label="Explanation (JSON)",
            color="default",
            disabled=nothing,
            sizing_mode="stretch_width",
        )
        self.download_csv = pn.widgets.FileDownload(
            callback=self._csv,
            filename=pn.bind(lambda _r: self._filename("csv"), state.result.param.result_id),
            label="Token table (CSV)",
            color="default",
            disabled=nothing,
            sizing_mode="stretch_width",
        )
        self.link_note = pn.pane.Markdown(
            "<small>This context is too long to travel in the page's link: a shared link restores the question, "
            "not the context. Share the Explanation (JSON) instead.</small>",
            visible=pn.bind(
                lambda fits, text: bool(text) and not fits, inputs.param.context_in_link, inputs.param.context
            ),
            margin=(0, 10),
            styles={"color": "#8a5a00"},
        )
        self.download_view = pn.widgets.FileDownload(
            callback=self._standalone_view,
            filename=pn.bind(
                lambda _r: self._filename("html").replace(".html", "-view.html"), state.result.param.result_id
            ),
            label="This view, offline (HTML)",
            color="default",
            disabled=nothing,
            sizing_mode="stretch_width",
        )
        self.download_report = pn.widgets.FileDownload(
            callback=self._report,
            filename=pn.bind(
                lambda _r: self._filename("html").replace(".html", "-report.html"), state.result.param.result_id
            ),
            label="Report (HTML)",
            color="default",
            disabled=nothing,
            sizing_mode="stretch_width",
        )
        self.plot_format = pn.widgets.RadioButtonGroup.from_param(
            view.param.plot_format, label="Plots save as", color="default", sizing_mode="stretch_width"
        )
        self.settings = pn.Card(
            pn.widgets.IntInput.from_param(inputs.param.top_k, label="Candidate answers (top-k)"),
            Checkbox.from_param(inputs.param.compute_integrated_gradients, label="Compute integrated gradients"),
            pn.widgets.IntInput.from_param(inputs.param.ig_max_steps, label="Integrated gradients: most path points"),
            pn.widgets.Select.from_param(inputs.param.ig_baseline, label="Integrated gradients: baseline"),
            pn.widgets.IntInput.from_param(inputs.param.contrast_rank, label="Answer vs runner-up #"),
            pn.widgets.FloatInput.from_param(view.param.null_threshold, label="No-answer threshold", step=0.5),
            Checkbox.from_param(inputs.param.auto_run, label="Run when an example or model is chosen"),
            Checkbox.from_param(
                view.param.scale_without_special, label="Scale saliency without [CLS]/[SEP] (capped instead)"
            ),
            title="Settings",
            collapsed=True,
            sizing_mode="stretch_width",
        )

    def _question_set(self, event: param.parameterized.Event) -> None:
        if self.question.value_input != event.new:
            self.question.value_input = event.new

    def _filename(self, extension: str) -> str:
        explanation = self.state.result.explanation
        return f"explanation.{extension}" if explanation is None else f"{export_basename(explanation)}.{extension}"

    def _json(self) -> io.BytesIO:
        return io.BytesIO(explanation_json(self.state.result.require()).encode("utf-8"))

    def _standalone_view(self) -> io.BytesIO:
        from dashboard.export import standalone_view_html  # Bokeh's inline resources load only when asked

        return io.BytesIO(standalone_view_html(self.state).encode("utf-8"))

    def _report(self) -> io.BytesIO:
        from dashboard.export import report_html

        return io.BytesIO(report_html(self.state).encode("utf-8"))

    def _csv(self) -> io.BytesIO:
        return io.BytesIO(token_table_csv(self.state.result.require()).encode("utf-8"))

    def _fit_layer_slider(self, *_events: Any) -> None:
        """Bokeh refuses a slider whose start equals its end (before a first answer, or a one-layer
        model): keep one step of room and disable the slider while there is only one layer."""
        low, high = self.state.view.param.layer.bounds
        self.layer.param.update(start=low, end=max(high, low + 1), disabled=high <= low)

    def sections(self) -> list[pn.viewable.Viewable]:
        heading = {"margin": (10, 10, 0, 10)}
        return [
            self.model_error,
            self.notice,
            pn.pane.Markdown("### Ask", **heading),
            self.model,
            self.example,
            self.question,
            self.context,
            self.context_full,
            pn.Row(self.run_button, self.spinner, sizing_mode="stretch_width"),
            self.status,
            self.progress,
            self.error,
            pn.pane.Markdown("### Look", **heading),
            self.layer,
            self.head,
            self.color_scale,
            self.method,
            self.target,
            pn.pane.Markdown("### Selection", **heading),
            self.selection,
            self.clear,
            pn.pane.Markdown("### Export", **heading),
            self.download_json,
            self.download_csv,
            self.download_view,
            self.download_report,
            pn.pane.Markdown("<small>Each plot's save tool (toolbar) writes it as:</small>", margin=(5, 10, 0, 10)),
            self.plot_format,
            self.link_note,
            self.settings,
        ]

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(*self.sections(), width=SIDEBAR_WIDTH)
