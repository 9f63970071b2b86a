"""Robustness suites: each perturbation family on hand-made examples, determinism, a planted behaviour the suite
must detect, resume without duplicates, and the command line.

The planted model (tests/planted_capitals.py) always answers the first capitalised word of the context and
ignores the question: a distractor must capture it exactly when inserted before the answer, question typos and
case must never flip it, and it must follow a replaced answer.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import core
from core.dataset import (
    FAMILIES,
    DatasetExample,
    Perturbed,
    Pool,
    Skipped,
    explain_dataset,
    load_run,
    perturb,
    perturb_examples,
    perturb_run,
    suite_families,
)
from core.dataset.metadata import answer_type, split_sentences
from core.dataset.perturbation_rules import distractor_sentence
from tests.planted_capitals import build_first_capital_model, write_planted_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
KEYBOARD = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
MAYOR = DatasetExample(
    id="mayor",
    title="Springfield",
    question="Who is not the mayor of Springfield?",
    context="Springfield is a town in Oregon. Its mayor is Joe Quimby. The town has a nuclear plant. "
    "Homer Simpson works at the plant.",
    answers=("Joe Quimby",),
    answer_starts=(46,),
    is_impossible=False,
)
OTHERS = [
    DatasetExample(
        id="capital",
        title="Greece",
        question="Which city is the capital of Greece?",
        context="Greece is a country in southeastern Europe. Its capital is Athens. Olive trees grow there.",
        answers=("Athens",),
        answer_starts=(59,),
        is_impossible=False,
    ),
    DatasetExample(
        id="tower",
        title="Paris",
        question="Who designed the Eiffel Tower?",
        context="The Eiffel Tower was designed by Gustave Eiffel. It was completed in 1889 for a fair.",
        answers=("Gustave Eiffel",),
        answer_starts=(33,),
        is_impossible=False,
    ),
]
POOL = Pool.from_examples([MAYOR, *OTHERS])


def _made(example: DatasetExample, family: str, seed: int = 0, copy: int = 0) -> Perturbed:
    result = perturb(example, FAMILIES[family], seed=seed, copy=copy, pool=POOL)
    assert isinstance(result, Perturbed), result
    return result


def _skip_reason(example: DatasetExample, family: str) -> str:
    result = perturb(example, FAMILIES[family], pool=POOL)
    assert isinstance(result, Skipped), result
    return result.reason


def _golds_hold(example: DatasetExample) -> None:
    for text, start in zip(example.answers, example.answer_starts, strict=True):
        assert example.context[start : start + len(text)] == text


def test_the_mayor_example_is_well_formed() -> None:
    _golds_hold(MAYOR)
    for example in OTHERS:
        _golds_hold(example)


def test_typos_swap_letters_for_keyboard_neighbours_in_a_quarter_of_the_long_words() -> None:
    made = _made(MAYOR, "typos")
    before, after = MAYOR.question.split(), made.example.question.split()
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    long_words = [word for word in re.findall(r"[A-Za-z]{4,}", MAYOR.question)]
    assert len(changed) == max(1, round(0.25 * len(long_words)))
    for old, new in changed:
        assert len(old) == len(new) and old[0] == new[0]
        (position,) = [i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b]
        row = next(keys for keys in KEYBOARD if old[position].lower() in keys)
        assert abs(row.index(old[position].lower()) - row.index(new[position].lower())) == 1
    assert made.example.context == MAYOR.context and made.example.answer_starts == MAYOR.answer_starts
    assert made.kind == "invariance" and made.region is None
    short = replace(MAYOR, question="Who is he?")
    assert _skip_reason(short, "typos") == "the question has no word of four letters or more"


def test_case_punctuation_and_contraction_rewrite_only_the_question() -> None:
    assert _made(MAYOR, "case_punctuation").example.question == "who is not the mayor of springfield"
    plain = replace(MAYOR, question="who is the mayor")
    assert _skip_reason(plain, "case_punctuation") == "the question is already lower-case, without a question mark"
    assert _made(MAYOR, "contraction").example.question == "Who isn't the mayor of Springfield?"
    expanded = replace(MAYOR, question="Isn't Joe the mayor?")
    assert _made(expanded, "contraction").example.question == "Is not Joe the mayor?"
    assert _skip_reason(replace(MAYOR, question="Who runs the town?"), "contraction") == (
        "the question holds no contraction or its expansion"
    )


def test_reordering_keeps_the_answers_sentence_in_place_and_its_offsets_right() -> None:
    made = _made(MAYOR, "reorder_sentences").example
    _golds_hold(made)

    def sentences(text: str) -> list[str]:
        return [text[low:high].strip() for low, high in split_sentences(text)]

    old, new = sentences(MAYOR.context), sentences(made.context)
    assert sorted(old) == sorted(new) and old != new
    assert new[1] == old[1] == "Its mayor is Joe Quimby."
    two = replace(MAYOR, context="Its mayor is Joe Quimby. It is a town.", answer_starts=(13,))
    assert _skip_reason(two, "reorder_sentences") == "the context has fewer than two sentences besides the answer's"


def test_an_inserted_sentence_comes_from_another_article_at_a_sentence_boundary() -> None:
    for seed in range(6):
        made = _made(MAYOR, "insert_unrelated", seed=seed)
        start, end = made.region
        inserted = made.example.context[start:end]
        assert inserted in POOL.sentences["Greece"] + POOL.sentences["Paris"]
        assert start == 0 or made.example.context[start - 1] == " "
        _golds_hold(made.example)
        assert made.example.context.replace(inserted, "").split() == MAYOR.context.split()


def test_a_swapped_name_is_replaced_everywhere_but_never_inside_the_gold_answer() -> None:
    made = _made(MAYOR, "swap_name")
    _golds_hold(made.example)
    swapped = re.match(r"'(.+)' -> '(.+)' \((\d+) time", made.edit)
    assert swapped, made.edit
    old, new = swapped.group(1), swapped.group(2)
    assert old in ("Springfield", "Oregon", "Homer Simpson") and old not in made.example.context
    assert made.example.context.count(new) >= int(swapped.group(3))
    assert new in POOL.names["Greece"] + POOL.names["Paris"]
    nameless = replace(MAYOR, context="its mayor is Joe Quimby.", answer_starts=(13,))
    assert _skip_reason(nameless, "swap_name") == "no proper name outside the gold answers"


def test_a_distractor_states_the_question_with_a_fake_answer_of_the_gold_type() -> None:
    sentence = distractor_sentence("Who is the mayor of Springfield?", "Ned Flanders", random.Random(1), POOL, "x")
    assert sentence is not None and sentence.startswith("Ned Flanders is the mayor of ") and sentence.endswith(".")
    assert "Springfield" not in sentence and "?" not in sentence
    made = _made(MAYOR, "distractor")
    start, end = made.region
    inserted = made.example.context[start:end]
    fake = re.search(r"fake answer '(.+)'\)", made.edit).group(1)
    assert fake in inserted and answer_type(fake) == answer_type("Joe Quimby") == "proper noun phrase"
    assert fake != "Joe Quimby" and "?" not in inserted
    _golds_hold(made.example)
    assert made.kind == "distractor" and made.example.answers == MAYOR.answers


def test_counterfactuals_remove_the_answers_sentence_or_replace_the_answer_everywhere() -> None:
    removed = _made(MAYOR, "remove_answer_sentence").example
    assert "Joe Quimby" not in removed.context and removed.is_impossible and removed.answers == ()
    assert removed.context.startswith("Springfield is a town in Oregon. The town has")
    twice = replace(MAYOR, answers=("Joe Quimby", "town"), answer_starts=(46, 17))
    assert _skip_reason(twice, "remove_answer_sentence") == "the gold answers lie in different sentences"
    echo = replace(MAYOR, context=MAYOR.context + " Joe Quimby waves.")
    made = _made(echo, "replace_answer")
    new = made.example.answers[0]
    assert "Joe Quimby" not in made.example.context and made.example.context.count(new) == 2
    assert len(made.example.answers) == 2 and answer_type(new) == "proper noun phrase"
    _golds_hold(made.example)
    assert made.example.context[made.region[0] : made.region[1]] == new


def test_perturbations_are_deterministic_under_a_seed_and_independent_of_the_other_examples() -> None:
    families = suite_families("default")
    first = perturb_examples([MAYOR, *OTHERS], families, per_example=2, seed=7, pool=POOL)
    again = perturb_examples([MAYOR, *OTHERS], families, per_example=2, seed=7, pool=POOL)
    assert first == again
    alone = perturb_examples([MAYOR], families, per_example=2, seed=7, pool=POOL)
    assert [item for item in first if item.original_id == "mayor"] == alone
    other_seed = perturb_examples([MAYOR, *OTHERS], families, per_example=2, seed=8, pool=POOL)
    assert first != other_seed
    ids = [item.example.id for item in first if isinstance(item, Perturbed)]
    assert len(ids) == len(set(ids))
    lower = perturb_examples([MAYOR], suite_families("case_punctuation"), per_example=3, pool=POOL)
    assert isinstance(lower[0], Perturbed), "one way to lower-case a question: the later copies say so"
    assert [item.reason for item in lower[1:]] == ["the same text as copy 0", "the same text as copy 0"]


def test_an_unknown_family_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="Unknown perturbation family \\['typo'\\]; choose 'default' or from typos"):
        suite_families("typo,distractor")
    assert [family.name for family in suite_families("distractor, typos,distractor")] == ["distractor", "typos"]


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The first-capital model's run over its dataset (partitions of 3), and one suite over it."""
    root = tmp_path_factory.mktemp("planted-capitals")
    model_dir = build_first_capital_model(root / "model")
    data = write_planted_dataset(root / "planted.jsonl")
    loaded = core.load_model(str(model_dir))
    run = root / "run"
    summary = explain_dataset(data, loaded, run, serial=True, partition_size=3, progress=False)
    assert summary.em == 100.0, "the planted model answers every original question"
    suite = perturb_run(run, SUITE, per_example=3, seed=0, model=loaded, progress=False)
    return {"root": root, "run": run, "loaded": loaded, "suite": suite, "model_dir": model_dir}


SUITE = "typos,case_punctuation,distractor,replace_answer,remove_answer_sentence,swap_name"


def _figures(suite: Any) -> dict[str, dict[str, Any]]:
    return {figures["family"]: figures for figures in suite.summary["families"]}


def test_the_suite_catches_the_planted_behaviour_and_nothing_else(planted: dict[str, Any]) -> None:
    suite = planted["suite"]
    figures = _figures(suite)
    for family in ("typos", "case_punctuation"):
        assert figures[family]["tried"] == 24 and figures[family]["flip"]["rate"] == 0.0
    assert figures["typos"]["applied"] > 8, "three copies per question, most of them different"
    assert figures["case_punctuation"]["applied"] == 8
    assert figures["case_punctuation"]["skip_reasons"] == {"the same text as copy 0": 16}
    assert figures["replace_answer"]["failure"]["rate"] == 0.0, "the model follows a replaced answer"
    assert figures["remove_answer_sentence"]["failure"]["rate"] == 0.0, "the answer's name left with its sentence"
    assert figures["swap_name"]["applied"] == 0
    assert figures["swap_name"]["skip_reasons"] == {"no proper name outside the gold answers": 24}
    tried = suite.pairs[suite.pairs["family"] == "distractor"]
    assert len(tried) == 24 and tried["reason"].dropna().str.startswith("the same text as copy").all()
    pairs = tried[tried["applied"]]
    assert len(pairs) > 8 and pairs["error"].isna().all()
    assert "context" not in suite.pairs, "perturbed contexts are read one pair at a time"
    for row in pairs.itertuples():
        context = suite.context(row.id)
        assert context[row.region_start : row.region_end] in row.edit
        gold_start = context.index(row.gold_answers[0])
        before_answer = row.region_start < gold_start
        assert row.captured == before_answer, (row.id, row.edit, row.prediction)
        assert row.failed == row.captured
        assert 0.0 <= row.region_share <= 1.0
    assert 0 < pairs["captured"].sum() < len(pairs), "both kinds of position occur"
    capture = figures["distractor"]["capture"]
    assert capture["rate"] == pairs["captured"].mean()
    assert capture["low"] < capture["rate"] < capture["high"]
    assert figures["distractor"]["f1_drop"]["mean"] == pytest.approx(100.0 * pairs["captured"].mean())


def test_per_slice_rates_and_the_run_reading_its_suites(planted: dict[str, Any]) -> None:
    suite = planted["suite"]
    reread = load_run(planted["run"]).robustness
    assert (
        list(reread)
        == [suite.name]
        == ["typos+case_punctuation+distractor+replace_answer+remove_answer_sentence+swap_name-x3-seed0"]
    )
    pd.testing.assert_frame_equal(reread[suite.name].pairs, suite.pairs, check_dtype=False)
    by_slice = {(row["family"], row["slice"]): row for row in suite.summary["slices"]}
    who = by_slice[("distractor", "question_type = who")]
    every = _figures(suite)["distractor"]["flip"]
    assert who["flip"] == every and who["expression"] == "question_type == 'who'", "every planted question is 'who'"


def test_a_stopped_suite_resumes_without_recomputing_or_duplicating(planted: dict[str, Any]) -> None:
    run, loaded = planted["run"], planted["loaded"]
    calls = {"partitions": 0}

    def stop_after_two(stage: str, fraction: float) -> None:
        if stage == "partitions" and fraction > 0:
            calls["partitions"] += 1
            if calls["partitions"] == 2:
                raise RuntimeError("stopped")

    with pytest.raises(RuntimeError, match="stopped"):
        perturb_run(run, "typos,distractor", per_example=2, seed=3, model=loaded, progress=stop_after_two)
    folder = run / "robustness" / "typos+distractor-x2-seed3"
    assert not (folder / "pairs.parquet").exists()
    kept = {path: path.stat().st_mtime_ns for path in (folder / "run" / "parts").glob("part-*.parquet")}
    assert len(kept) == 2
    suite = perturb_run(run, "typos,distractor", per_example=2, seed=3, model=loaded, progress=False)
    assert all(path.stat().st_mtime_ns == mtime for path, mtime in kept.items()), "finished partitions kept"
    ids = load_run(suite.run_dir).rows["id"]
    made = suite.pairs.loc[suite.pairs["applied"], "id"]
    assert ids.is_unique and sorted(ids) == sorted(made), "every copy made ran exactly once"
    assert suite.pairs["id"].is_unique and len(suite.pairs) == 2 * 2 * 8
    again = perturb_run(run, "typos,distractor", per_example=2, seed=3, model=loaded, progress=False)
    pd.testing.assert_frame_equal(again.pairs, suite.pairs)


def test_the_command_runs_a_suite_and_refuses_bad_options_in_one_line(planted: dict[str, Any]) -> None:
    def command(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "core", "dataset", "perturb", str(planted["run"]), *arguments],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=300,
        )

    bad = command("--suite", "typo")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Unknown perturbation family ['typo']" in bad.stderr
    zero = command("--per-example", "0")
    assert zero.returncode == 2 and "must be at least 1, not 0" in zero.stderr
    done = command("--suite", "case_punctuation", "--serial", "--no-progress", "--seed", "5")
    assert done.returncode == 0, done.stderr
    assert re.search(r"case_punctuation\s+invariance\s+8 pairs\s+flip 0\.0% \[0\.0, \d+\.\d\]", done.stdout)
    assert "case_punctuation-x1-seed5" in done.stdout


def test_a_json_lines_region_must_be_characters_of_the_context(tmp_path: Path) -> None:
    from core.dataset import ExampleProblem, read_dataset

    base = '{"id": "%s", "question": "who?", "context": "Orla ran.", "answers": [], "is_impossible": true%s}\n'
    path = tmp_path / "regions.jsonl"
    regions = {"fine": "[0, 4]", "past": "[2, 40]", "text": '"0-4"'}
    path.write_text("".join(base % (name, f', "region": {region}') for name, region in regions.items()))
    fine, past, text = read_dataset(path).items
    assert isinstance(fine, DatasetExample) and fine.region == (0, 4)
    for problem in (past, text):
        assert isinstance(problem, ExampleProblem) and "'region' must be [start, end] characters" in problem.message
