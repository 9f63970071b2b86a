"""The project's bundled examples (``data/examples.json``, SQuAD format) as plain records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

EXAMPLES_PATH = Path(__file__).resolve().parent.parent / "data" / "examples.json"


@dataclass(frozen=True)
class Example:
    """One question about one context, with the reference answer when the file has one."""

    id: str
    title: str
    question: str
    context: str
    answer_text: str
    answer_start: int


def load_examples(path: str | Path = EXAMPLES_PATH) -> list[Example]:
    """Every question in a SQuAD-format file, in file order."""
    return list(_load(str(path)))


@lru_cache(maxsize=4)
def _load(path: str) -> tuple[Example, ...]:
    payload = json.loads(Path(path).read_text(encoding="utf-8"))
    examples = []
    for article in payload["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = qa.get("answers") or [{"text": "", "answer_start": -1}]
                examples.append(
                    Example(
                        id=str(qa["id"]),
                        title=str(article.get("title", "")),
                        question=qa["question"],
                        context=paragraph["context"],
                        answer_text=answers[0]["text"],
                        answer_start=int(answers[0]["answer_start"]),
                    )
                )
    return tuple(examples)


def find_example(example_id: str, path: str | Path = EXAMPLES_PATH) -> Example:
    """The example with this id; a ``ValueError`` listing a few ids when there is none."""
    examples = load_examples(path)
    for example in examples:
        if example.id == example_id:
            return example
    known = ", ".join(example.id for example in examples[:5])
    raise ValueError(f"No example with id {example_id!r} in {path} (ids look like: {known}, ...).")
