"""Reading SQuAD JSON and JSON Lines: records, per-example problems, and whole-file errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from core.dataset.reading import DatasetExample, ExampleProblem, read_dataset

ROOT = Path(__file__).resolve().parent.parent
CONTEXT = "Ada Lovelace wrote the first program in 1843. She worked with Charles Babbage."


def _squad(path: Path, questions: list[dict], version: str = "1.1", context: str = CONTEXT) -> Path:
    payload = {"version": version, "data": [{"title": "Ada", "paragraphs": [{"context": context, "qas": questions}]}]}
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def _answer(text: str, context: str = CONTEXT) -> dict:
    return {"text": text, "answer_start": context.index(text)}


def _jsonl(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines), encoding="utf-8")
    return path


def test_squad_v1_questions_become_examples_in_file_order(tmp_path: Path) -> None:
    questions = [
        {"id": "q1", "question": "When?", "answers": [_answer("1843"), _answer("in 1843")]},
        {"id": "q2", "question": "With whom?", "answers": [_answer("Charles Babbage")]},
    ]
    dataset = read_dataset(_squad(tmp_path / "d.json", questions))
    assert dataset.format == "squad"
    assert dataset.squad_version == "v1.1"
    assert dataset.ids == ["q1", "q2"]
    first = dataset.items[0]
    assert first == DatasetExample(
        id="q1",
        title="Ada",
        question="When?",
        context=CONTEXT,
        answers=("1843", "in 1843"),
        answer_starts=(CONTEXT.index("1843"), CONTEXT.index("in 1843")),
        is_impossible=False,
    )
    assert dataset.problems == []


def test_squad_v2_unanswerable_questions(tmp_path: Path) -> None:
    questions = [
        {"id": "a", "question": "When?", "answers": [_answer("1843")], "is_impossible": False},
        {"id": "b", "question": "Where was she born?", "answers": [], "is_impossible": True},
    ]
    dataset = read_dataset(_squad(tmp_path / "d.json", questions, version="v2.0"))
    assert dataset.squad_version == "v2.0"
    assert [item.is_impossible for item in dataset.items] == [False, True]
    assert dataset.items[1].answers == ()


def test_json_lines_in_both_answer_forms(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "question": "When?", "context": CONTEXT, "answers": [_answer("1843")], "title": "T"},
        {
            "id": "b",
            "question": "Who?",
            "context": CONTEXT,
            "answers": {"text": ["Charles Babbage"], "answer_start": [CONTEXT.index("Charles Babbage")]},
        },
        {"id": "c", "question": "Where?", "context": CONTEXT, "answers": {"text": [], "answer_start": []}},
    ]
    dataset = read_dataset(_jsonl(tmp_path / "d.jsonl", [*lines[:2], "", lines[2]]))
    assert dataset.format == "jsonl"
    assert [item.id for item in dataset.examples] == ["a", "b", "c"]
    assert dataset.items[1].answers == ("Charles Babbage",)
    assert dataset.items[2].is_impossible  # no gold answers: unanswerable, so scored by the v2.0 rules
    assert dataset.squad_version == "v2.0"


def test_each_bad_record_becomes_a_problem_and_the_rest_still_read(tmp_path: Path) -> None:
    questions = [
        {"id": "ok", "question": "When?", "answers": [_answer("1843")]},
        {"id": "no-question", "answers": [_answer("1843")]},
        {"id": "moved", "question": "Who?", "answers": [{"text": "Charles Babbage", "answer_start": 3}]},
        {"id": "ok", "question": "Again?", "answers": [_answer("1843")]},
        {"id": "blank", "question": " \u200b ", "answers": [_answer("1843")]},
        {"question": "No id?", "answers": [_answer("1843")]},
    ]
    dataset = read_dataset(_squad(tmp_path / "d.json", questions))
    assert [type(item).__name__ for item in dataset.items] == [
        "DatasetExample",
        "ExampleProblem",
        "ExampleProblem",
        "ExampleProblem",
        "ExampleProblem",
        "ExampleProblem",
    ]
    problems = {item.id: item for item in dataset.problems}
    assert problems["no-question"].message == "missing field 'question'"
    assert problems["no-question"].context == CONTEXT
    assert "'Charles Babbage' not found at answer_start 3" in problems["moved"].message
    assert "duplicate id 'ok'" in problems["ok#2"].message  # the second one is the error, under a unique id
    assert problems["ok#2"].question == "Again?"
    assert problems["blank"].message == "empty question"
    assert problems["#record-6"].message == "missing field 'id'"
    assert len(set(dataset.ids)) == len(dataset.ids)


def test_empty_context_and_malformed_json_lines_are_problems(tmp_path: Path) -> None:
    lines = [
        {"id": "a", "question": "When?", "context": CONTEXT, "answers": [_answer("1843")]},
        {"id": "b", "question": "When?", "context": "", "answers": []},
        '{"id": "c", "question": ',
        {"id": "d", "question": "When?", "context": CONTEXT, "answers": "1843"},
    ]
    dataset = read_dataset(_jsonl(tmp_path / "d.jsonl", lines))
    assert [item.id for item in dataset.items] == ["a", "b", "#line-3", "d"]
    messages = {item.id: item.message for item in dataset.problems}
    assert messages["b"] == "empty context"
    assert messages["#line-3"].startswith("line 3 is not valid JSON")
    assert "'answers' must be a list" in messages["d"]
    assert isinstance(dataset.items[0], DatasetExample)
    assert isinstance(dataset.items[1], ExampleProblem)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("  \n\n", "is empty"),
        ('{"version": "1.1", "data": [', "is not valid JSON \\(line 1, column"),
        ("[1, 2, 3]", "is neither format"),
        ('{"results": []}', "is neither format"),
        ('{"version": "1.1", "data": {}}', "is neither format"),
        ('["a"]\n["b"]', "is neither format"),
    ],
)
def test_an_unusable_file_is_one_clear_error_naming_it(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "broken.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message) as error:
        read_dataset(path)
    assert str(path) in str(error.value)


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No dataset file"):
        read_dataset(tmp_path / "nope.json")


def test_the_bundled_examples_read_cleanly() -> None:
    dataset = read_dataset(ROOT / "data" / "examples.json")
    assert len(dataset.examples) == 32
    assert dataset.problems == []


def test_the_official_squad_dev_set_reads_without_a_problem() -> None:
    spec = importlib.util.spec_from_file_location("fetch_squad", ROOT / "scripts" / "fetch_squad.py")
    assert spec is not None and spec.loader is not None
    fetch_squad = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fetch_squad)
    try:
        paths = fetch_squad.squad_paths(download=False)
    except fetch_squad.SquadFetchError:
        pytest.skip("SQuAD v1.1 is not cached (python scripts/fetch_squad.py)")
    dataset = read_dataset(paths["dev"])
    assert len(dataset.examples) == 10_570
    assert dataset.problems == []
    assert dataset.squad_version == "v1.1"
