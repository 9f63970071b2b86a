"""A catalogue of damaged run directories, for tests of what ``load_run`` and the Dataset page say about them.

Each case damages one file of a finished run (a copy) the way a person or a disk does: valid JSON of the wrong
shape, invalid JSON, a truncated or bit-flipped Parquet file, a missing file. ``DAMAGED`` maps each case to a
phrase its message must hold; ``damage(run, case)`` applies it and returns the path the message must name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

DAMAGED: dict[str, str] = {
    "summary-missing-counts": "has no 'answered'",
    "summary-a-list": "holds a JSON list, not an object",
    "summary-string-em": "'em' is str",
    "summary-invalid-json": "is not valid JSON",
    "summary-missing": "is missing",
    "manifest-partitions-a-number": "'partitions' is int 5, not a list",
    "manifest-no-settings": "has no 'settings'",
    "manifest-invalid-json": "is not valid JSON",
    "manifest-missing": "no manifest.json",
    "part-truncated": "cannot be read as this run's Parquet",
    "part-bit-flipped": "cannot be read as this run's Parquet",
    "part-missing": "partition file(s) missing",
    "part-of-another-table": "lacks the column(s)",
    "heads-truncated": "cannot be read as this run's Parquet",
    "heads-missing": "is missing",
}
"""Case -> a phrase of the one message it must give (besides the damaged file's path)."""


def _edit_json(path: Path, change: Callable[[dict], object]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(change(data)), encoding="utf-8")


def _truncate(path: Path) -> None:
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])


def _flip_bits(path: Path) -> None:
    """Invert the bytes of the footer (Parquet's own metadata, just before its length and the magic bytes)."""
    content = bytearray(path.read_bytes())
    footer = int.from_bytes(content[-8:-4], "little")
    start = len(content) - 8 - footer
    for index in range(start, len(content) - 8):
        content[index] ^= 0xFF
    path.write_bytes(bytes(content))


def _another_table(path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"name": ["a", "b"], "value": [1, 2]}), path)


def damage(run: Path, case: str) -> Path:
    """Damage a copy of a finished run as ``case`` says; the path of the damaged (or missing) file."""
    summary, manifest = run / "summary.json", run / "manifest.json"
    part, heads = run / "parts" / "part-00001.parquet", run / "heads.parquet"
    actions: dict[str, tuple[Path, Callable[[Path], None]]] = {
        "summary-missing-counts": (summary, lambda p: p.write_text('{"n": 3}')),
        "summary-a-list": (summary, lambda p: p.write_text("[]")),
        "summary-string-em": (summary, lambda p: _edit_json(p, lambda d: {**d, "em": "high"})),
        "summary-invalid-json": (summary, lambda p: p.write_text('{"n": 3,')),
        "summary-missing": (summary, Path.unlink),
        "manifest-partitions-a-number": (manifest, lambda p: _edit_json(p, lambda d: {**d, "partitions": 5})),
        "manifest-no-settings": (
            manifest,
            lambda p: _edit_json(p, lambda d: {k: v for k, v in d.items() if k != "settings"}),
        ),
        "manifest-invalid-json": (manifest, lambda p: p.write_text('{"format": "qa-lens/dataset-run",')),
        "manifest-missing": (manifest, Path.unlink),
        "part-truncated": (part, _truncate),
        "part-bit-flipped": (part, _flip_bits),
        "part-missing": (part, Path.unlink),
        "part-of-another-table": (part, _another_table),
        "heads-truncated": (heads, _truncate),
        "heads-missing": (heads, Path.unlink),
    }
    path, action = actions[case]
    action(path)
    return run if case == "manifest-missing" else path


__all__ = ["DAMAGED", "damage"]
