"""Slices: the expression language (valid, invalid with where and why, hostile), saved slices, statistics with
bootstrap intervals against a known case, and the failure-group finder on a run with a planted failing group."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from core.dataset import (
    Slice,
    SliceError,
    bootstrap_means,
    delete_slice,
    find_failure_groups,
    load_slices,
    save_slice,
    slice_mask,
    slice_statistics,
)
from core.dataset.failure_groups import holm
from core.dataset.run_checks import RunDamagedError


@pytest.fixture()
def rows() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e"],
            "question_type": ["why", "what", "why", None, "who"],
            "question_overlap": [0.1, 0.9, 0.5, np.nan, 0.3],
            "title": ["Super_Bowl_50", "Warsaw", "Warsaw", "Normans", "O'Brien"],
            "correct": pd.array([False, True, True, None, False], dtype="boolean"),
            "windows": pd.array([1, 2, 1, None, 3], dtype="Int32"),
            "em": [0.0, 1.0, 1.0, np.nan, 0.0],
            "f1": [0.2, 1.0, 1.0, np.nan, 0.5],
            "error_kind": [None, None, None, "failed", None],
            "saliency_answer_share.gradient_x_input.start": [0.1, 0.2, 0.3, np.nan, 0.4],
        }
    )


@pytest.mark.parametrize(
    ("expression", "selected"),
    [
        ("question_type == 'why'", "ac"),
        ('question_type = "why"', "ac"),
        ("question_type != 'why'", "be"),
        ("question_overlap < 0.5", "ae"),
        ("question_overlap >= 0.5 or windows > 2", "bce"),
        ("not question_overlap < 0.5", "bcd"),
        ("question_type in ('why', 'who') and not correct == true", "ae"),
        ("title contains 'bowl'", "a"),
        ("title not contains 'war'", "ade"),
        ("title == 'O\\'Brien'", "e"),
        ("question_type is null", "d"),
        ("question_overlap is not null and (windows == 1 or title contains 'brien')", "ace"),
        ("`saliency_answer_share.gradient_x_input.start` > 0.25", "ce"),
        ("saliency_answer_share.gradient_x_input.start <= 0.1", "a"),
        ("QUESTION_TYPE == 'why'".lower() + " AND windows IN (1, 3)", "ac"),
        ("windows not in (1)", "be"),
        ("correct == false", "ae"),
    ],
)
def test_expressions_select_what_they_say(rows: pd.DataFrame, expression: str, selected: str) -> None:
    mask = slice_mask(rows, expression)
    assert "".join(rows["id"][mask]) == selected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("question_typ == 'why'", "no column 'question_typ' in this run; did you mean question_type"),
        ("question_type == 'why' and", "expected a column name, found the end at character 27"),
        ("question_overlap < 'high'", "'question_overlap' holds number, not text at character 20"),
        ("title < 3", "'title' holds text: '<' compares numbers only at character 9"),
        ("(question_type == 'why'", "expected ')', found the end at character 24"),
        ("question_type == why", "expected a number, a quoted text, true or false, found 'why' at character 18"),
        ("windows contains 'x'", "'contains' needs a text column"),
        ("title in ('a', )", "expected a number, a quoted text, true or false, found ')'"),
        ("title == 'a' or or", "expected a column name, found 'or'"),
        ("title == 'a' ; drop table", "unexpected character ';' at character 14"),
        ("__import__('os').system('x')", "unexpected character '.' at character 17"),
        ("__import__ == 'os'", "no column '__import__'"),
        ("title.__class__ == 'x'", "no column 'title.__class__'"),
        ("", "empty"),
        ("(" * 40 + "windows == 1" + ")" * 40, "more than 32 nested brackets"),
        ("windows == 1 " + "or windows == 1 " * 200, "at most 2,000"),
        ("title == 'unterminated", "unexpected character"),
    ],
)
def test_a_bad_expression_says_where_and_why(rows: pd.DataFrame, expression: str, message: str) -> None:
    with pytest.raises(SliceError) as caught:
        slice_mask(rows, expression)
    assert message in str(caught.value)


def test_hostile_text_is_only_ever_data(rows: pd.DataFrame) -> None:
    hostile = "<script>alert(1)</script>'); import os; os.system('rm -rf /') #"
    rows = pd.concat([rows, pd.DataFrame({"id": ["z"], "title": [hostile]})], ignore_index=True)
    expression = "title == '" + hostile.replace("\\", "\\\\").replace("'", "\\'") + "'"
    assert list(rows["id"][slice_mask(rows, expression)]) == ["z"]


def test_slices_are_saved_readably_survive_a_reload_and_can_be_shared(rows: pd.DataFrame, tmp_path: Path) -> None:
    assert load_slices(tmp_path) == []
    save_slice(tmp_path, Slice("why questions", "question_type == 'why'", "few of them"), rows)
    save_slice(tmp_path, Slice("long", "windows > 1"), rows)
    save_slice(tmp_path, Slice("why questions", "question_type == 'why' and windows == 1"), rows)
    data = json.loads((tmp_path / "slices.json").read_text())
    assert data["format"] == "qa-lens/slices"
    assert [item["name"] for item in data["slices"]] == ["long", "why questions"]
    shared = tmp_path / "elsewhere"
    shared.mkdir()
    (shared / "slices.json").write_text((tmp_path / "slices.json").read_text())
    assert load_slices(shared) == load_slices(tmp_path)
    with pytest.raises(SliceError, match="no column"):
        save_slice(tmp_path, Slice("bad", "nope == 1"), rows)
    assert [item.name for item in delete_slice(tmp_path, "long")] == ["why questions"]
    with pytest.raises(KeyError):
        delete_slice(tmp_path, "long")
    (tmp_path / "slices.json").write_text('{"format": "qa-lens/slices", "slices": [{"name": 3}]}')
    with pytest.raises(RunDamagedError, match="slices.json"):
        load_slices(tmp_path)


def test_bootstrap_intervals_match_a_known_case() -> None:
    """EM is a mean of 0/1: its bootstrap distribution is Binomial(n, p)/n, so the percentile interval must sit
    on the binomial's own 2.5% and 97.5% points (and contain the exact Clopper-Pearson-like interval's centre)."""
    values = np.array([1.0] * 300 + [0.0] * 700)
    low, high = bootstrap_means(values, resamples=4000, seed=1)[0]
    assert low == pytest.approx(0.272, abs=0.006) and high == pytest.approx(0.329, abs=0.006)
    exact = binomtest(300, 1000).proportion_ci(0.95)
    assert low == pytest.approx(exact.low, abs=0.01) and high == pytest.approx(exact.high, abs=0.01)
    assert (bootstrap_means(values, seed=1) == bootstrap_means(values, seed=1)).all()
    constant = bootstrap_means(np.ones(50), resamples=100)
    assert constant.tolist() == [[1.0, 1.0]]


def test_slice_statistics_count_failed_questions_as_wrong_and_compare_with_the_rest(rows: pd.DataFrame) -> None:
    stats = slice_statistics(rows, slice_mask(rows, "question_type == 'why'"), resamples=200)
    assert stats.count == 2 and stats.em == 50.0 and stats.f1 == pytest.approx(60.0)
    assert stats.em_low <= stats.em <= stats.em_high and stats.f1_low <= stats.f1 <= stats.f1_high
    assert stats.error_rate == 0.5
    assert stats.rest_count == 3 and stats.rest_error_rate == pytest.approx(2 / 3)  # d failed: wrong
    assert stats.error_rate_difference == pytest.approx(0.5 - 2 / 3)
    assert 0 < stats.p_value <= 1
    empty = slice_statistics(rows, np.zeros(len(rows), dtype=bool))
    assert empty.count == 0 and empty.em is None and empty.error_rate is None


def _synthetic_run(size: int = 4000, seed: int = 0) -> pd.DataFrame:
    """A run where "why" questions whose answer has more than 5 words fail 80% of the time, the rest 20%."""
    generator = np.random.default_rng(seed)
    kinds = generator.choice(["what", "who", "when", "why", "how"], size=size, p=[0.4, 0.2, 0.15, 0.15, 0.1])
    answer_words = generator.integers(1, 12, size=size)
    overlap = generator.uniform(0, 1, size=size)
    planted = (kinds == "why") & (answer_words > 5)
    wrong = generator.uniform(size=size) < np.where(planted, 0.8, 0.2)
    return pd.DataFrame(
        {
            "id": [f"q{i}" for i in range(size)],
            "question_type": kinds,
            "answer_words": pd.array(answer_words, dtype="Int32"),
            "question_overlap": overlap,
            "title": generator.choice(["A", "B", "C"], size=size),
            "em": np.where(wrong, 0.0, 1.0),
            "f1": np.where(wrong, 0.3, 1.0),
            "error_kind": [None] * size,
        }
    )


def test_the_finder_finds_the_planted_group_first_and_it_opens_as_a_slice() -> None:
    rows = _synthetic_run()
    report = find_failure_groups(rows)
    top = report.groups[0]
    assert top.expression in (
        "question_type == 'why' and answer_words > 5",
        "answer_words > 5 and question_type == 'why'",
    ), [group.expression for group in report.groups[:3]]
    planted = (rows["question_type"] == "why") & (rows["answer_words"] > 5)
    mask = slice_mask(rows, top.expression)
    assert (mask == planted.to_numpy()).all() and top.count == int(planted.sum())
    assert top.rate == pytest.approx(float((rows["em"][planted] == 0).mean())) and top.adjusted_p_value < 1e-10
    assert top.rest_rate == pytest.approx(float((rows["em"][~planted] == 0).mean()))
    assert all(group.adjusted_p_value < 0.05 for group in report.groups)
    assert not any("title" in group.expression for group in report.groups), "noise reported as a group"
    assert report.tried > len(report.groups)


def test_the_finder_reports_nothing_where_nothing_fails_more() -> None:
    generator = np.random.default_rng(99)
    rows = _synthetic_run(seed=3)
    wrong = generator.uniform(size=len(rows)) < 0.3
    rows["em"] = np.where(wrong, 0.0, 1.0)
    assert find_failure_groups(rows).groups == []


def test_the_models_own_confidence_is_a_feature_only_when_asked_for() -> None:
    rows = _synthetic_run(seed=5)
    rows["score"] = np.where(rows["em"] == 0, 0.2, 0.9) + np.random.default_rng(5).uniform(0, 0.05, len(rows))
    assert not any("score" in group.expression for group in find_failure_groups(rows).groups)
    asked = find_failure_groups(rows, features=["score", "question_type"])
    assert asked.groups[0].expression.startswith("score <= ") and asked.groups[0].rate == 1.0
    with pytest.raises(ValueError, match="No column 'confidence' in the run's rows"):
        find_failure_groups(rows, features=["confidence"])


def test_holm_adjusts_step_down() -> None:
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_the_groups_command_lists_and_saves_a_runs_failure_groups(
    tiny_bert_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from core.cli import main as cli_main
    from core.dataset import explain_dataset, load_run

    examples = Path(__file__).resolve().parent.parent / "data" / "examples.json"
    explain_dataset(examples, tiny_bert_dir, tmp_path / "run", serial=True, progress=False)
    assert cli_main(["dataset", "groups", str(tmp_path / "run"), "--min-support", "3", "--save"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert "candidate groups tried (at least 3 questions each)" in printed[0]
    listed = [line for line in printed[1:] if line.strip()[:2].rstrip(".").isdigit()]
    saved = load_slices(tmp_path / "run")
    assert [item.name for item in saved] == [f"failure group {rank}" for rank in range(1, len(listed) + 1)]
    rows = load_run(tmp_path / "run").rows
    for item in saved:
        assert slice_mask(rows, item.expression).sum() >= 3
