"""The Trust tab is part of the app's one state: it follows the answer and the selection, and never runs
integrated gradients a second time."""

from __future__ import annotations

import core
from dashboard import QALensApp
from dashboard.state import ExplorerState
from tests.event_loop import in_loop
from tests.manual_runner import ManualRunner

QUESTION = "Who designed the Eiffel Tower?"
CONTEXT = "The Eiffel Tower was completed in 1889. It was designed by the engineer Gustave Eiffel in Paris."


def test_trust_tab_follows_the_answer_and_the_shared_selection(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = QALensApp(models=[tiny_bert_dir], background=False)
        assert "Trust" in app.tabs._names
        app.state.update(question=QUESTION, context=CONTEXT)
        app.state.run()
        report = app.state.trust.layers.report
        assert report is not None and report.answer_start_token == app.state.explanation.answer.start_token
        context_position = app.state.explanation.positions("context")[2]
        app.state.select([context_position])
        boxes = app.trust.layers.bands[()].array()  # the selection outlined over every layer, read from the state
        assert [(float(box[0]), float(box[2])) for box in boxes] == [(context_position - 0.5, context_position + 0.5)]
        app.trust.layers.tap.event(x=float(context_position + 1), y=0.0)
        assert app.state.selection.tokens == [context_position + 1]

    in_loop(body)


def _forward_passes(model_dir: str, press_during_integrated_gradients: bool) -> tuple[int, int]:
    """Forward passes of one answer, its integrated gradients and a faithfulness report; and how many
    pieces of work were queued when the button was pressed."""
    core.clear_cache()
    loaded = core.load_model(model_dir)
    calls: list[int] = []
    handle = loaded.model.register_forward_hook(lambda *_args: calls.append(1))
    try:
        background = ManualRunner()
        state = ExplorerState(models=[model_dir], examples=[], saliency_runner=background)
        state.update(question=QUESTION, context=CONTEXT)
        state.run()
        assert state.jobs.saliency.running and len(background.pending) == 1
        if press_during_integrated_gradients:
            state.trust.faithfulness.compute()
            queued = len(background.pending)
            assert state.jobs.faithfulness.running and state.jobs.faithfulness.stage.startswith("waiting")
            background.finish_all()  # integrated gradients, then the faithfulness that waited for it
        else:
            background.finish_all()
            state.trust.faithfulness.compute()
            queued = len(background.pending)
            background.finish_all()
        assert state.trust.faithfulness.report is not None, state.jobs.faithfulness.error
        assert "integrated_gradients" in state.trust.faithfulness.report.explainers
        assert not state.jobs.faithfulness.running and not state.jobs.saliency.running
        return len(calls), queued
    finally:
        handle.remove()


def test_compute_faithfulness_during_integrated_gradients_waits_instead_of_running_them_again(
    tiny_bert_dir: str,
) -> None:
    after, _queued = _forward_passes(tiny_bert_dir, press_during_integrated_gradients=False)
    during, queued = _forward_passes(tiny_bert_dir, press_during_integrated_gradients=True)
    assert queued == 1  # only the pending integrated gradients: the report waits for it
    assert during == after  # no second integrated-gradients run
