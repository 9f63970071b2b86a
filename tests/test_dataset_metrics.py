"""SQuAD EM/F1 against scores worked out by hand from the official scripts' rules."""

from __future__ import annotations

import pytest

from core.dataset.metrics import exact_match, f1_v1, f1_v2, normalize_answer, squad_scores

V1, V2 = "v1.1", "v2.0"


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("The Cat!", "cat"),
        ("  An apple,  a day. ", "apple day"),
        ("U.S.", "us"),
        ("theatre then", "theatre then"),  # articles only as whole words
        ("Ångström's (1814)", "ångströms 1814"),
        ("the", ""),
    ],
)
def test_normalisation_lowercases_and_strips_punctuation_articles_and_spaces(text: str, normalized: str) -> None:
    assert normalize_answer(text) == normalized


def test_exact_match_ignores_case_punctuation_and_articles() -> None:
    assert exact_match("the Eiffel Tower", "Eiffel tower.") == 1.0
    assert exact_match("U.S.", "US") == 1.0
    assert exact_match("Eiffel", "Eiffel Tower") == 0.0


def test_f1_by_hand() -> None:
    # prediction {eiffel, tower, in, paris}, gold {eiffel, tower}: precision 2/4, recall 2/2 -> 2/3
    assert f1_v1("Eiffel Tower in Paris", "the Eiffel Tower") == pytest.approx(2 / 3)
    # repeated tokens count once per occurrence: "x x y" vs "x y y" share one x and one y -> P = R = 2/3
    assert f1_v1("x x y", "x y y") == pytest.approx(2 / 3)
    assert f1_v1("Denver", "Broncos") == 0.0


def test_the_best_gold_answer_counts() -> None:
    golds = ["Denver Broncos", "Broncos", "The Denver Broncos"]
    # "broncos win" vs "denver broncos": P = R = 1/2 -> 1/2; vs "broncos": P 1/2, R 1 -> 2/3
    assert squad_scores("Broncos win", golds, version=V1) == pytest.approx((0.0, 2 / 3))
    assert squad_scores("the broncos!", golds, version=V1) == (1.0, 1.0)


def test_v1_scores_empty_against_empty_as_no_overlap() -> None:
    # both normalise to "", so EM is 1, but v1.1's F1 counts common tokens: none
    assert squad_scores("the", ["a"], version=V1) == (1.0, 0.0)
    assert f1_v1("", "") == 0.0


def test_v1_needs_a_gold_answer() -> None:
    with pytest.raises(ValueError, match="unanswerable"):
        squad_scores("x", [], version=V1)


def test_v2_unanswerable_is_right_only_for_an_empty_prediction() -> None:
    assert squad_scores("", [], is_impossible=True, version=V2) == (1.0, 1.0)
    assert squad_scores("Denver", [], is_impossible=True, version=V2) == (0.0, 0.0)
    # the official script normalises first: a prediction of only an article counts as empty
    assert squad_scores("the", [], is_impossible=True, version=V2) == (1.0, 1.0)


def test_v2_answerable_with_an_empty_prediction_scores_zero() -> None:
    assert squad_scores("", ["Denver Broncos"], version=V2) == (0.0, 0.0)
    assert f1_v2("", "Denver") == 0.0
    assert f1_v2("", "") == 1.0


def test_v2_matches_v1_on_ordinary_answers_and_drops_golds_that_normalise_to_nothing() -> None:
    golds = ["Denver Broncos", "Broncos"]
    assert squad_scores("Broncos win", golds, version=V2) == squad_scores("Broncos win", golds, version=V1)
    assert squad_scores("denver", ["the", "Denver"], version=V2) == (1.0, 1.0)


def test_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match="Unknown SQuAD version"):
        squad_scores("x", ["x"], version="v3")
