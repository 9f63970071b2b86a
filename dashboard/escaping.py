"""The one place where user text becomes HTML: every pane that shows a question, context, answer,
token, title, model or file name passes it through here first.

Two panes, two rules:

- ``html_text`` for HTML panes and attributes: ``<``, ``>``, ``&`` and quotes become entities;
- ``markdown_text`` for Markdown panes: the same, and the Markdown syntax that could turn text
  into markup is backslash-escaped: link and image brackets, emphasis and code marks, table bars,
  and block markers at the start of a line (headings, lists). A context holding
  ``[x](javascript:...)``, ``**`` or ``<img onerror=...>`` stays literal text.
"""

from __future__ import annotations

import html
import re

_INLINE_SYNTAX = re.compile(r"([\\`*_\[\]~|])")
_BLOCK_START = re.compile(r"^(\s*)([#+=>-]|\d+[.)])", flags=re.MULTILINE)


def html_text(text: object) -> str:
    """``text`` as HTML that shows exactly these characters (safe in element content and attributes)."""
    return html.escape(str(text), quote=True)


def markdown_text(text: object) -> str:
    """``text`` for a Markdown pane: shows exactly these characters, never markup or a link."""
    escaped = _INLINE_SYNTAX.sub(r"\\\1", str(text))
    escaped = _BLOCK_START.sub(lambda match: match.group(1) + _escape_block(match.group(2)), escaped)
    return html.escape(escaped, quote=True)


def _escape_block(marker: str) -> str:
    """``#`` -> ``\\#``; a list number keeps its digits and escapes the ``.`` or ``)`` after it."""
    return marker[:-1] + "\\" + marker[-1]


__all__ = ["html_text", "markdown_text"]
