"""Two small dataset runs over the same questions whose right and wrong answers are planted, for the pages' tests.

Why planted: the tiny test models answer at random, so a run of theirs has no failure group and two of them have
no flips to click. Each model answers every question once with a placeholder gold answer; then the gold answers
are chosen from those predictions, and both models run again over the file with them:

- ``Hard`` (24 questions): a context word neither model predicts, so both are wrong (a failure group of run A,
  and the flip "both wrong");
- ``Easy`` (24): model A's prediction, so A is right (the flip "A only" wherever B predicts something else);
- ``Mixed`` (12): model B's prediction, so B is right ("B only" wherever A predicts something else).

Runs take under a second each on the tiny models (``explain_dataset(..., serial=True)``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from core.fixtures import BUILTIN_SENTENCES

GROUPS: tuple[tuple[str, int], ...] = (("Hard", 24), ("Easy", 24), ("Mixed", 12))
"""Title and number of questions of each planted group, in id order."""


@dataclass(frozen=True)
class PlantedRuns:
    """Run A (``model_a``) and run B (``model_b``) over ``data``; ``titles`` maps each id to its group."""

    a: Path
    b: Path
    data: Path
    model_a: str
    model_b: str
    titles: dict[str, str]


def _examples() -> list[tuple[str, str, str, str]]:
    """(id, title, question, context) of every question: the built-in sentences as contexts and questions."""
    contexts = [sentence for sentence in BUILTIN_SENTENCES if not sentence.endswith("?")]
    questions = [sentence for sentence in BUILTIN_SENTENCES if sentence.endswith("?")]
    titles = [title for title, count in GROUPS for _ in range(count)]
    return [
        (f"q{index:02d}", title, questions[(7 * index) % len(questions)], contexts[index % len(contexts)])
        for index, title in enumerate(titles)
    ]


def _write(path: Path, examples: list[tuple[str, str, str, str]], golds: dict[str, tuple[str, int]]) -> Path:
    articles = [
        {
            "title": title,
            "paragraphs": [
                {
                    "context": context,
                    "qas": [
                        {
                            "id": key,
                            "question": question,
                            "answers": [{"text": golds[key][0], "answer_start": golds[key][1]}],
                        }
                    ],
                }
            ],
        }
        for key, title, question, context in examples
    ]
    path.write_text(json.dumps({"version": "1.1", "data": articles}), encoding="utf-8")
    return path


def _predictions(run: Path) -> dict[str, tuple[str, int]]:
    from core.dataset import load_run

    rows = load_run(run).rows
    return {
        key: (str(text), int(start))
        for key, text, start in zip(rows["id"], rows["prediction"], rows["prediction_start"], strict=True)
    }


def _words(text: str) -> set[str]:
    return {word.lower() for word in re.findall(r"\w+", text)}


def _unpredicted(context: str, predictions: list[str]) -> tuple[str, int]:
    """A context word that shares no word with any prediction (F1 0 for both models)."""
    taken = set().union(*(_words(text) for text in predictions))
    for match in re.finditer(r"\w+", context):
        if match.group().lower() not in taken and match.group().lower() not in ("a", "an", "the"):
            return match.group(), match.start()
    raise AssertionError(f"every word of {context!r} is predicted")


def build_planted_runs(root: Path, model_a: str, model_b: str) -> PlantedRuns:
    """Both runs under ``root`` (``a``, ``b``), over ``root / 'dev.json'``."""
    from core.dataset import explain_dataset

    examples = _examples()
    contexts = {key: context for key, _title, _question, context in examples}
    placeholder = {key: (context.split()[0], 0) for key, context in contexts.items()}
    first = _write(root / "placeholder.json", examples, placeholder)
    predicted = []
    for model, name in ((model_a, "guess-a"), (model_b, "guess-b")):
        explain_dataset(first, model, root / name, serial=True, progress=False)
        predicted.append(_predictions(root / name))
    golds = {}
    for key, title, _question, context in examples:
        if title == "Easy":
            golds[key] = predicted[0][key]
        elif title == "Mixed":
            golds[key] = predicted[1][key]
        else:
            golds[key] = _unpredicted(context, [predicted[0][key][0], predicted[1][key][0]])
    data = _write(root / "dev.json", examples, golds)
    for model, name in ((model_a, "a"), (model_b, "b")):
        explain_dataset(data, model, root / name, serial=True, progress=False)
    titles = {key: title for key, title, _question, _context in examples}
    return PlantedRuns(a=root / "a", b=root / "b", data=data, model_a=model_a, model_b=model_b, titles=titles)


__all__ = ["GROUPS", "PlantedRuns", "build_planted_runs"]
