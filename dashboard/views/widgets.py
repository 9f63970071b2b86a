"""The kit's widgets: Panel's own, where they fall short of what every page promises.

Every page builds its widgets from the state's parameters (``Widget.from_param``) with these classes
instead of Panel's, so a fix made here holds on every page:

- ``TextBox`` and ``TextLine`` take text of any length. Panel's text inputs set the browser's
  ``maxlength`` to 5,000 characters by default: a longer paste was cut there without a word, and typing
  into a longer text (the 7,212-character ``vellmoor-01`` context) did nothing. The core is the judge of
  what is too long (``core.MAX_WINDOWS``) and says so in a message the page shows.
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

NO_LENGTH_LIMIT = None
"""``max_length`` of the text widgets: none (Bokeh's ``max_length`` is nullable; null sets no ``maxlength``)."""


WRAP_LONG_LABELS = ".bk-input-group { white-space: normal; }"
"""Bokeh's checkbox groups keep each entry on one line; a sidebar checkbox's words would run out of the sidebar."""


class _NoLengthLimit(param.Parameterized):
    """``max_length`` None, sent to Bokeh as null: Panel leaves None out of a new model's properties, and
    Bokeh's own default (500 for a text area) would then apply."""

    max_length = param.Integer(
        default=NO_LENGTH_LIMIT,
        allow_None=True,
        doc="Most characters the browser lets a person enter; None: no limit (the core judges the length).",
    )

    def _init_params(self) -> dict[str, Any]:
        return {**super()._init_params(), "max_length": self.max_length}


class TextBox(_NoLengthLimit, pn.widgets.TextAreaInput):
    """A multi-line text box without a length limit in the browser."""


class TextLine(_NoLengthLimit, pn.widgets.TextInput):
    """A one-line text input without a length limit in the browser."""


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


__all__ = ["NO_LENGTH_LIMIT", "Checkbox", "TextBox", "TextLine"]
