"""QA metadata of every example: what kind of question, what kind of answer, how hard to find, by plain rules.

Why rules: slices and failure groups are only useful when a reader can check why an example is in one, and the
machines this runs on reach no model hub (no spaCy pipeline, no NLTK data). Every rule is here, in words and in
code, and tested on hand-made cases (tests/test_dataset_metadata.py). Columns (``METADATA_FIELDS``):

- ``question_type``: the question's wh-word, the first of what, which, who (whom, whose), when, where, why, how
  among its words, lower-cased; "how" followed by "many" or "much" is ``how many/much``; none is ``other``
  ("In what year..." is ``what``; "Name the..." is ``other``).
- ``answer_type`` of the first gold answer (the prediction for an unanswerable question), in this order:
  ``date`` (a month or weekday name, a year: three or four digits from 100 to 2099 alone or with AD/BC/BCE/CE,
  a decade such as 1990s, or a century such as 20th century); ``number`` (any digit, or a number word: one to
  twenty, tens, hundred, thousand, million, billion, trillion, dozen, half); ``proper noun phrase`` (every word
  but the connectives of, the, and, de, la, von, van, der, du, for, in, on, at, a, an starts with a capital
  letter); otherwise ``other``.
- ``question_overlap``: the share of the question's content words (lower-cased words of letters and digits, not
  in ``STOPWORDS``, compared after ``light_stem``) that occur in the answer's sentence; null when the question
  has no content word.
- ``answer_sentence``: the index of the sentence holding the answer (``split_sentences``: a sentence ends at
  ``.``, ``!`` or ``?`` followed by white space and an upper-case letter, a digit or a quote, except after an
  abbreviation in ``ABBREVIATIONS`` or a single capital letter); ``answer_position``: where the answer starts, as a
  share of the context's characters (0 the start, 1 the end). The answer is the first gold answer, or for an
  unanswerable question the model's best span; null when there is neither.
- ``context_length``: the context's tokens by the run's model's tokenizer (no special tokens); ``context_words``:
  its white-space words.
- ``answer_words``: white-space words of the answer (as above); ``gold_answers_distinct``: gold answers that
  differ after SQuAD's normalisation (``core.dataset.normalize_answer``).

The run's own ``windows`` and ``is_impossible`` columns complete the set.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from core.dataset.metrics import normalize_answer

QUESTION_TYPES: tuple[str, ...] = ("what", "which", "who", "when", "where", "why", "how", "how many/much", "other")
ANSWER_TYPES: tuple[str, ...] = ("date", "number", "proper noun phrase", "other")

METADATA_FIELDS: tuple[pa.Field, ...] = (
    pa.field("question_type", pa.string()),
    pa.field("answer_type", pa.string()),
    pa.field("question_overlap", pa.float64()),
    pa.field("answer_sentence", pa.int32()),
    pa.field("answer_position", pa.float64()),
    pa.field("context_length", pa.int32()),
    pa.field("context_words", pa.int32()),
    pa.field("answer_words", pa.int32()),
    pa.field("gold_answers_distinct", pa.int32()),
)
METADATA_SCHEMA = pa.schema([pa.field("id", pa.string(), nullable=False), *METADATA_FIELDS])
METADATA_COLUMNS: tuple[str, ...] = tuple(field.name for field in METADATA_FIELDS)

_WH_WORDS = {"what", "which", "who", "whom", "whose", "when", "where", "why", "how"}
_MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
)
_WEEKDAYS = "monday|tuesday|wednesday|thursday|friday|saturday|sunday"
_DATE = re.compile(
    rf"\b(?:{_MONTHS}|{_WEEKDAYS})\b\.?"
    r"|^\W*(?:in\s+|c\.\s*|circa\s+)?\d{3,4}(?:\s*(?:ad|bc|bce|ce))?\W*$"
    r"|\b\d{2,4}'?s\b"
    r"|\b\d{1,2}(?:st|nd|rd|th)[\s-]+century\b|\b(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|"
    r"eleventh|twelfth|thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|"
    r"twenty-first)[\s-]+century\b",
    re.IGNORECASE,
)
_NUMBER_WORDS = (
    "zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    "seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|hundreds|thousand|"
    "thousands|million|millions|billion|billions|trillion|dozen|dozens|half"
)
_NUMBER = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE)
_CONNECTIVES = {"of", "the", "and", "de", "la", "le", "von", "van", "der", "du", "for", "in", "on", "at", "a", "an"}
_WORD = re.compile(r"[A-Za-z][A-Za-z'’.-]*")

_STOPWORD_TEXT = """a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing done down during each few for
from further had has have having he her here hers herself him himself his i if in into is
it its itself just me more most my myself no nor not now of off on once only or other our
ours ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up upon very was we
were what when where which while who whom whose why how will with would you your yours
yourself yourselves many much one ones s t"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())
"""Words no overlap counts: English function words and the wh-words (the question's form, not its content)."""

_ABBREVIATION_TEXT = """mr mrs ms dr prof st sr jr vs etc e.g i.e u.s u.k no gen col lt sgt capt gov rev fig
approx ca mt ft inc ltd co corp jan feb mar apr jun jul aug sep sept oct nov dec"""
ABBREVIATIONS = frozenset(_ABBREVIATION_TEXT.split())
"""Words after which a full stop does not end a sentence (lower-case, without their final stop)."""
_SENTENCE_END = re.compile(r"[.!?][\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")


def question_type(question: str) -> str:
    """The question's wh-word (see the module docstring)."""
    words = re.findall(r"[a-z]+", question.lower())
    for index, word in enumerate(words):
        if word in _WH_WORDS:
            if word == "how" and index + 1 < len(words) and words[index + 1] in ("many", "much"):
                return "how many/much"
            return "who" if word in ("whom", "whose") else word
    return "other"


def answer_type(answer: str | None) -> str | None:
    """``date``, ``number``, ``proper noun phrase`` or ``other`` (see the module docstring); ``None`` for no answer."""
    if answer is None or not answer.strip():
        return None
    text = answer.strip()
    if _DATE.search(text):
        return "date"
    if _NUMBER.search(text):
        return "number"
    words = [word for word in _WORD.findall(text) if word.lower() not in _CONNECTIVES]
    if words and all(word[0].isupper() for word in words):
        return "proper noun phrase"
    return "other"


def light_stem(word: str) -> str:
    """A crude English stem, enough to match plurals and simple inflections: possessive, -ies, -es, -s, -ing, -ed."""
    word = word.lower().removesuffix("'s").removesuffix("’s")
    for suffix, replacement, shortest in (
        ("ies", "y", 5),
        ("sses", "ss", 6),
        ("es", "", 5),
        ("s", "", 4),
        ("ing", "", 6),
        ("ed", "", 5),
    ):
        if word.endswith(suffix) and len(word) >= shortest and not word.endswith("ss"):
            return word[: -len(suffix)] + replacement
    return word


def content_words(text: str) -> set[str]:
    """Stemmed, lower-cased words of letters and digits that are not ``STOPWORDS``."""
    return {light_stem(word) for word in re.findall(r"[a-z0-9]+(?:'s)?", text.lower()) if word not in STOPWORDS}


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans ``[start, end)`` of the sentences of ``text`` (see the module docstring), covering it."""
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        before = text[start : match.start() + 1].split()
        last = before[-1].lower().rstrip(".!?\"'”’)]") if before else ""
        if last in ABBREVIATIONS or (len(last) == 1 and last.isalpha()):
            continue
        spans.append((start, match.end()))
        start = match.end()
    if start < len(text) or not spans:
        spans.append((start, len(text)))
    return spans


def question_overlap(question: str, sentence: str) -> float | None:
    """Share of the question's content words found in ``sentence``; ``None`` without content words."""
    asked = content_words(question)
    if not asked:
        return None
    return len(asked & content_words(sentence)) / len(asked)


def example_metadata(
    question: str,
    context: str,
    gold_answers: Sequence[str] | None,
    gold_starts: Sequence[int] | None,
    prediction: str | None,
    prediction_start: int | None,
    context_length: int | None,
) -> dict[str, Any]:
    """Every metadata column of one example (``context_length`` counted by the caller's tokenizer)."""
    golds = list(gold_answers or [])
    starts = list(gold_starts or [])
    if golds and starts:
        answer, start = golds[0], starts[0]
    elif prediction and prediction_start is not None:
        answer, start = prediction, prediction_start
    else:
        answer, start = None, None
    sentences = split_sentences(context)
    index = None
    overlap = None
    if start is not None:
        index = next((i for i, (low, high) in enumerate(sentences) if low <= start < high), len(sentences) - 1)
        low, high = sentences[index]
        overlap = question_overlap(question, context[low:high])
    return {
        "question_type": question_type(question),
        "answer_type": answer_type(answer),
        "question_overlap": overlap,
        "answer_sentence": index,
        "answer_position": None if start is None or not context else start / len(context),
        "context_length": context_length,
        "context_words": len(context.split()),
        "answer_words": None if answer is None else len(answer.split()),
        "gold_answers_distinct": len({normalize_answer(answer) for answer in golds}),
    }


def metadata_table(rows: pa.Table, tokenizer: Any | None) -> pa.Table:
    """The metadata of every row of a partition (``id`` then ``METADATA_COLUMNS``), in the rows' order.

    ``tokenizer`` counts ``context_length`` (``None``: left null). Error rows get what their input allows.
    """
    columns = rows.select(
        ["id", "question", "context", "gold_answers", "gold_starts", "prediction", "prediction_start"]
    ).to_pylist()
    records = []
    for row in columns:
        context, question = row["context"] or "", row["question"] or ""
        length = None
        if tokenizer is not None and context:
            length = len(tokenizer(context, add_special_tokens=False, verbose=False)["input_ids"])
        records.append(
            {
                "id": row["id"],
                **example_metadata(
                    question,
                    context,
                    row["gold_answers"],
                    row["gold_starts"],
                    row["prediction"],
                    row["prediction_start"],
                    length,
                ),
            }
        )
    return pa.Table.from_pylist(records, schema=METADATA_SCHEMA)


__all__ = [
    "ABBREVIATIONS",
    "ANSWER_TYPES",
    "METADATA_COLUMNS",
    "METADATA_FIELDS",
    "METADATA_SCHEMA",
    "QUESTION_TYPES",
    "STOPWORDS",
    "answer_type",
    "content_words",
    "example_metadata",
    "light_stem",
    "metadata_table",
    "question_overlap",
    "question_type",
    "split_sentences",
]
