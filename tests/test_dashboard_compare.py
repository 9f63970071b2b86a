"""The Compare page: two runs given with ``--run A --run B``, their headline as ``core.dataset.compare_runs`` gives
it, flips and regressed groups that narrow the questions, and a flip that opens both models side by side.

The runs are ``planted_runs`` (tests/planted_runs.py): 60 questions, 24 right only in A, 12 right only in B and
24 wrong in both, by construction.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from core.dataset import compare_runs, explain_dataset, load_run
from dashboard import QALensApp
from dashboard.compare.headline import headline_html
from dashboard.config import runs_from_sources
from dashboard.qa_lens_app import create_app
from tests.panes import visible_text
from tests.planted_runs import PlantedRuns


def clicked(table: Any, row: int) -> None:
    """A click on a Tabulator row, as the browser sends it."""
    table._process_event(SimpleNamespace(event_name="cell-click", row=row, column="id", value=None))


def ids_of(planted: PlantedRuns, title: str) -> list[str]:
    return sorted(key for key, value in planted.titles.items() if value == title)


@pytest.fixture()
def app(planted_runs: PlantedRuns) -> QALensApp:
    """The app as ``panel serve dashboard/app.py --args --model A --run A --run B`` builds it, inline."""
    arguments = ["--run", str(planted_runs.a), "--run", str(planted_runs.b)]
    return create_app([planted_runs.model_a], sync_url=False, background=False, runs=runs_from_sources(arguments))


def shown_compare_page(app: QALensApp) -> Any:
    """The Compare tab, shown as a click on it shows it (the runs are compared on its first showing)."""
    assert app.compare_page is not None and app.pages._names == ["Explorer", "Dataset", "Compare"]
    app.pages.active = 2
    return app.compare_page


def test_the_headline_is_compare_runs_and_flips_narrow_the_questions(app: QALensApp, planted_runs: PlantedRuns) -> None:
    compare = app.state.compare
    assert (compare.run_a, compare.run_b) == (str(planted_runs.a), str(planted_runs.b))
    assert compare.comparison is None  # nothing is compared before the page is shown
    page = shown_compare_page(app)
    expected = compare_runs(planted_runs.a, planted_runs.b)
    comparison = compare.comparison
    assert comparison is not None and comparison.flips == expected.flips
    assert expected.flips == {"both right": 0, "A only": 24, "B only": 12, "both wrong": 24}
    for name in ("delta_em", "delta_em_low", "delta_em_high", "delta_f1", "delta_f1_low", "delta_f1_high"):
        assert getattr(comparison, name) == pytest.approx(getattr(expected, name)), name
    text = visible_text(page.headline.html)
    assert f"ΔEM {expected.delta_em:+.1f} [{expected.delta_em_low:+.1f}, {expected.delta_em_high:+.1f}]" in text
    assert f"ΔF1 {expected.delta_f1:+.1f} [{expected.delta_f1_low:+.1f}, {expected.delta_f1_high:+.1f}]" in text
    assert "A right 0 24" in text and "A wrong 12 24" in text and "60 questions" in text
    assert len(page.questions.table.value) == 60

    compare.flip = "A only"
    assert sorted(page.questions.table.value["id"]) == ids_of(planted_runs, "Easy")
    shown = compare.slice_figures()
    assert shown is not None and shown["count"] == 24 and shown["delta_em"] == pytest.approx(-100.0)
    assert "Questions on show (24): ΔEM -100.0" in visible_text(page.headline.html)

    # The regressed groups (where B lost F1): the first is the planted one, and a click makes it the slice.
    regressions = page.slices.regressions.value
    assert regressions.iloc[0]["group"] == "title is Easy"
    assert list(regressions["expression"]) == [group.expression for group in expected.regressions.groups]
    clicked(page.slices.regressions, 0)
    assert compare.expression == "title == 'Easy'" and compare.flip == "all"
    assert sorted(page.questions.table.value["id"]) == ids_of(planted_runs, "Easy")
    compare.expression = "title == "
    assert "expected" in compare.expression_error and "expected" in visible_text(page.slices.error)
    compare.clear()
    assert len(page.questions.table.value) == 60 and compare.expression_error == ""


def test_a_flip_opens_the_explorer_with_both_models_side_by_side(app: QALensApp, planted_runs: PlantedRuns) -> None:
    page = shown_compare_page(app)
    app.state.compare.flip = "B only"
    table = page.questions.table
    row = int(np.flatnonzero(table.value["id"] == ids_of(planted_runs, "Mixed")[0])[0])
    question = table.value.iloc[row]["id"]
    clicked(table, row)
    state = app.state
    assert state.compare.opened == question and app.pages.active == 0
    assert app.tabs.active == app._trust_tab and app.trust.tabs.active == list(app.trust.views).index("compare")
    explanation = state.explanation
    rows_a = load_run(planted_runs.a).rows.set_index("id")
    rows_b = load_run(planted_runs.b).rows.set_index("id")
    assert explanation is not None and explanation.model == planted_runs.model_a
    assert explanation.question == rows_a.loc[question, "question"]
    side_by_side = state.trust.comparison.comparison
    assert side_by_side is not None and list(side_by_side.models) == [planted_runs.model_a, planted_runs.model_b]
    answers = {name: side.answer.text for name, side in side_by_side.models.items()}
    # The explorer agrees with both runs: A's answer is run A's prediction, B's is run B's.
    assert answers == {
        planted_runs.model_a: rows_a.loc[question, "prediction"],
        planted_runs.model_b: rows_b.loc[question, "prediction"],
    }
    assert len(app.trust.compare.answers.value) == 2


def test_runs_over_different_data_are_refused_with_a_message(
    planted_runs: PlantedRuns, tiny_bert_dir: str, tmp_path: Path
) -> None:
    explain_dataset(planted_runs.data, tiny_bert_dir, tmp_path / "four", serial=True, limit=4, progress=False)
    app = create_app(
        [tiny_bert_dir], sync_url=False, background=False, runs=[str(planted_runs.a), str(tmp_path / "four")]
    )
    shown_compare_page(app)
    compare = app.state.compare
    assert compare.comparison is None and "different questions" in compare.problem
    text = visible_text(app.compare_page.headline.html)
    assert text.startswith("The runs cannot be compared") and "--limit" in text
    assert app.compare_page.questions.table.value.empty
    app.state.dataset.runs = [*app.state.dataset.runs, str(planted_runs.b)]  # offered later, from a notebook
    compare.run_b = str(planted_runs.b)  # other runs: the message goes, and the button compares them
    assert compare.problem == ""
    app.compare_page.headline.job_button.button.clicks += 1
    assert compare.comparison is not None and "ΔEM" in headline_html(app.state)


def test_one_run_offers_no_compare_page(planted_runs: PlantedRuns) -> None:
    app = create_app([planted_runs.model_a], sync_url=False, background=False, runs=[str(planted_runs.a)])
    assert app.dataset_page is not None and app.compare_page is None and len(app.pages) == 2
