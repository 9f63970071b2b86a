"""The slice box: a slice typed in the slice language, the run's saved slices, and saving the active one.

Everything here is the state's (``state.dataset``): the expression box is its ``expression`` parameter (applied
when the box is left or Enter is pressed), the selector its ``saved`` parameter (choosing a saved slice makes it
the slice), and the buttons call its ``save_slice`` and ``delete_saved``. A bad expression's ``SliceError``
message is shown escaped beside the box; the filters alone apply until it is fixed.
"""

from __future__ import annotations

from typing import Any

import panel as pn

from dashboard.escaping import html_text
from dashboard.views.job_button import ERROR_COLOR
from dashboard.views.state_view import StateView
from dashboard.views.widgets import TextLine

PLACEHOLDER = "question_type == 'why' and question_overlap < 0.3"


class SlicesPanel(StateView):
    """Type a slice, choose a saved one, save the active slice under a name, delete a saved one."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        dataset = self.state.dataset
        self.expression = TextLine.from_param(
            dataset.param.expression, label="Slice expression", placeholder=PLACEHOLDER, sizing_mode="stretch_width"
        )
        self.error = pn.pane.HTML("", margin=(0, 10), sizing_mode="stretch_width")
        self.saved = pn.widgets.Select.from_param(dataset.param.saved, label="Saved slices", width=240)
        self.delete = pn.widgets.Button(label="Delete saved slice", width=160, margin=(28, 10, 10, 10))
        self.delete.on_click(lambda _event: dataset.delete_saved())
        self.name_box = TextLine.from_param(
            dataset.param.slice_name, label="Save the active slice as", placeholder="a name", width=260
        )
        self.save = pn.widgets.Button(label="Save slice", color="primary", width=120, margin=(28, 10, 10, 10))
        self.save.on_click(lambda _event: dataset.save_slice())
        self.active = pn.pane.HTML("", margin=(0, 10), sizing_mode="stretch_width", styles={"font-size": "12px"})
        self.on(
            ("dataset.expression_error", "dataset.slices_problem", "dataset.revision", "dataset.run", "dataset.saved"),
            self._show,
        )
        self._show()

    def _show(self) -> None:
        dataset = self.state.dataset
        problems = [text for text in (dataset.expression_error, dataset.slices_problem) if text]
        self.error.object = "".join(
            f'<div class="qa-slice-error" style="color:{ERROR_COLOR}">{html_text(text)}</div>' for text in problems
        )
        self.delete.disabled = not dataset.saved
        expression = dataset.active_expression()
        shown = f"{len(dataset.filtered()):,} of {len(dataset.rows):,} examples"
        self.active.object = (
            f'<span style="color:#555">Active slice ({shown}):</span> <code>{html_text(expression)}</code>'
            if expression
            else f'<span style="color:#555">No slice: every example ({shown}).</span>'
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return pn.Column(
            pn.pane.Markdown(
                "#### Slice\n<small>Filters above and an expression here are and-ed; the active slice narrows the "
                "table, the scatters and the head atlas. Columns: any of the table's, the QA metadata "
                "(question_type, answer_type, question_overlap...), and the run's scalars.</small>",
                margin=(0, 10),
            ),
            self.expression,
            self.error,
            pn.FlexBox(self.saved, self.delete, self.name_box, self.save, sizing_mode="stretch_width"),
            self.active,
            sizing_mode="stretch_width",
        )


__all__ = ["PLACEHOLDER", "SlicesPanel"]
