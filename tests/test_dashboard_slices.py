"""The Dataset page's slices: one slice drives every view, the URL carries it, failure groups open as slices,
saved slices round-trip through the run's folder, and switching runs (or opening a damaged one) leaves nothing
of the previous run on the page.

The runs are ``planted_runs`` (tests/planted_runs.py): 60 questions whose right and wrong answers are known, so
run A has one failure group ("title is Hard", every answer wrong) for the finder to find.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import panel as pn
import pytest

from core.dataset import explain_dataset, find_failure_groups, load_run, load_slices, slice_mask, slice_statistics
from dashboard import QALensApp
from dashboard.dataset.summary import summary_html
from dashboard.state import ExplorerState
from dashboard.state.slice_filters import Filters, bound, filters_expression
from tests.damaged_runs import DAMAGED, damage
from tests.event_loop import in_loop
from tests.panes import rendered_html, visible_text
from tests.planted_runs import PlantedRuns

HARD = "title == 'Hard'"
HOSTILE = "<img src=x onerror=alert(1)>"


def hard_ids(planted: PlantedRuns) -> list[str]:
    return sorted(key for key, title in planted.titles.items() if title == "Hard")


def app_with(planted: PlantedRuns, *runs: Path) -> QALensApp:
    state = ExplorerState(models=[planted.model_a], examples=[])
    state.dataset.runs = [str(run) for run in (runs or (planted.a, planted.b))]
    return QALensApp(state=state, background=False)


def clicked(table: Any, row: int) -> None:
    """A click on a Tabulator row, as the browser sends it."""
    table._process_event(SimpleNamespace(event_name="cell-click", row=row, column="id", value=None))


def scatter_ids(page: Any) -> list[str]:
    return sorted(page.scatters.score_pane.object[()].data["id"])  # the frame the DynamicMap draws now


def test_a_slice_in_the_url_drives_the_table_the_scatters_and_the_atlas(
    planted_runs: PlantedRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    from panel.io.location import Location

    def body() -> None:
        location = Location(search=f"?run={planted_runs.a}&slice={HARD}")
        monkeypatch.setattr(type(pn.state), "location", property(lambda _self: location))
        app = app_with(planted_runs, planted_runs.b, planted_runs.a)  # B is the default: the link chooses A
        app.sync_url()
        dataset, page = app.state.dataset, app.dataset_page
        assert dataset.run_dir == str(planted_runs.a) and dataset.expression == HARD
        hard = hard_ids(planted_runs)
        assert sorted(page.examples.table.value["id"]) == hard
        assert scatter_ids(page) == hard
        assert "24 of 60 examples" in visible_text(page.slices.active)
        # The atlas averages the slice's own examples (all wrong): "wrong" has values, "correct" has none.
        dataset.param.update(statistic="entropy", group="wrong")
        assert np.isfinite(dataset.head_grid()).all()
        assert "wrong answers of the slice" in visible_text(page.atlas.caption)
        dataset.group = "correct"
        assert "no correct answers in this slice" in dataset.group_note()
        dataset.group = "slice"  # the slice against the rest of the run
        assert np.isfinite(dataset.head_grid()).all() and dataset.group_note() == ""
        figure = page.scatters.score_pane.object
        dataset.expression = "title == 'Easy'"
        assert "slice=title+%3D%3D+%27Easy%27" in location.search  # the link follows the page
        easy = sorted(key for key, title in planted_runs.titles.items() if title == "Easy")
        assert page.scatters.score_pane.object is figure and scatter_ids(page) == easy  # new points, same figure
        # A run the server does not offer is never opened from a link.
        app._apply_url_leniently({"run_dir": "/etc", "expression": "windows == 1"})
        assert dataset.run_dir == str(planted_runs.a) and dataset.expression == "windows == 1"
        location = Location(search="?layer=1")  # an app without runs keeps its links as they were
        QALensApp(models=[planted_runs.model_a], background=False).sync_url()
        assert "run=" not in location.search and "slice=" not in location.search

    in_loop(body)


def test_a_bad_expression_says_where_and_the_filters_alone_apply(planted_runs: PlantedRuns) -> None:
    app = app_with(planted_runs, planted_runs.a)
    dataset, page = app.state.dataset, app.dataset_page
    dataset.wrong_only = True
    wrong = len(dataset.filtered())
    dataset.expression = f"title == '{HOSTILE}' ; drop"
    assert "unexpected character ';' at character" in dataset.expression_error
    assert len(dataset.filtered()) == wrong and len(page.examples.table.value) == wrong
    shown = rendered_html(page.slices.error)
    assert "<img" not in shown and "&lt;img" in shown and "Traceback" not in shown
    assert "at character" in visible_text(page.slices.error)
    dataset.expression = "no_such_column > 1"
    assert "no column 'no_such_column'" in dataset.expression_error
    dataset.expression = HARD
    assert dataset.expression_error == "" and visible_text(page.slices.error) == ""
    assert sorted(dataset.filtered()["id"]) == hard_ids(planted_runs)  # Hard answers are all wrong


def test_a_failure_group_opens_as_a_named_slice_in_one_click(planted_runs: PlantedRuns) -> None:
    app = app_with(planted_runs, planted_runs.a)
    dataset, page = app.state.dataset, app.dataset_page
    assert page.groups.body.objects == []  # no table until there are groups to list
    page.groups.job_button.button.clicks += 1
    assert page.groups.body.objects == [page.groups.table]
    report = dataset.groups
    expected = find_failure_groups(load_run(planted_runs.a).rows)
    assert report is not None and [group.expression for group in report.groups] == [
        group.expression for group in expected.groups
    ]
    assert report.groups[0].expression == HARD
    table = page.groups.table.value
    assert table.iloc[0]["group"] == "title is Hard" and table.iloc[0]["error rate"] == "100.0%"
    assert page.groups.describe().startswith(f"{len(report.groups)} group")
    dataset.wrong_only = True  # a filter set before: the group replaces the whole slice
    clicked(page.groups.table, 0)
    assert dataset.expression == HARD and dataset.slice_name == "title is Hard" and not dataset.wrong_only
    assert sorted(page.examples.table.value["id"]) == hard_ids(planted_runs)
    statistics = dataset.statistics
    reference = slice_statistics(dataset.rows, slice_mask(dataset.rows, HARD))
    assert statistics is not None and (statistics.count, statistics.em) == (24, 0.0) == (reference.count, 0.0)
    assert "24 questions" in visible_text(page.statistics.html) and "EM 0.0 [0.0, 0.0]" in visible_text(
        page.statistics.html
    )


def test_saved_slices_are_saved_from_the_page_listed_and_chosen(planted_runs: PlantedRuns, tmp_path: Path) -> None:
    run = tmp_path / "run"
    subprocess.run(["cp", "-r", str(planted_runs.a), str(run)], check=True)
    app = app_with(planted_runs, run)
    dataset = app.state.dataset
    dataset.param.update(wrong_only=True, expression="title in ('Hard', 'Mixed')", f1_range=(0.0, 0.35000000000000003))
    kept = sorted(dataset.filtered()["id"])
    dataset.save_slice("hard or mixed")
    assert dataset.slices_problem == "" and dataset.saved == "hard or mixed"
    [saved] = load_slices(run)
    assert "f1 <= 0.35)" in saved.expression and "title in ('Hard', 'Mixed')" in saved.expression
    again = app_with(planted_runs, run).state.dataset  # after a restart: listed, and chosen in one step
    assert [item.name for item in again.saved_slices] == ["hard or mixed"]
    again.saved = "hard or mixed"
    assert sorted(again.filtered()["id"]) == kept and again.slice_name == "hard or mixed"
    dataset.clear_filters()
    dataset.save_slice("everything")
    assert "Nothing to save" in dataset.slices_problem
    dataset.saved = "hard or mixed"
    dataset.delete_saved()
    assert load_slices(run) == [] and dataset.param.saved.objects == {"(none)": ""}


def test_a_slider_value_is_written_as_a_person_would_and_keeps_the_same_rows() -> None:
    assert bound(0.35000000000000003, lower=False, tolerance=1e-9) == 0.35  # a slider's noise, either way
    assert bound(0.1 + 0.2, lower=True, tolerance=1e-9) == 0.3
    score = 0.12345678901234567  # an example's own score as a lower bound: never rounded above it
    assert bound(score, lower=True, tolerance=1e-12) <= score <= bound(score, lower=False, tolerance=1e-12)
    written = filters_expression(Filters(wrong_only=True, f1_range=(0.0, 0.35000000000000003), search="x'y"))
    assert written == (
        "correct == false and error is null and (error is not null or f1 <= 0.35) and "
        "(id contains 'x\\'y' or question contains 'x\\'y' or prediction contains 'x\\'y')"
    )


def test_switching_runs_clears_the_previous_runs_views(planted_runs: PlantedRuns, tmp_path: Path) -> None:
    def body() -> None:
        app = app_with(planted_runs, planted_runs.a)
        dataset, page = app.state.dataset, app.dataset_page
        dataset.expression = HARD
        page.groups.job_button.button.clicks += 1
        assert dataset.groups is not None and len(page.examples.table.value) == 24
        dataset.open(tmp_path / "nowhere")
        assert dataset.run is None and "cannot be opened" in dataset.problem
        assert page.examples.table.value.empty and page.groups.table.value.empty
        assert page.scatters.score_pane.object is None and page.scatters.share_pane.object is None
        assert dataset.head_grid().shape == (0, 0) and dataset.statistics is None
        assert page.atlas.pane.object is None and "No dataset run is open" in page.atlas.message.object
        assert str(tmp_path / "nowhere") in visible_text(page.summary.html) and "EM " not in summary_html(app.state)
        dataset.run_dir = str(planted_runs.a)  # back: the run again, the typed slice still applied
        assert dataset.problem == "" and len(page.examples.table.value) == 24

    in_loop(body)


def test_every_damaged_run_gives_its_message_on_the_page_and_nothing_of_the_last_run(
    planted_runs: PlantedRuns, tmp_path: Path
) -> None:
    app = app_with(planted_runs, planted_runs.a)
    dataset, page = app.state.dataset, app.dataset_page
    for case in sorted(DAMAGED):
        copy = tmp_path / case
        subprocess.run(["cp", "-r", str(planted_runs.a), str(copy)], check=True)
        path = damage(copy, case)
        dataset.run_dir = str(planted_runs.a)
        assert len(page.examples.table.value) == 60, case
        dataset.open(copy)
        shown = visible_text(page.summary.html)
        assert dataset.run is None and DAMAGED[case].lower() in shown.lower(), (case, shown)
        assert str(path) in shown and "Traceback" not in shown, (case, shown)
        assert page.examples.table.value.empty and page.scatters.score_pane.object is None, case
        assert dataset.head_grid().shape == (0, 0), case


def test_rows_whose_integrated_gradients_did_not_converge_can_be_filtered(
    planted_runs: PlantedRuns, tiny_bert_dir: str, tmp_path: Path
) -> None:
    app = app_with(planted_runs, planted_runs.a)
    page = app.dataset_page
    assert not page.unconverged.visible  # this run computed no integrated gradients
    explain_dataset(
        planted_runs.data,
        tiny_bert_dir,
        tmp_path / "ig",
        serial=True,
        limit=4,
        methods=["integrated_gradients"],
        ig_steps=6,
        ig_max_steps=6,
        progress=False,
    )
    dataset = app.state.dataset
    dataset.open(tmp_path / "ig")
    assert page.unconverged.visible
    dataset.unconverged_only = True
    rows = dataset.rows
    assert sorted(dataset.filtered()["id"]) == sorted(rows["id"][rows["ig_converged"] == False])  # noqa: E712
    assert "ig_converged == false" in dataset.active_expression() and len(dataset.filtered()) == 4
