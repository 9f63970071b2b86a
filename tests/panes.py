"""What a Panel pane shows a person, for assertions on text rather than on its Markdown source."""

from __future__ import annotations

import html
import re
from typing import Any

from markdown_it import MarkdownIt

_RENDERER = MarkdownIt("commonmark", {"html": True})
"""Raw HTML allowed, as Panel's Markdown panes allow it: the case escaping must defend against."""


def rendered_html(pane: Any) -> str:
    """A Markdown pane's (or Alert's) HTML; an HTML pane's own HTML."""
    text = str(pane.object or "")
    if hasattr(pane, "dedent"):  # Markdown and its subclasses (Alert)
        return _RENDERER.render(text)
    return text


def visible_text(pane: Any) -> str:
    """The characters a person reads: rendered HTML without tags, entities decoded, spaces collapsed."""
    without_tags = re.sub(r"<[^>]+>", " ", rendered_html(pane))
    return re.sub(r"\s+", " ", html.unescape(without_tags)).strip()


__all__ = ["rendered_html", "visible_text"]
