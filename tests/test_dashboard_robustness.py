"""The Robustness page without a browser: the suites of a run, the family table, the rates by slice, the flipped
pairs, one pair explained side by side on the background runner, hostile text escaped, and a side opened in the
explorer.

One planted run with two suites serves the module (tests/planted_suites.py, ~10 s): the first-capital model is
captured by a distractor inserted before its answer and follows a replaced answer, so flipped pairs exist and
their answers are known.
"""

from __future__ import annotations

import html as html_module
import re
import shutil
import threading
from pathlib import Path

import pytest

from core.dataset import load_run
from dashboard.robustness import RobustnessPage
from dashboard.robustness.families import families_frame
from dashboard.robustness.pair_text import marked_text
from dashboard.robustness.pair_view import legend_html, pair_html
from dashboard.robustness.pairs import pairs_frame
from dashboard.robustness.summary import suite_html
from dashboard.state import ExplorerState, SyncRunner, ThreadRunner
from dashboard.state.robustness import ALL_FAMILIES, RobustnessState, robustness_part
from tests.event_loop import in_loop
from tests.planted_suites import HOSTILE_ID, PlantedSuites, build_planted_suites

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> PlantedSuites:
    return build_planted_suites(tmp_path_factory.mktemp("robustness-page"))


def opened(planted: PlantedSuites) -> tuple[ExplorerState, RobustnessState]:
    state = ExplorerState(models=[str(planted.model_dir)], examples=[])
    state.dataset.open(planted.run)
    robustness = robustness_part(state)
    robustness.suite = planted.suite.name
    return state, robustness


def test_the_run_offers_its_suites_and_the_family_table_reads_the_summary(planted: PlantedSuites) -> None:
    state, robustness = opened(planted)
    assert robustness.problem == "" and set(robustness.suites) == {planted.suite.name, planted.second.name}
    assert robustness_part(state) is robustness  # one part per session
    frame = families_frame(robustness.families()).set_index("family")
    assert list(frame.index) == ["typos", "distractor", "replace_answer", "swap_name"]
    distractor = next(entry for entry in planted.suite.summary["families"] if entry["family"] == "distractor")
    flip = distractor["flip"]
    interval = f"[{100 * flip['low']:.1f}, {100 * flip['high']:.1f}] ({flip['hits']}/{flip['count']})"
    assert frame.loc["distractor", "flip rate"] == f"{100 * flip['rate']:.1f}% {interval}"
    assert frame.loc["typos", "flip rate"].startswith("0.0% ")
    assert frame.loc["swap_name", "pairs"] == "0 of 9" and "no proper name" in frame.loc["swap_name", "not made"]
    html = suite_html(robustness)
    assert planted.suite.name in html and "9 examples" in html


def test_the_list_shows_the_flipped_pairs_and_narrows_by_family_kind_and_slice(planted: PlantedSuites) -> None:
    _state, robustness = opened(planted)
    pairs = planted.suite.pairs
    flipped = pairs[pairs["changed"].fillna(False).astype(bool)]
    assert robustness.show == "flipped" and list(robustness.filtered()["id"]) == list(flipped["id"])
    assert set(flipped["family"]) == {"distractor", "replace_answer"}  # typos never flip the planted model
    frame = pairs_frame(robustness.filtered())
    assert set(frame["flipped"]) == {"yes"} and frame["original answer"].ne(frame["perturbed answer"]).all()
    revision = robustness.revision
    robustness.family = "distractor"
    assert set(robustness.filtered()["family"]) == {"distractor"} and robustness.revision == revision + 1
    robustness.show = "captured"
    assert robustness.filtered()["captured"].all()
    robustness.param.update(show="skipped", family=ALL_FAMILIES)
    assert set(robustness.filtered()["family"]) == {"swap_name"} and len(robustness.filtered()) == 9
    robustness.show = "flipped"
    rates = robustness.slice_rates()
    assert {"question_type = who", "answer_type = proper noun phrase"} <= set(rates["slice"])
    robustness.narrow(family="distractor", slice_name="question_type = who")
    who = set(load_run(planted.run).rows.query("question_type == 'who'")["id"])
    shown = robustness.filtered()
    assert len(shown) and set(shown["original_id"]) <= who and set(shown["family"]) == {"distractor"}


def test_the_page_builds_and_a_slice_cell_lists_its_pairs(planted: PlantedSuites) -> None:
    def body() -> RobustnessPage:
        state, robustness = opened(planted)
        page = RobustnessPage(state=state)
        assert page.summary.chooser.visible  # two suites: a chooser
        assert len(page.families.table.value) == 4
        assert page.slices.tap is not None
        page.slices.tap.event(x="replace_answer", y="question_type = who")
        assert robustness.family == "replace_answer" and robustness.slice == "question_type = who"
        assert len(page.pairs.table.value) == len(robustness.filtered()) > 0
        assert page.pairs.every.visible and "in the slice" in page.pairs.note.object
        page.pairs.every.clicks += 1
        assert robustness.slice == ""
        robustness.suite = planted.second.name  # another suite: its own families, every filter reset
        assert robustness.family == ALL_FAMILIES and list(page.families.table.value["family"]) == ["typos"]
        return page

    in_loop(body)


def _flipped_distractor(robustness: RobustnessState) -> str:
    pairs = robustness.pairs()
    chosen = pairs[(pairs["family"] == "distractor") & pairs["captured"].fillna(False).astype(bool)]
    return str(chosen.iloc[0]["id"])


def test_a_pair_opens_side_by_side_with_both_answers_their_saliency_and_the_edit(planted: PlantedSuites) -> None:
    _state, robustness = opened(planted)
    pair = _flipped_distractor(robustness)
    robustness.pair = pair
    row = robustness.pair_row()
    assert robustness.job.error == "" and robustness.original is not None and robustness.perturbed is not None
    assert robustness.original.answer.text == row["original_prediction"]  # the explorer agrees with the suite
    assert robustness.perturbed.answer.text == row["prediction"] != row["original_prediction"]
    assert robustness.perturbed.context == row["context"]
    values = robustness.saliency("perturbed")
    assert values is not None and len(values) == robustness.perturbed.num_tokens
    html = pair_html(robustness)
    for answer in (row["original_prediction"], row["prediction"]):
        assert f'class="qa-pair-answer-text" style="font-size:18px; font-weight:600">{answer}<' in html
    inserted = row["context"][row["region_start"] : row["region_end"]]
    assert "text-decoration: underline" in html and inserted.split()[0] in html  # the inserted sentence marked
    assert "the perturbed copy inserts text here" in html  # and where it went, on the original side
    assert "rgba(214,96,77" in html  # saliency colours the tokens
    robustness.method = "gradient"
    assert pair_html(robustness) != html  # another method, other colours, no new computation
    robustness.pair = "no-such-pair"
    assert "has no pair no-such-pair" in robustness.pair_problem and robustness.original is None
    skipped = robustness.pairs().query("family == 'swap_name'")["id"].iloc[0]
    robustness.pair = skipped
    assert "could not be made: no proper name" in robustness.pair_problem and not robustness.job.running


def test_the_explanations_run_on_the_background_runner(planted: PlantedSuites) -> None:
    state, robustness = opened(planted)
    release = threading.Event()
    arrived = threading.Event()

    class HeldRunner(ThreadRunner):
        """A worker thread that waits for the test before working: the page is free in between."""

        def submit(self, work, done):  # type: ignore[no-untyped-def]
            def held():  # type: ignore[no-untyped-def]
                release.wait(timeout=60)
                return work()

            def landed(outcome):  # type: ignore[no-untyped-def]
                done(outcome)
                arrived.set()

            super().submit(held, landed)

    state.use_runners(SyncRunner(), HeldRunner())
    robustness.pair = _flipped_distractor(robustness)
    assert robustness.job.running and robustness.perturbed is None  # returned at once, the work waits
    assert "Explaining both sides" in legend_html(robustness) and "qa-pair-answer-text" in pair_html(robustness)
    release.set()
    assert arrived.wait(timeout=60)
    assert not robustness.job.running and robustness.perturbed is not None


def test_hostile_text_in_a_perturbed_example_is_escaped(planted: PlantedSuites) -> None:
    _state, robustness = opened(planted)
    pairs = robustness.pairs()
    hostile = pairs[(pairs["original_id"] == HOSTILE_ID) & pairs["applied"].fillna(False).astype(bool)]
    assert len(hostile) >= 2
    for pair in hostile["id"]:
        robustness.pair = str(pair)
        html = pair_html(robustness)
        assert "<img" not in html and "<script" not in html, pair
        shown = html_module.unescape(re.sub(r"<[^>]+>", "", html))
        assert "<img src=x " in shown  # the question's markup, shown as text
        assert "<script>window.__xss=2</script>" in shown
    marked = marked_text("<b onclick=x>&", "perturbed", edits=[(0, 3)])
    assert "<b" not in marked and "&lt;b onclick=x&gt;&amp;" in re.sub(r"<[^>]+>", "", marked)


def test_either_side_opens_in_the_explorer_with_the_runs_model(planted: PlantedSuites) -> None:
    state, robustness = opened(planted)
    looks: list[bool] = []
    robustness.param.watch(lambda _event: looks.append(True), ["look"])
    robustness.pair = _flipped_distractor(robustness)
    row = robustness.pair_row()
    robustness.open_in_explorer("perturbed")
    explanation = state.explanation
    assert explanation is not None and explanation.model == str(planted.model_dir)
    assert explanation.question == row["question"] and explanation.context == row["context"]
    assert explanation.answer.text == row["prediction"]
    chosen = state.inputs.chosen_example()
    assert chosen is not None and chosen.answer_text == row["gold_answers"][0]
    assert row["context"][chosen.answer_start :].startswith(chosen.answer_text)  # the copy's own gold offsets
    assert looks == [True] and robustness.opened == row["id"]
    robustness.open_in_explorer("original")
    assert state.explanation.answer.text == row["original_prediction"] and state.inputs.example == row["original_id"]
    assert robustness.pair == row["id"]  # the page keeps the pair on show


def test_a_damaged_suite_is_a_message_and_a_run_without_suites_shows_none(
    planted: PlantedSuites, tmp_path: Path
) -> None:
    copy = tmp_path / "run"
    shutil.copytree(planted.run, copy)
    (copy / "robustness" / planted.second.name / "pairs.parquet").write_bytes(b"not parquet")
    state = ExplorerState(models=[str(planted.model_dir)], examples=[])
    state.dataset.open(copy)
    robustness = robustness_part(state)
    assert "cannot be read" in robustness.problem and "pairs.parquet" in robustness.problem
    assert robustness.suites == {} and robustness.filtered().empty and "cannot be read" in suite_html(robustness)
    shutil.rmtree(copy / "robustness")
    robustness.use_run(load_run(copy))
    assert robustness.problem == "" and robustness.current() is None and "no robustness suite" in suite_html(robustness)
