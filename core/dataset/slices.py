"""Named slices of a run: filters over its row columns, written in a small language this module parses itself.

A slice is a name and an expression, for example ``question_type == 'why' and question_overlap < 0.3``.
Expressions are parsed and checked against the run's columns here and evaluated on the rows with vectorised
pandas operations: no Python ``eval``, no attribute access, nothing but the grammar below.

Grammar (keywords in any case)::

    expression := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expression ")" | test
    test       := column ("==" | "=" | "!=" | "<" | "<=" | ">" | ">=") literal
                | column ["not"] "in" "(" literal ("," literal)* ")"
                | column ["not"] "contains" string
                | column "is" ["not"] "null"
    literal    := number | string | "true" | "false"
    column     := a column name: letters, digits, "_" and "." (``saliency_answer_share.gradient_x_input.start``),
                  or any name between backquotes (`` `a name` ``)
    string     := '...' or "..." (a backslash escapes the next character)

Meaning: ``<``, ``<=``, ``>``, ``>=`` compare numbers; ``==`` and ``!=`` numbers, text or true/false; ``contains``
is a case-insensitive substring test on text; a test on a missing value (null) is false, except ``is null``. A
mistake (an unknown column, a comparison of the wrong kind, a missing bracket) raises ``SliceError`` saying at
which character and what was expected. Expressions are at most ``MAX_EXPRESSION`` characters and
``MAX_DEPTH`` brackets deep.

Slices are kept in the run directory's ``slices.json`` (``{"format": "qa-lens/slices", "version": 1, "slices":
[{"name", "expression", "note"}]}``): readable, surviving a restart, shared by copying the file. A run's
``--overwrite`` never removes it (it is the user's, not the run's).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from core.dataset.manifest import write_json
from core.dataset.run_checks import RunDamagedError, read_json_file
from core.dataset.schema import SLICES

MAX_EXPRESSION = 2000
MAX_DEPTH = 32
SLICES_FORMAT = "qa-lens/slices"
SLICES_VERSION = 1
KEYWORDS = frozenset({"and", "or", "not", "in", "contains", "is", "null", "true", "false"})
COMPARISONS = ("==", "=", "!=", "<=", ">=", "<", ">")
_TOKEN = re.compile(
    r"\s*(?:(?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")"
    r"|(?P<quoted>`[^`]*`)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_.]*)"
    r"|(?P<operator>==|!=|<=|>=|<|>|=)"
    r"|(?P<punctuation>[(),])"
    r"|(?P<unknown>\S))"
)


class SliceError(ValueError):
    """An expression that cannot be a slice of this run; the message says where and why."""


@dataclass(frozen=True)
class Slice:
    """A named filter over a run's rows."""

    name: str
    expression: str
    note: str = ""

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _tokens(expression: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(expression):
        match = _TOKEN.match(expression, position)
        if match is None or match.end() == position:
            break
        kind = match.lastgroup or "unknown"
        text = match.group(kind)
        start = match.start(kind)
        if kind == "unknown":
            raise _error(expression, start, f"unexpected character {text!r}")
        if kind == "name" and text.lower() in KEYWORDS:
            kind, text = "keyword", text.lower()
        tokens.append(_Token(kind, text, start))
        position = match.end()
    tokens.append(_Token("end", "", len(expression)))
    return tokens


def _error(expression: str, position: int, message: str) -> SliceError:
    shown = expression if len(expression) <= 80 else expression[max(0, position - 40) : position + 40]
    return SliceError(f"{message} at character {position + 1} of the slice expression {shown!r}")


def _string_value(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


class _Parser:
    """Recursive descent over the grammar; builds a small tree of tuples, checked against the columns."""

    def __init__(self, expression: str, columns: dict[str, str]) -> None:
        self.expression = expression
        self.columns = columns
        self.tokens = _tokens(expression)
        self.index = 0
        self.depth = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def fail(self, expected: str) -> SliceError:
        token = self.current
        found = "the end" if token.kind == "end" else repr(token.text)
        return _error(self.expression, token.position, f"expected {expected}, found {found}")

    def take(self, kind: str, text: str | None = None) -> _Token | None:
        token = self.current
        if token.kind == kind and (text is None or token.text == text):
            self.index += 1
            return token
        return None

    def parse(self) -> tuple:
        tree = self.expression_()
        if self.current.kind != "end":
            raise self.fail("'and', 'or' or the end")
        return tree

    def expression_(self) -> tuple:
        parts = [self.term()]
        while self.take("keyword", "or"):
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else ("or", parts)

    def term(self) -> tuple:
        parts = [self.factor()]
        while self.take("keyword", "and"):
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else ("and", parts)

    def factor(self) -> tuple:
        if self.take("keyword", "not"):
            return ("not", self.factor())
        if self.take("punctuation", "("):
            self.depth += 1
            if self.depth > MAX_DEPTH:
                raise _error(self.expression, self.current.position, f"more than {MAX_DEPTH} nested brackets")
            inner = self.expression_()
            if not self.take("punctuation", ")"):
                raise self.fail("')'")
            self.depth -= 1
            return inner
        return self.test()

    def column(self) -> tuple[str, str]:
        token = self.current
        if token.kind not in ("name", "quoted"):
            raise self.fail("a column name")
        self.index += 1
        name = token.text[1:-1] if token.kind == "quoted" else token.text
        if name not in self.columns:
            close = difflib.get_close_matches(name, list(self.columns), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise _error(self.expression, token.position, f"no column {name!r} in this run{hint}")
        return name, self.columns[name]

    def literal(self) -> tuple[str, Any, int]:
        token = self.current
        self.index += 1
        if token.kind == "number":
            return "number", float(token.text), token.position
        if token.kind == "string":
            return "text", _string_value(token.text), token.position
        if token.kind == "keyword" and token.text in ("true", "false"):
            return "bool", token.text == "true", token.position
        self.index -= 1
        raise self.fail("a number, a quoted text, true or false")

    def check(self, column: str, kind: str, literal: tuple[str, Any, int], operator: str) -> None:
        literal_kind, _value, position = literal
        if operator in ("<", "<=", ">", ">=") and kind != "number":
            raise _error(self.expression, position, f"{column!r} holds {kind}: {operator!r} compares numbers only")
        if literal_kind != kind:
            raise _error(self.expression, position, f"{column!r} holds {kind}, not {literal_kind}")

    def test(self) -> tuple:
        column, kind = self.column()
        if self.take("keyword", "is"):
            negated = bool(self.take("keyword", "not"))
            if not self.take("keyword", "null"):
                raise self.fail("'null'")
            return ("null", column, negated)
        negated = bool(self.take("keyword", "not"))
        if self.take("keyword", "in"):
            if not self.take("punctuation", "("):
                raise self.fail("'(' and a list of values")
            values = [self.literal()]
            while self.take("punctuation", ","):
                values.append(self.literal())
            if not self.take("punctuation", ")"):
                raise self.fail("',' or ')'")
            for value in values:
                self.check(column, kind, value, "==")
            return ("in", column, [value for _kind, value, _position in values], negated)
        if self.take("keyword", "contains"):
            text = self.literal()
            if kind != "text" or text[0] != "text":
                raise _error(self.expression, text[2], f"'contains' needs a text column and a quoted text ({column!r})")
            return ("contains", column, text[1], negated)
        if negated:
            raise self.fail("'in' or 'contains' after 'not'")
        operator = self.take("operator")
        if operator is None:
            raise self.fail("a comparison (==, !=, <, <=, >, >=), 'in', 'contains' or 'is'")
        value = self.literal()
        self.check(column, kind, value, operator.text)
        return ("compare", column, "==" if operator.text == "=" else operator.text, value[1])


def column_kinds(rows: pd.DataFrame) -> dict[str, str]:
    """Each column's kind for the language: ``number``, ``bool`` or ``text``."""
    kinds = {}
    for name, dtype in rows.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            kinds[str(name)] = "bool"
        elif pd.api.types.is_numeric_dtype(dtype):
            kinds[str(name)] = "number"
        else:
            kinds[str(name)] = "text"
    return kinds


def parse(expression: str, columns: dict[str, str]) -> tuple:
    """The checked syntax tree of ``expression`` over columns of the given kinds; ``SliceError`` if it is not one."""
    if not isinstance(expression, str):
        raise SliceError(f"A slice expression is text, not {type(expression).__name__}.")
    if not expression.strip():
        raise SliceError("The slice expression is empty; write a test such as question_type == 'why'.")
    if len(expression) > MAX_EXPRESSION:
        raise SliceError(f"The slice expression has {len(expression):,} characters; at most {MAX_EXPRESSION:,}.")
    return _Parser(expression, columns).parse()


def _evaluate(tree: tuple, rows: pd.DataFrame) -> np.ndarray:
    kind = tree[0]
    if kind == "or":
        return np.logical_or.reduce([_evaluate(part, rows) for part in tree[1]])
    if kind == "and":
        return np.logical_and.reduce([_evaluate(part, rows) for part in tree[1]])
    if kind == "not":
        return ~_evaluate(tree[1], rows)
    column = rows[tree[1]]
    present = column.notna().to_numpy(dtype=bool)
    if kind == "null":
        return present if tree[2] else ~present
    if kind == "in":
        found = column.isin(tree[2]).to_numpy(dtype=bool, na_value=False)
        return present & (~found if tree[3] else found)
    if kind == "contains":
        found = (
            column.astype("string").str.contains(tree[2], case=False, regex=False).to_numpy(dtype=bool, na_value=False)
        )
        return present & (~found if tree[3] else found)
    operator, value = tree[2], tree[3]
    compared = {
        "==": column == value,
        "!=": column != value,
        "<": column < value,
        "<=": column <= value,
        ">": column > value,
        ">=": column >= value,
    }[operator]
    return present & compared.to_numpy(dtype=bool, na_value=False)


def slice_mask(rows: pd.DataFrame, expression: str) -> np.ndarray:
    """Which rows ``expression`` selects (a boolean array); ``SliceError`` for an expression this run cannot use."""
    return _evaluate(parse(expression, column_kinds(rows)), rows)


def check_expression(rows: pd.DataFrame, expression: str) -> None:
    """Raise ``SliceError`` unless ``expression`` is a valid slice of these rows."""
    parse(expression, column_kinds(rows))


def quote(value: Any) -> str:
    """A literal of the language for ``value`` (text quoted and escaped, numbers as they are, true/false)."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    if isinstance(value, int | float | np.integer | np.floating):
        return repr(float(value)) if isinstance(value, float | np.floating) else str(int(value))
    escaped = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def column_name(name: str) -> str:
    """A column as the language writes it (backquoted when it is not a plain name)."""
    return name if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name) and name.lower() not in KEYWORDS else f"`{name}`"


def slices_path(out: str | Path) -> Path:
    return Path(out) / SLICES


def load_slices(out: str | Path) -> list[Slice]:
    """The run's saved slices (none when it has no ``slices.json``); ``RunDamagedError`` naming a bad file."""
    path = slices_path(out)
    if not path.is_file():
        return []
    advice = "fix the file by hand, or delete it (only the saved slices are lost)"
    data = read_json_file(path, advice)
    if not isinstance(data, dict) or data.get("format") != SLICES_FORMAT or not isinstance(data.get("slices"), list):
        raise RunDamagedError(f"{path} is not a QA Lens slices file (format {SLICES_FORMAT!r}): {advice}.")
    slices = []
    for item in data["slices"]:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get("name"), str)
            or not isinstance(item.get("expression"), str)
        ):
            raise RunDamagedError(f"{path}: every slice needs a text 'name' and 'expression': {advice}.")
        slices.append(Slice(item["name"], item["expression"], str(item.get("note") or "")))
    return slices


def save_slice(out: str | Path, new: Slice, rows: pd.DataFrame | None = None) -> list[Slice]:
    """Add or replace (by name) a slice in the run's ``slices.json``, checked against ``rows`` when given."""
    if not new.name.strip():
        raise SliceError("A slice needs a name.")
    if rows is not None:
        check_expression(rows, new.expression)
    slices = [item for item in load_slices(out) if item.name != new.name] + [new]
    _write(out, slices)
    return slices


def delete_slice(out: str | Path, name: str) -> list[Slice]:
    """Remove a saved slice by name (``KeyError`` when there is none)."""
    slices = load_slices(out)
    if name not in {item.name for item in slices}:
        raise KeyError(f"No saved slice named {name!r} in {slices_path(out)}.")
    remaining = [item for item in slices if item.name != name]
    _write(out, remaining)
    return remaining


def _write(out: str | Path, slices: list[Slice]) -> None:
    payload = {"format": SLICES_FORMAT, "version": SLICES_VERSION, "slices": [item.to_dict() for item in slices]}
    write_json(slices_path(out), payload)


def dumps(slices: list[Slice]) -> str:
    """The slices as the JSON ``slices.json`` holds (to share without the run)."""
    return json.dumps({"format": SLICES_FORMAT, "version": SLICES_VERSION, "slices": [s.to_dict() for s in slices]})


__all__ = [
    "MAX_DEPTH",
    "MAX_EXPRESSION",
    "Slice",
    "SliceError",
    "check_expression",
    "column_kinds",
    "column_name",
    "delete_slice",
    "dumps",
    "load_slices",
    "parse",
    "quote",
    "save_slice",
    "slice_mask",
    "slices_path",
]
