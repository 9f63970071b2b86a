"""What the page tells the user besides the plots: one status line, an error, a model problem, a notice."""

from __future__ import annotations

import param


class Messages(param.Parameterized):
    """Plain text only: the controls escape it where it becomes HTML."""

    status = param.String(default="", doc="One line about what happened last (timings, progress).")
    error = param.String(default="", doc="Why the last run failed (bad input, model error); empty when fine.")
    model_error = param.String(default="", doc="Why the chosen model cannot be loaded; empty when it can.")
    notice = param.String(default="", doc="A non-blocking remark (e.g. the examples file is missing).")


__all__ = ["Messages"]
