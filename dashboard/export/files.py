"""What the page offers for download: the explanation (JSON), its token table (CSV), and a file name.

No Panel, Bokeh or HoloViews here: the state's tests and scripts use these without a UI library.
"""

from __future__ import annotations

import csv
import io

import core


def explanation_json(explanation: core.Explanation) -> str:
    """The ``Explanation`` as JSON (``core.Explanation.from_json`` reads it back)."""
    return explanation.to_json()


def token_table_csv(explanation: core.Explanation) -> str:
    """One CSV row per token: position, token, role, offsets, probabilities, every saliency."""
    rows = explanation.token_table()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["position"])
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def export_basename(explanation: core.Explanation) -> str:
    """``qa-lens-<first words of the question>``: a file name without any character a file system minds."""
    words = "".join(ch if ch.isalnum() else "-" for ch in explanation.question.lower())
    stem = "-".join(part for part in words.split("-") if part)[:40] or "explanation"
    return f"qa-lens-{stem}"


__all__ = ["explanation_json", "export_basename", "token_table_csv"]
