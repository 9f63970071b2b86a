"""The kit's widgets: Panel's own, where they fall short of what every page promises.

Every page builds its widgets from the state's parameters (``Widget.from_param``) with these classes
instead of Panel's, so a fix made here holds on every page:

- ``TextBox`` and ``TextLine`` take any text the core can answer. Panel's text inputs set the browser's
  ``maxlength`` to 5,000 characters by default: a longer paste was cut there without a word, and typing
  into a longer text (the 7,212-character ``vellmoor-01`` context) did nothing. The core is the judge of
  what is too long (``core.MAX_WINDOWS``) and says so in a message the page shows; the boxes only stop at
  ``MAX_TEXT_CHARACTERS``, far beyond that, and ``full_box_note`` says so when a box is full.
- ``Checkbox`` ticks when its words are clicked. Bokeh's ``Checkbox`` draws its label as a ``div``
  beside the box (no ``<label>``), so only the box itself responded; this one is drawn as Bokeh's
  one-item ``CheckboxGroup``, a real ``<label>`` around the box and its words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import panel as pn
import param
from bokeh.models import CheckboxGroup
from bokeh.models import Model as BokehModel

MAX_TEXT_CHARACTERS = 1_000_000
"""Most characters a text box takes. Far beyond what the core answers (its 64 windows of 384 tokens hold about
12,400 words, some 80,000 characters of English), and far below what one message to the server may carry
(Bokeh's 20 MB websocket limit): without any bound, a huge paste would close the page's connection."""

WRAP_LONG_LABELS = ".bk-input-group { white-space: normal; }"
"""Bokeh's checkbox groups keep each entry on one line; a sidebar checkbox's words would run out of the sidebar."""


class TextBox(pn.widgets.TextAreaInput):
    """A multi-line text box that takes any text the core can answer (``MAX_TEXT_CHARACTERS``)."""

    max_length = param.Integer(
        default=MAX_TEXT_CHARACTERS, bounds=(1, None), doc="Most characters the browser lets a person enter."
    )


class TextLine(pn.widgets.TextInput):
    """A one-line text input that takes any text the core can answer (``MAX_TEXT_CHARACTERS``)."""

    max_length = param.Integer(
        default=MAX_TEXT_CHARACTERS, bounds=(1, None), doc="Most characters the browser lets a person enter."
    )


def is_full(text: str | None) -> bool:
    """Whether a text fills a box: the browser may have left out the end of a longer paste."""
    return len(text or "") >= MAX_TEXT_CHARACTERS


def full_box_note(parameter: param.Parameter, what: str) -> pn.pane.Alert:
    """A warning, shown while the box of the state's ``parameter`` is full, that text beyond it was left out."""
    return pn.pane.Alert(
        f"The {what} box takes at most {MAX_TEXT_CHARACTERS:,} characters: anything pasted beyond that was left "
        "out. Shorten the text or split it.",
        alert_type="warning",
        visible=pn.bind(is_full, parameter),
        sizing_mode="stretch_width",
    )


class Checkbox(pn.widgets.Checkbox):
    """A checkbox whose label is a ``<label>``: clicking the words ticks the box, as in any web form.

    Drawn as Bokeh's ``CheckboxGroup`` with one item: ``value`` is ``active == [0]`` and the label is
    its one entry of ``labels``.
    """

    _widget_type: ClassVar[type[BokehModel]] = CheckboxGroup
    _rename: ClassVar[Mapping[str, str | None]] = {"label": "labels", "name": None, "value": "active"}
    _supports_embed: bool = False

    stylesheets = param.List(
        default=[WRAP_LONG_LABELS],
        doc="CSS for the widget's shadow root: long labels wrap within the widget (a group's entries do not).",
    )

    def _process_param_change(self, params: dict[str, Any]) -> dict[str, Any]:
        properties = super()._process_param_change(params)
        if "active" in properties:
            properties["active"] = [0] if properties["active"] else []
        if "labels" in properties:
            properties["labels"] = [properties["labels"] or ""]
        return properties

    def _process_property_change(self, properties: dict[str, Any]) -> dict[str, Any]:
        params = super()._process_property_change(properties)
        if "value" in params:
            params["value"] = 0 in params["value"]
        if "label" in params:
            params["label"] = (params["label"] or [""])[0]
        return params


__all__ = ["MAX_TEXT_CHARACTERS", "Checkbox", "TextBox", "TextLine", "full_box_note", "is_full"]
