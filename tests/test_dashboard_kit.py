"""The view kit (``dashboard/views``): one fan-out for every view of every page, the head grid, the job button."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bokeh.plotting import figure

from dashboard import QALensApp
from dashboard.state import ExplorerState
from dashboard.views import HeadGrid, JobButton, StateFanOut, StateView
from dashboard.views.fan_out import resolve
from tests.event_loop import in_loop

QUESTION = "Who designed the Eiffel Tower?"
CONTEXT = "The Eiffel Tower was completed in 1889. It was designed by the engineer Gustave Eiffel in Paris."


def model_free_state(layers: int = 3, heads: int = 4) -> ExplorerState:
    """A state sized for a model of ``layers`` x ``heads`` (nothing is loaded)."""
    state = ExplorerState(models=["no-model"], examples=[])
    state.view.fit(layers, heads)
    return state


def test_the_fan_out_reaches_every_part_of_the_state_by_path() -> None:
    state = model_free_state()
    assert resolve(state, "trust.faithfulness.report") == (state.trust.faithfulness, "report")
    assert resolve(state, "dataset.run") == (state.dataset, "run")
    assert resolve(state, "jobs.heads.running") == (state.jobs.heads, "running")
    with pytest.raises(ValueError, match="not a parameter"):
        resolve(state, "dataset.no_such_thing")
    seen: list[set[str]] = []
    fan_out = StateFanOut(state)
    fan_out.subscribe(["dataset.search", "trust.sanity.step"], seen.append)
    state.dataset.search = "tower"
    state.trust.sanity.step = 2
    assert seen == [{"dataset.search"}, {"trust.sanity.step"}]


def test_a_subscription_dropped_during_a_dispatch_is_not_called() -> None:
    """A view that redraws drops its old drawing's subscriptions; a later one of the same dispatch is skipped."""
    state = model_free_state()
    fan_out = StateFanOut(state)
    calls: list[str] = []
    tokens: dict[str, int] = {}
    tokens["redraws"] = fan_out.subscribe(["view.layer"], lambda _changed: fan_out.unsubscribe(tokens["old"]))
    tokens["old"] = fan_out.subscribe(["view.layer"], lambda _changed: calls.append("old drawing"))
    state.view.layer = 1
    assert calls == []


def test_a_batch_inside_a_batch_leaves_the_document_as_bokeh_made_it() -> None:
    """A view's update that changes the state again (it starts a job) dispatches inside the first dispatch."""
    from bokeh.document import Document
    from bokeh.models import Div, Row

    from dashboard.views.bokeh_batching import batched_model_updates

    document = Document()
    row = Row(children=[Div(text="before")])
    document.add_root(row)
    added = Div(text="added inside the inner batch")
    with batched_model_updates(document):
        with batched_model_updates(document):
            row.children = [*row.children, added]
        assert "invalidate" in vars(document.models)  # the outer batch still holds the graph
    assert "invalidate" not in vars(document.models) and document.models._freeze_count == 0
    assert document.get_model_by_id(added.id) is added  # the model attached inside is known to the document


def test_every_view_of_every_page_follows_the_state_through_the_apps_one_fan_out(
    tiny_bert_dir: str, tmp_path: Path
) -> None:
    def body() -> None:
        app = QALensApp(state=ExplorerState(models=[tiny_bert_dir], examples=[]), background=False)
        app.state.dataset.open(tmp_path / "no-run-here")  # offered: the Dataset page joins, empty
        page = app.dataset_page
        views = [
            *app.views.values(),
            *app.trust.views.values(),
            app.head_importance.job_button,
            app.whatif.job_button,
            page,
            page.summary,
            page.scatters,
            page.examples,
            page.atlas,
        ]
        for view in views:
            assert isinstance(view, StateView) and view.fan_out is app.fan_out, type(view).__name__
        app.state.update(question=QUESTION, context=CONTEXT)
        app.state.run()
        sent: list[str] = []
        app.trust.layers.heatmap_pane.param.watch(lambda _event: sent.append("trust"), ["object"])
        page.examples.table.param.watch(lambda _event: sent.append("dataset"), ["value"])
        app.attention.body.param.watch(lambda _event: sent.append("explorer"), ["objects"])
        app.resync_views()  # what the served page does once it has loaded
        assert sorted(set(sent)) == ["dataset", "explorer", "trust"]

    in_loop(body)


def test_the_head_grid_puts_layer_zero_on_top_and_maps_a_tap_to_its_cell() -> None:
    state = model_free_state(layers=3, heads=4)
    grid = HeadGrid(state, 3, 4)
    assert grid.cell_at(0.5, 2.5) == (0, 0) and grid.cell_at(3.9, 0.1) == (2, 3)
    assert grid.cell_at(4.0, 0.5) is None and grid.cell_at(0.5, -0.1) is None and grid.cell_at(None, 1.0) is None
    image = grid.image(np.arange(12.0).reshape(3, 4), vdims=["value"])
    assert image[0.5, 2.5] == 0.0 and image[3.5, 0.5] == 11.0  # [layer 0, head 0] top left, [2, 3] bottom right
    cells = grid.cells({"value": np.arange(12.0).reshape(3, 4)})
    top_left = cells.iloc[0]
    assert (top_left.dimension_values("layer")[0], top_left.dimension_values("y1")[0]) == (0, 3.0)
    assert dict(grid.axis_options()["yticks"])[2.5] == "0"
    grid.pick(1.5, 0.5)  # the bottom row is the last layer
    assert (state.view.layer, state.view.head) == (2, 1)
    picked: list[tuple[int, int]] = []
    HeadGrid(state, 3, 4, picked=lambda layer, head: picked.append((layer, head))).pick(2.2, 1.7)
    assert picked == [(1, 2)]


def test_the_head_grid_outlines_the_current_head_or_its_whole_layer() -> None:
    state = model_free_state(layers=3, heads=4)
    grid = HeadGrid(state, 3, 4)
    outline = grid.add_outline(figure())
    state.update(layer=1, head=2)
    grid.move_outline(outline)
    assert (outline.left, outline.right, outline.bottom, outline.top, outline.visible) == (2, 3, 1, 2, True)
    state.view.head = "rollout"
    grid.move_outline(outline)
    assert (outline.left, outline.right) == (0, 4)
    smaller = HeadGrid(state, 1, 4)  # a run of another model: layer 1 is not in its grid
    smaller.move_outline(outline)
    assert outline.visible is False


def test_the_job_button_follows_its_job_and_escapes_what_it_says() -> None:
    state = model_free_state()
    pressed: list[int] = []
    button = JobButton(
        state=state, job_name="heads", label="Go", action=lambda: pressed.append(1), describe=lambda: "3 <b>heads</b>"
    )
    assert not button.button.disabled and not button.progress_bar.visible
    assert button.message.object == "3 &lt;b&gt;heads&lt;/b&gt;"
    button.button.clicks += 1
    assert pressed == [1]
    job = state.jobs.heads
    job.hold("masking <i>heads</i>")
    job.param.update(progress=0.4)
    assert button.button.disabled and button.progress_bar.visible and button.progress_bar.value == 40
    assert "masking &lt;i&gt;heads&lt;/i&gt;" in button.message.object and "<i>" not in button.message.object
    job.cancel()
    job.error = 'Bad question <img src=x onerror="alert(1)">'
    assert not button.button.disabled and not button.progress_bar.visible
    assert "&lt;img" in button.message.object and "<img" not in button.message.object
    button.label = "Again"
    assert button.button.label == "Again"
    waiting = JobButton(state=state, job_name="whatif", needs_answer=True)
    assert waiting.button.disabled  # no answer on show yet
