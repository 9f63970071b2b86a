"""The Dataset page: a run opens, filters narrow the table, the atlas reads the run, and a click opens the explorer.

One serial run (``explain_dataset(..., serial=True)``) of a tiny BERT over a few questions serves the module;
the tiny model answers most of them wrong, which is what the filters and the atlas need.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from core.dataset import explain_dataset, load_run
from core.fixtures import BUILTIN_SENTENCES
from dashboard import QALensApp
from dashboard.dataset.examples_table import table_frame
from dashboard.dataset.summary import summary_html
from dashboard.state import ExplorerState
from dashboard.state.dataset import ALL_TITLES
from tests.event_loop import in_loop
from tests.panes import rendered_html

HOSTILE = '<img src=x onerror="alert(1)">'
FACTS = [
    ("Space", "Who was the first person to walk on the Moon?", BUILTIN_SENTENCES[14], "Neil Armstrong"),
    ("Cities", "What is the capital of Japan?", BUILTIN_SENTENCES[4], "Tokyo"),
    ("Mountains", "How high is Mount Everest?", BUILTIN_SENTENCES[22], "8,849 m"),
    ("Light", f"How fast does light travel {HOSTILE}?", BUILTIN_SENTENCES[33], "299,792 kilometres per second"),
    ("Birds", "Where do most penguins live?", BUILTIN_SENTENCES[38], "Southern Hemisphere"),
]


@pytest.fixture(scope="module")
def run_dir(tiny_bert_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five SQuAD v1.1 questions (one with markup in it) and one record without a question (an error row)."""
    paragraphs = []
    for index, (title, question, context, answer) in enumerate(FACTS):
        answers = [{"text": answer, "answer_start": context.index(answer)}]
        qa = {"id": f"q{index}", "question": question, "answers": answers}
        paragraphs.append({"title": title, "paragraphs": [{"context": context, "qas": [qa]}]})
    paragraphs[0]["paragraphs"][0]["qas"].append({"id": "broken", "answers": []})
    root = tmp_path_factory.mktemp("dataset-page")
    data = root / "dev.json"
    data.write_text(json.dumps({"version": "1.1", "data": paragraphs}), encoding="utf-8")
    out = root / "run"
    explain_dataset(data, tiny_bert_dir, out, serial=True, partition_size=2, progress=False)
    return out


def opened(run_dir: Path, model: str) -> ExplorerState:
    state = ExplorerState(models=[model], examples=[])
    state.dataset.open(run_dir)
    assert state.dataset.problem == "", state.dataset.problem
    return state


def test_a_run_opens_with_its_rows_gold_answers_and_titles(run_dir: Path, tiny_bert_dir: str) -> None:
    state = opened(run_dir, tiny_bert_dir)
    rows = state.dataset.rows
    assert set(rows["id"]) == {"q0", "q1", "q2", "q3", "q4", "broken"}
    assert rows.set_index("id").loc["q1", "gold"] == "Tokyo"  # the first gold answer, read from the list column
    assert list(state.dataset.param.title.objects) == [ALL_TITLES, "Birds", "Cities", "Light", "Mountains", "Space"]
    assert state.dataset.share_columns() == ["gradient_x_input.start", "gradient_x_input.end"]
    html = summary_html(state)
    summary = load_run(run_dir).summary
    assert f"EM {summary.em:.1f}" in html and f"F1 {summary.f1:.1f}" in html and "6 examples" in html
    # A malformed record is counted apart, never scored as a question (issue 17); 5 questions, none failed.
    assert "1 malformed (not scored)" in html and "5 questions scored" in html and "0 failed" in html
    assert "6 shown" in html and "every question of the file" in html


def test_filters_narrow_the_examples_and_clear(run_dir: Path, tiny_bert_dir: str) -> None:
    dataset = opened(run_dir, tiny_bert_dir).dataset
    rows = dataset.rows
    answered = rows[rows["error"].isna()]
    wrong = set(answered.loc[~answered["correct"].astype(bool), "id"])
    revision = dataset.revision
    dataset.wrong_only = True
    assert set(dataset.filtered()["id"]) == wrong and dataset.revision == revision + 1
    dataset.param.update(wrong_only=False, title="Cities")
    assert list(dataset.filtered()["id"]) == ["q1"]
    dataset.param.update(title=ALL_TITLES, search="PENGUINS")
    assert list(dataset.filtered()["id"]) == ["q4"]
    dataset.search = ""
    scores = answered.set_index("id")["score"]
    low = float(scores.median())
    dataset.score_range = (low, 1.0)
    expected = set(scores[scores >= low].index) | {"broken"}  # an error row has no score to filter on
    assert set(dataset.filtered()["id"]) == expected
    dataset.clear_filters()
    dataset.box = {"x": "score", "y": "f1", "bounds": (low, -0.1, 1.0, 1.1)}
    assert set(dataset.filtered()["id"]) == set(scores[scores >= low].index)
    dataset.clear_filters()
    assert len(dataset.filtered()) == len(rows)


def test_the_atlas_reads_the_runs_head_means(run_dir: Path, tiny_bert_dir: str) -> None:
    state = opened(run_dir, tiny_bert_dir)
    dataset = state.dataset
    heads = dataset.run.heads
    layers, count = int(heads["layer"].max()) + 1, int(heads["head"].max()) + 1
    dataset.param.update(statistic="entropy", group="all")
    grid = dataset.head_grid()
    assert grid.shape == (layers, count)
    mean = heads[(heads["statistic"] == "entropy") & (heads["group"] == "all")]
    first = mean[(mean["layer"] == 1) & (mean["head"] == 0)]["mean"].item()
    assert grid[1, 0] == pytest.approx(first)
    dataset.group = "difference"
    counts = heads.groupby("group")["count"].first()
    if counts["correct"] and counts["wrong"]:
        assert np.isfinite(dataset.head_grid()).all()
    else:  # one side is empty: there is no difference to show, and the caption says so
        assert np.isnan(dataset.head_grid()).all()
        assert "no " in dataset.group_note()


def test_opening_an_example_answers_it_in_the_explorer_with_its_gold_answer(
    run_dir: Path, tiny_bert_dir: str, tiny_distilbert_dir: str
) -> None:
    state = opened(run_dir, tiny_distilbert_dir)  # the run's model is not among those on offer yet
    state.open_dataset_example("q3")
    assert state.messages.error == "" and state.messages.model_error == ""
    explanation = state.explanation
    assert explanation is not None and explanation.model == tiny_bert_dir  # the run's model, not the default
    assert explanation.question == FACTS[3][1] and explanation.context == FACTS[3][2]
    chosen = state.inputs.chosen_example()
    assert chosen is not None and chosen.answer_text == FACTS[3][3] and chosen.title == "Light"
    assert state.inputs.example == "q3" and tiny_bert_dir in state.inputs.models
    row = state.dataset.rows.set_index("id").loc["q3"]
    assert explanation.answer.text == row["prediction"]  # the explorer agrees with the run
    with pytest.raises(ValueError, match="could not be run"):
        state.open_dataset_example("broken")
    with pytest.raises(KeyError, match="no-such-id"):
        state.open_dataset_example("no-such-id")


def test_a_missing_or_unfinished_run_is_a_message_not_an_exception(tmp_path: Path, tiny_bert_dir: str) -> None:
    state = ExplorerState(models=[tiny_bert_dir], examples=[])
    state.dataset.open(tmp_path / "nowhere")
    assert state.dataset.run is None and "cannot be opened" in state.dataset.problem
    assert "No run at" in summary_html(state)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "manifest.json").write_text("{not json", encoding="utf-8")
    state.dataset.open(tmp_path / "half")
    assert state.dataset.run is None and "cannot be opened" in state.dataset.problem


def test_the_page_shows_escaped_text_and_a_click_opens_the_explorer(run_dir: Path, tiny_bert_dir: str) -> None:
    def body() -> None:
        app = QALensApp(state=ExplorerState(models=[tiny_bert_dir], examples=[]), background=False)
        app.state.dataset.open(run_dir)
        page = app.dataset_page
        assert page is not None and app.pages.active == 1  # the Dataset page joins and is shown
        assert "EM " in rendered_html(page.summary.html)
        table = page.examples.table
        frame = table.value
        assert list(frame.columns) == ["id", "title", "question", "prediction", "gold", "em", "f1", "score", "error"]
        row = int(np.flatnonzero(frame["id"] == "q1")[0])
        table._process_event(SimpleNamespace(event_name="cell-click", row=row, column="id", value="q1"))
        assert app.pages.active == 0 and app.state.dataset.opened == "q1"
        assert app.state.explanation is not None and app.state.explanation.question == FACTS[1][1]
        app.pages.active = 1
        page.atlas._on_tap(x=1.5, y=0.5)  # the bottom row is the last layer
        layers = app.state.explanation.num_layers
        assert (app.state.view.layer, app.state.view.head) == (layers - 1, 1) and app.pages.active == 0

    in_loop(body)


def test_table_frame_of_an_empty_run_has_the_columns() -> None:
    import pandas as pd

    frame = table_frame(pd.DataFrame())
    assert list(frame.columns) == ["id", "title", "question", "prediction", "gold", "em", "f1", "score", "error"]


def test_a_large_run_is_rasterized_and_a_small_one_drawn_point_by_point(run_dir: Path, tiny_bert_dir: str) -> None:
    import holoviews as hv
    import pandas as pd

    from dashboard.dataset.scatters import RASTERIZE_ABOVE, RunScatters

    scatters = RunScatters(state=opened(run_dir, tiny_bert_dir))
    assert isinstance(scatters.score_pane.object[()], hv.Scatter)  # the run's own few points, one by one
    generator = np.random.default_rng(0)
    count = RASTERIZE_ABOVE + 1
    big = pd.DataFrame(
        {
            "id": [f"x{i}" for i in range(count)],
            "score": generator.random(count),
            "f1": generator.random(count),
            "correct": pd.array(generator.random(count) > 0.5, dtype="boolean"),
        }
    )
    plot = scatters._scatter(big, "score", "f1", "score", "F1")
    assert not isinstance(plot, hv.Scatter)
    rendered = hv.render(plot)  # Datashader aggregates the points into one image
    images = [glyph for glyph in rendered.renderers if type(glyph.glyph).__name__ == "Image"]
    assert images, [type(glyph.glyph).__name__ for glyph in rendered.renderers]
