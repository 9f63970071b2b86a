"""Reading question-answering datasets: SQuAD v1.1 and v2.0 JSON, and JSON Lines, into plain records.

Why records and problems side by side: a run over 100,000 questions must not die on the 60,000th because
one answer's offset is wrong. Every record becomes either a ``DatasetExample`` or an ``ExampleProblem``
(missing field, answer text not at its ``answer_start``, duplicate id, empty question or context), in file
order; problems become error rows of the run. Only a file that cannot be read as a dataset at all (empty,
malformed JSON, neither format) raises one ``ValueError`` naming the file and what is wrong.

Formats:

- **SQuAD JSON** (v1.1 and v2.0): ``{"version": ..., "data": [{"title", "paragraphs": [{"context", "qas":
  [{"id", "question", "answers": [{"text", "answer_start"}], "is_impossible"?}]}]}]}``.
- **JSON Lines**: one object per line with ``id``, ``question``, ``context``, ``answers`` (a list of
  ``{"text", "answer_start"}`` or the dict form ``{"text": [...], "answer_start": [...]}`` that Hugging Face
  datasets use), optional ``title`` and ``is_impossible``. A line that is not valid JSON is an error row.

A question is unanswerable (SQuAD v2.0) when it says ``is_impossible: true`` or has no gold answers. A
dataset is scored with the v2.0 rules when its SQuAD ``version`` starts with ``v2`` or any record is
unanswerable or carries ``is_impossible`` (``Dataset.squad_version``).

Ids in a run are unique: a repeated id keeps the first record and turns the next into an error row whose id
gets ``#2`` (``#3``, ...) appended; a record without an id is named by its position (``#record-12``).

SQuAD itself (Rajpurkar et al., 2016, https://rajpurkar.github.io/SQuAD-explorer/) is licensed CC BY-SA 4.0;
results computed from it, such as a run directory, should carry that attribution.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.encoding import validate_text

SQUAD_V1 = "v1.1"
SQUAD_V2 = "v2.0"
REQUIRED_FIELDS = ("id", "question", "context", "answers")
"""Fields every JSON Lines record needs (a SQuAD question takes ``context`` from its paragraph)."""


@dataclass(frozen=True)
class DatasetExample:
    """One question about one context, with its gold answers (character offsets into the context)."""

    id: str
    title: str
    question: str
    context: str
    answers: tuple[str, ...]
    answer_starts: tuple[int, ...]
    is_impossible: bool
    region: tuple[int, int] | None = None
    """Characters of the context a run reports the saliency share of (a perturbation's inserted text); JSON Lines
    ``region: [start, end]``, optional."""


@dataclass(frozen=True)
class ExampleProblem:
    """A record that cannot be run, kept so it becomes an error row instead of vanishing.

    Fields the record did have are filled in; the rest are ``None``.
    """

    id: str
    message: str
    title: str | None = None
    question: str | None = None
    context: str | None = None
    answers: tuple[str, ...] | None = None
    answer_starts: tuple[int, ...] | None = None
    is_impossible: bool | None = None


DatasetItem = DatasetExample | ExampleProblem


@dataclass(frozen=True)
class Dataset:
    """Every record of one file, in file order."""

    path: Path
    format: str
    """``squad`` or ``jsonl``."""
    squad_version: str
    """``v1.1`` or ``v2.0``: which official rules score it (see the module docstring)."""
    items: tuple[DatasetItem, ...]

    @property
    def examples(self) -> list[DatasetExample]:
        return [item for item in self.items if isinstance(item, DatasetExample)]

    @property
    def problems(self) -> list[ExampleProblem]:
        return [item for item in self.items if isinstance(item, ExampleProblem)]

    @property
    def ids(self) -> list[str]:
        return [item.id for item in self.items]


def read_dataset(path: str | Path) -> Dataset:
    """Read a SQuAD JSON or JSON Lines file; raises ``ValueError`` only when the file as a whole is unusable."""
    source = Path(path).expanduser()
    if not source.is_file():
        raise FileNotFoundError(f"No dataset file at {source}.")
    try:
        text = source.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{source} is not UTF-8 text ({error.reason} at byte {error.start}).") from error
    if not text.strip():
        raise ValueError(f"{source} is empty: expected SQuAD JSON or JSON Lines with id, question, context, answers.")
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as whole_file_error:
        return _read_json_lines(source, text, whole_file_error)
    if isinstance(payload, dict) and "data" in payload:
        return _read_squad(source, payload)
    if isinstance(payload, dict) and _looks_like_record(payload):
        return _read_json_lines(source, text, None)
    raise ValueError(f"{source} is neither format: {_FORMATS}; it holds {_describe(payload)}.")


_FORMATS = (
    "expected SQuAD JSON (an object with a 'data' list of articles) or JSON Lines "
    "(one object per line with id, question, context, answers)"
)


def _describe(payload: Any) -> str:
    if isinstance(payload, dict):
        keys = ", ".join(repr(key) for key in list(payload)[:5])
        return f"an object with keys {keys}" if keys else "an empty object"
    return f"a JSON {type(payload).__name__}"


def _looks_like_record(payload: dict[str, Any]) -> bool:
    return any(name in payload for name in REQUIRED_FIELDS)


def _read_squad(source: Path, payload: dict[str, Any]) -> Dataset:
    articles = payload["data"]
    if not isinstance(articles, list):
        # A ValueError, not a TypeError: the promise of read_dataset is one ValueError for an unusable file.
        raise ValueError(  # noqa: TRY004
            f"{source} is neither format: its 'data' is {_describe(articles)}, not a list of articles."
        )
    builder = _Builder()
    for article_index, article in enumerate(articles, start=1):
        where = f"article {article_index}"
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            builder.add(ExampleProblem(f"#article-{article_index}", f"{where} has no 'paragraphs' list"))
            continue
        title = str(article.get("title", ""))
        for paragraph_index, paragraph in enumerate(article["paragraphs"], start=1):
            where = f"article {article_index}, paragraph {paragraph_index}"
            if not isinstance(paragraph, dict) or not isinstance(paragraph.get("qas"), list):
                builder.add(ExampleProblem(f"#article-{article_index}-{paragraph_index}", f"{where} has no 'qas' list"))
                continue
            for question in paragraph["qas"]:
                record = dict(question) if isinstance(question, dict) else question
                if isinstance(record, dict):
                    record.setdefault("title", title)
                    if "context" in paragraph:
                        record["context"] = paragraph["context"]
                builder.add(_parse_record(record, builder.next_position_id()))
    version = str(payload.get("version", ""))
    squad_version = SQUAD_V2 if version.startswith("v2") or builder.saw_unanswerable else SQUAD_V1
    return Dataset(path=source, format="squad", squad_version=squad_version, items=tuple(builder.items))


def _read_json_lines(source: Path, text: str, whole_file_error: json.JSONDecodeError | None) -> Dataset:
    builder = _Builder()
    first = True
    for line_number, line in _numbered_lines(text):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            if first:
                reason = whole_file_error or error
                raise ValueError(
                    f"{source} is not valid JSON (line {reason.lineno}, column {reason.colno}: {reason.msg}) "
                    f"nor JSON Lines; {_FORMATS}."
                ) from error
            builder.add(ExampleProblem(f"#line-{line_number}", f"line {line_number} is not valid JSON: {error.msg}"))
            continue
        if first and not (isinstance(record, dict) and _looks_like_record(record)):
            raise ValueError(f"{source} is neither format: {_FORMATS}; its first line holds {_describe(record)}.")
        first = False
        builder.add(_parse_record(record, f"#line-{line_number}"))
    squad_version = SQUAD_V2 if builder.saw_unanswerable else SQUAD_V1
    return Dataset(path=source, format="jsonl", squad_version=squad_version, items=tuple(builder.items))


def _numbered_lines(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            yield number, line


class _Builder:
    """Collects items in order and makes ids unique (the second of two equal ids becomes an error row)."""

    def __init__(self) -> None:
        self.items: list[DatasetItem] = []
        self.seen: dict[str, int] = {}
        self.saw_unanswerable = False

    def next_position_id(self) -> str:
        return f"#record-{len(self.items) + 1}"

    def add(self, item: DatasetItem) -> None:
        if item.id in self.seen:
            first = self.seen[item.id]
            occurrence = 2
            while f"{item.id}#{occurrence}" in self.seen:
                occurrence += 1
            renamed = f"{item.id}#{occurrence}"
            message = f"duplicate id {item.id!r} (first used by record {first}); this record is kept as {renamed!r}"
            if isinstance(item, ExampleProblem):
                message = f"{message}; {item.message}"
            item = ExampleProblem(
                id=renamed,
                message=message,
                title=item.title,
                question=item.question,
                context=item.context,
                answers=item.answers,
                answer_starts=item.answer_starts,
                is_impossible=item.is_impossible,
            )
        self.seen[item.id] = len(self.items) + 1
        if isinstance(item, DatasetExample) and item.is_impossible:
            self.saw_unanswerable = True
        self.items.append(item)


def _parse_record(record: Any, fallback_id: str) -> DatasetItem:
    """One question record (a JSON Lines line, or a SQuAD question with its paragraph's context and title)."""
    if not isinstance(record, dict):
        return ExampleProblem(fallback_id, f"record is {_describe(record)}, not an object")
    raw_id = record.get("id")
    id_is_valid = isinstance(raw_id, str | int) and not isinstance(raw_id, bool) and str(raw_id).strip() != ""
    record_id = str(raw_id) if id_is_valid else fallback_id
    title = record.get("title")
    known: dict[str, Any] = {
        "title": str(title) if title is not None else "",
        "question": record.get("question") if isinstance(record.get("question"), str) else None,
        "context": record.get("context") if isinstance(record.get("context"), str) else None,
    }
    missing = [name for name in REQUIRED_FIELDS if name not in record or record[name] is None]
    if missing:
        names = ", ".join(repr(name) for name in missing)
        return ExampleProblem(record_id, f"missing field{'s' if len(missing) > 1 else ''} {names}", **known)
    if not id_is_valid:
        return ExampleProblem(record_id, f"'id' must be non-empty text or an integer, not {raw_id!r}", **known)
    for name in ("question", "context"):
        if not isinstance(record[name], str):
            return ExampleProblem(record_id, f"'{name}' must be text, not {_describe(record[name])}", **known)
        if _blank(record[name]):
            return ExampleProblem(record_id, f"empty {name}", **known)
    try:
        texts, starts = _answers(record["answers"])
    except _InvalidAnswers as error:
        return ExampleProblem(record_id, str(error), **known)
    known.update(answers=texts, answer_starts=starts)
    flag = record.get("is_impossible")
    if flag is not None and not isinstance(flag, bool):
        return ExampleProblem(record_id, f"'is_impossible' must be true or false, not {flag!r}", **known)
    is_impossible = bool(flag) if flag is not None else not texts
    known["is_impossible"] = is_impossible
    context = record["context"]
    for text, start in zip(texts, starts, strict=True):
        found = context[start : start + len(text)] if 0 <= start <= len(context) else ""
        if found != text:
            return ExampleProblem(
                record_id,
                f"answer {text!r} not found at answer_start {start} (the context there reads {found!r})",
                **known,
            )
    if not texts and not is_impossible:
        return ExampleProblem(record_id, "no gold answers, yet 'is_impossible' is false", **known)
    region = record.get("region")
    if region is not None:
        valid = (
            isinstance(region, list)
            and len(region) == 2
            and all(isinstance(value, int) and not isinstance(value, bool) for value in region)
            and 0 <= region[0] <= region[1] <= len(context)
        )
        if not valid:
            return ExampleProblem(
                record_id, f"'region' must be [start, end] characters of the context, not {region!r}", **known
            )
    return DatasetExample(
        id=record_id,
        title=known["title"],
        question=record["question"],
        context=context,
        answers=texts,
        answer_starts=starts,
        is_impossible=is_impossible,
        region=tuple(region) if region is not None else None,
    )


def _blank(text: str) -> bool:
    """No visible character (core's own rule for questions and contexts)."""
    try:
        validate_text(text, text)
    except ValueError:
        return True
    return False


class _InvalidAnswers(Exception):
    """The answers of one record cannot be read; the record becomes an error row with this message."""


def _answers(raw: Any) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Gold answers as (texts, starts) from the list form or the Hugging Face dict form."""
    if isinstance(raw, dict):
        texts, starts = raw.get("text"), raw.get("answer_start")
        if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
            raise _InvalidAnswers("'answers' as an object needs 'text' and 'answer_start' lists of equal length")
        pairs = list(zip(texts, starts, strict=True))
    elif isinstance(raw, list):
        pairs = []
        for answer in raw:
            if not isinstance(answer, dict) or "text" not in answer or "answer_start" not in answer:
                raise _InvalidAnswers("every answer needs 'text' and 'answer_start'")
            pairs.append((answer["text"], answer["answer_start"]))
    else:
        raise _InvalidAnswers(f"'answers' must be a list of {{text, answer_start}}, not {_describe(raw)}")
    for text, start in pairs:
        if not isinstance(text, str):
            raise _InvalidAnswers(f"answer text must be text, not {_describe(text)}")
        if not isinstance(start, int) or isinstance(start, bool):
            raise _InvalidAnswers(f"answer_start must be an integer, not {start!r}")
    return tuple(text for text, _ in pairs), tuple(int(start) for _, start in pairs)


__all__ = ["SQUAD_V1", "SQUAD_V2", "Dataset", "DatasetExample", "DatasetItem", "ExampleProblem", "read_dataset"]
