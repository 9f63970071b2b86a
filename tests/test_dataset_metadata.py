"""QA metadata: every rule on hand-made cases, then computed in a run and added to a run made without it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.cli import main as cli_main
from core.dataset import add_metadata, explain_dataset, load_run
from core.dataset.metadata import (
    answer_type,
    content_words,
    example_metadata,
    light_stem,
    question_overlap,
    question_type,
    split_sentences,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "data" / "examples.json"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What is the capital of France?", "what"),
        ("In what year did the war end?", "what"),
        ("Which river flows through Paris?", "which"),
        ("Who wrote Hamlet?", "who"),
        ("To whom did she write?", "who"),
        ("Whose house burned?", "who"),
        ("When did the Broncos win?", "when"),
        ("Where was the treaty signed?", "where"),
        ("Why did the empire fall?", "why"),
        ("How did the engine work?", "how"),
        ("How many moons does Mars have?", "how many/much"),
        ("HOW MUCH did it cost?", "how many/much"),
        ("How man of the buildings are listed?", "how"),
        ("Name the first president.", "other"),
        ("The Broncos beat whom in the final?", "who"),
    ],
)
def test_the_question_type_is_its_first_wh_word(question: str, kind: str) -> None:
    assert question_type(question) == kind


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        ("1884", "date"),
        ("in 1517", "date"),
        ("October 2022", "date"),
        ("24 Oct. 2022", "date"),
        ("the 1990s", "date"),
        ("20th Century", "date"),
        ("nineteenth-century", "date"),
        ("Monday", "date"),
        ("304,016", "number"),
        ("six", "number"),
        ("60 minutes", "number"),
        ("3.5%", "number"),
        ("a dozen eggs", "number"),
        ("Albert of Mainz", "proper noun phrase"),
        ("New England Patriots", "proper noun phrase"),
        ('"Bold New City of the South"', "proper noun phrase"),
        ("Ismailiyah, Egypt", "proper noun phrase"),
        ("deflate", "other"),
        ("labor inputs", "other"),
        ("the Treaty of paris", "other"),
        ("", None),
        (None, None),
    ],
)
def test_the_answer_type_by_its_rules_in_order(answer: str | None, kind: str | None) -> None:
    assert answer_type(answer) == kind


def test_stems_and_content_words() -> None:
    assert [light_stem(w) for w in ("cities", "engines", "classes", "running", "walked", "is", "gas", "Luther's")] == [
        "city",
        "engin",
        "class",
        "runn",
        "walk",
        "is",
        "gas",
        "luther",
    ]
    assert content_words("What did the cities build in 1880?") == {"city", "build", "1880"}
    assert content_words("Who was it?") == set()


def test_sentences_split_at_stops_but_not_after_abbreviations_or_initials() -> None:
    text = "Dr. Smith arrived in the U.S. in 1901. He met J. Doe there! Did he stay? 1905 was the end."
    spans = split_sentences(text)
    assert [text[a:b].strip() for a, b in spans] == [
        "Dr. Smith arrived in the U.S. in 1901.",
        "He met J. Doe there!",
        "Did he stay?",
        "1905 was the end.",
    ]
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert split_sentences("no stop at all") == [(0, 14)]


def test_overlap_and_position_of_the_answers_sentence() -> None:
    context = "The tower is tall. Gustave Eiffel designed the tower for the fair. It opened in 1889."
    start = context.index("Gustave")
    assert question_overlap("Who designed the tower?", context[19:66]) == 1.0
    assert question_overlap("Who built the bridge?", "The tower is tall.") == 0.0
    assert question_overlap("Who was it?", context) is None
    values = example_metadata(
        "Who designed the tower?",
        context,
        ["Gustave Eiffel", "Eiffel", "gustave eiffel"],
        [start, start + 8, 0],
        None,
        None,
        21,
    )
    assert values == {
        "question_type": "who",
        "answer_type": "proper noun phrase",
        "question_overlap": 1.0,
        "answer_sentence": 1,
        "answer_position": pytest.approx(start / len(context)),
        "context_length": 21,
        "context_words": 16,
        "answer_words": 2,
        "gold_answers_distinct": 2,
    }
    unanswerable = example_metadata("When did it open?", context, [], [], "1889", context.index("1889"), None)
    assert unanswerable["answer_type"] == "date" and unanswerable["answer_sentence"] == 2
    nothing = example_metadata("When did it open?", context, [], [], None, None, None)
    assert nothing["answer_sentence"] is None and nothing["answer_type"] is None and nothing["answer_words"] is None


def test_a_run_has_its_metadata_and_a_run_without_it_gains_it_without_the_model(
    tiny_bert_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    explain_dataset(EXAMPLES, tiny_bert_dir, out, serial=True, limit=8, partition_size=3, progress=False)
    run = load_run(out)
    assert run.metadata_complete and run.rows["question_type"].notna().all()
    assert set(run.rows["question_type"]) <= {
        "what",
        "which",
        "who",
        "when",
        "where",
        "why",
        "how",
        "how many/much",
        "other",
    }
    first = run.rows.iloc[0]
    assert first["context_length"] > first["context_tokens"] or first["windows"] == 1
    expected = run.rows.copy()
    shutil.rmtree(out / "metadata")
    without = load_run(out)
    assert not without.metadata_complete and without.rows["question_type"].isna().all()
    assert cli_main(["dataset", "metadata", str(out)]) == 0
    assert "added QA metadata to 3 partition(s)" in capsys.readouterr().out
    again = load_run(out)
    assert again.metadata_complete
    assert again.rows.equals(expected)
    assert add_metadata(out) == []  # resumable: nothing left to add
