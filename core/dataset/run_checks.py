"""What is wrong with a damaged run directory, in a sentence that names the file.

Why: a run directory is files on a disk that people copy, edit and truncate. Valid JSON of the wrong shape
(``summary.json`` holding ``[]``, a string where a number belongs, a manifest whose ``partitions`` is a
number), a truncated or bit-flipped Parquet file, a missing file: each must become one ``RunDamagedError``
that says which file and what is wrong with it, and what to do, never a ``KeyError: 'settings'`` or a
decoder's buffer-size message. ``load_run`` and the Dataset page show that sentence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


class RunDamagedError(ValueError):
    """A file of a run directory is missing, unreadable or of the wrong shape; the message names it."""


def read_json_file(path: Path, what: str) -> Any:
    """The JSON in ``path``; a missing, unreadable or invalid file raises ``RunDamagedError`` naming it."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as error:
        raise RunDamagedError(f"{path} is missing: {what}.") from error
    except (OSError, UnicodeDecodeError) as error:
        raise RunDamagedError(f"{path} cannot be read ({error}): {what}.") from error
    try:
        return json.loads(text)
    except ValueError as error:
        raise RunDamagedError(f"{path} is not valid JSON ({error}): {what}.") from error


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _require(path: Path, data: Any, key: str, check: Callable[[Any], bool], expected: str, advice: str) -> Any:
    if not isinstance(data, dict):
        raise RunDamagedError(f"{path} holds a JSON {_type_name(data)}, not an object: {advice}.")
    if key not in data:
        raise RunDamagedError(f"{path} has no {key!r}: {advice}.")
    value = data[key]
    if not check(value):
        raise RunDamagedError(f"{path}: {key!r} is {_type_name(value)} {value!r:.60}, not {expected}: {advice}.")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number_or_none(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value))


def check_manifest(path: Path, manifest: Any, advice: str) -> dict[str, Any]:
    """``manifest`` if it has the shape a run's ``manifest.json`` has; else ``RunDamagedError`` naming the field."""
    inputs = _require(path, manifest, "input", lambda v: isinstance(v, dict), "an object", advice)
    for key in ("path", "sha256", "squad_version"):
        _require(path, inputs, key, lambda v: isinstance(v, str), "text", advice)
    _require(path, manifest, "model", lambda v: isinstance(v, str), "text", advice)
    settings = _require(path, manifest, "settings", lambda v: isinstance(v, dict), "an object", advice)
    _require(path, settings, "methods", lambda v: isinstance(v, list), "a list", advice)
    _require(path, settings, "faithfulness", lambda v: isinstance(v, bool), "true or false", advice)
    partitions = _require(path, manifest, "partitions", lambda v: isinstance(v, list), "a list", advice)
    for index, partition in enumerate(partitions):
        ids = partition.get("ids") if isinstance(partition, dict) else None
        if not isinstance(ids, list) or not all(isinstance(item, str) for item in ids):
            raise RunDamagedError(f"{path}: partition {index} has no list of ids: {advice}.")
    _require(path, manifest, "sessions", lambda v: isinstance(v, list), "a list", advice)
    for session in manifest["sessions"]:
        if not isinstance(session, dict) or not all(
            _is_number_or_none(session.get(key)) for key in ("seconds", "examples")
        ):
            raise RunDamagedError(
                f"{path}: a session is not an object with numbers 'seconds' and 'examples': {advice}."
            )
    return manifest


SUMMARY_COUNTS: tuple[str, ...] = ("n", "answered", "failures", "partitions")
SUMMARY_NUMBERS: tuple[str, ...] = ("em", "f1", "seconds", "examples_per_second")


def check_summary(path: Path, summary: Any, advice: str) -> dict[str, Any]:
    """``summary`` if its counts are integers and its scores numbers (or null); else ``RunDamagedError``."""
    for key in SUMMARY_COUNTS:
        _require(path, summary, key, _is_int, "a whole number", advice)
    for key in SUMMARY_NUMBERS:
        _require(path, summary, key, _is_number_or_none, "a number or null", advice)
    return summary


def read_parquet(path: Path, advice: str, columns: Sequence[str] | None = None, **options: Any) -> pa.Table:
    """``pq.read_table`` with every way a file can be damaged turned into ``RunDamagedError`` naming it."""
    try:
        return pq.read_table(path, columns=columns, **options)
    except FileNotFoundError as error:
        raise RunDamagedError(f"{path} is missing: {advice}.") from error
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError, ValueError) as error:
        reason = " ".join(str(error).split())[:200]
        raise RunDamagedError(
            f"{path} cannot be read as this run's Parquet ({reason}): the file is damaged or truncated; {advice}."
        ) from error


def read_parquet_schema(path: Path, advice: str) -> pa.Schema:
    """A Parquet file's schema, or ``RunDamagedError`` naming the file."""
    try:
        return pq.read_schema(path)
    except FileNotFoundError as error:
        raise RunDamagedError(f"{path} is missing: {advice}.") from error
    except (pa.ArrowInvalid, OSError, ValueError) as error:
        reason = " ".join(str(error).split())[:200]
        raise RunDamagedError(
            f"{path} cannot be read as this run's Parquet ({reason}): the file is damaged or truncated; {advice}."
        ) from error


__all__ = [
    "RunDamagedError",
    "check_manifest",
    "check_summary",
    "read_json_file",
    "read_parquet",
    "read_parquet_schema",
]
