"""The dashboard's state object without any browser or Bokeh document: param updates in, derived data out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

import core
from core.examples import Example
from dashboard import ExplorerState, models_from_sources
from dashboard.runners import Outcome, Runner, SyncRunner
from dashboard.state import HOW_TO_POINT_AT_A_CHECKPOINT, Superseded, positions_between

QUESTION = "Who designed the Eiffel Tower?"
CONTEXT = (
    "The Eiffel Tower was completed in 1889 and is 330 metres tall. It was designed by the engineer "
    "Gustave Eiffel, whose company built it for the World's Fair. The tower is in Paris, and the tower "
    "is painted every seven years."
)


@pytest.fixture(autouse=True)
def _fresh_core_cache() -> None:
    """Each test sees the model work it causes (core caches explanations across the process)."""
    core.clear_cache()


class ManualRunner(Runner):
    """Holds submitted work until a test finishes it: to check what the page shows in between."""

    background = True

    def __init__(self) -> None:
        self.pending: list[tuple[Callable[[], Any], Callable[[Outcome], None]]] = []

    def submit(self, work: Callable[[], Any], done: Callable[[Outcome], None]) -> None:
        self.pending.append((work, done))

    def finish(self, index: int = 0) -> None:
        work, done = self.pending.pop(index)
        try:
            done(Outcome(value=work()))
        except Exception as error:
            done(Outcome(error=error))


@contextmanager
def count_forwards(model_dir: str) -> Iterator[list[int]]:
    """Count forward passes of the process-wide model loaded from ``model_dir``."""
    loaded = core.load_model(model_dir)
    calls: list[int] = []
    handle = loaded.model.register_forward_hook(lambda *_args: calls.append(1))
    try:
        yield calls
    finally:
        handle.remove()


def answered(model_dir: str, question: str = QUESTION, **params: Any) -> ExplorerState:
    state = ExplorerState(models=[model_dir], examples=[], **params)
    state.param.update(question=question, context=CONTEXT)
    state.run()
    assert state.error == "" and state.model_error == "", (state.error, state.model_error)
    return state


def test_run_fills_the_state_and_sizes_the_choices(tiny_qa_dir: str) -> None:
    state = answered(tiny_qa_dir)
    explanation = state.explanation
    assert explanation is not None
    assert state.param.layer.bounds == (0, explanation.num_layers - 1)
    assert list(state.param.head.objects) == ["mean", "rollout", *range(explanation.num_heads)]
    assert set(explanation.saliency) == set(core.METHODS)  # inline runners: integrated gradients too
    assert not state.busy and not state.saliency_pending and state.progress == 1.0
    assert state.result_id == 1 and state.status.startswith("Integrated gradients ready")
    assert len(state.token_labels()) == explanation.num_tokens


def test_attention_map_is_the_slice_of_the_current_layer_and_head(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    attentions = state.explanation.attentions
    state.param.update(layer=1, head=2)
    np.testing.assert_array_equal(state.attention_map(), attentions[1, 2])
    state.head = "mean"
    np.testing.assert_allclose(state.attention_map(), attentions[1].mean(axis=0), rtol=1e-6)
    state.head = "rollout"
    np.testing.assert_allclose(state.attention_map(), state.explanation.rollout()[1], rtol=1e-6)
    for head in ("mean", "rollout", 0, 3):
        state.head = head
        np.testing.assert_allclose(state.attention_map().sum(axis=1), 1.0, rtol=1e-5)
    expected = core.question_to_context(state.attention_map(), state.explanation.roles)
    np.testing.assert_array_equal(state.question_attention(), expected)
    assert state.attention_title() == "layer 1, head 3"


def test_changing_view_parameters_runs_no_model(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    with count_forwards(tiny_bert_dir) as calls:
        for layer, head in [(0, 1), (1, "mean"), (1, "rollout"), (0, 3)]:
            state.param.update(layer=layer, head=head)
            state.attention_map()
            state.question_attention()
            state.head_links()
        for method in core.METHODS:
            for target in core.TARGETS:
                state.param.update(method=method, target=target)
                assert state.saliency_values() is not None
        state.select([3, 4, 5])
        state.head_thumbnails()
        state.head_summary()
        state.saliency_matrix()
        state.clear_selection()
        assert calls == []
        state.param.update(question="When was the tower completed?")
        state.run()  # a new question does run the model: the counter works
        assert calls


def test_selection_helpers_keep_sorted_valid_positions(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    count = state.num_tokens
    state.select([5, 3, 3, -1, count + 4])
    assert state.selected_tokens == [3, 5]
    state.select([4], mode="add")
    assert state.selected_tokens == [3, 4, 5]
    state.toggle_token(4)
    assert state.selected_tokens == [3, 5]
    state.select([5, 6], mode="toggle")
    assert state.selected_tokens == [3, 6]
    state.select([3], mode="remove")
    assert state.selected_tokens == [6]
    state.select_between(1.6, 4.2)
    assert state.selected_tokens == [2, 3, 4]
    state.select_between(7.2, 7.4)  # a box inside one cell selects that token
    assert state.selected_tokens == [7]
    state.clear_selection()
    assert state.selected_tokens == [] and len(state.selection()) == 0
    with pytest.raises(ValueError, match="Unknown selection mode"):
        state.select([1], mode="xor")
    assert list(positions_between(-3.0, 1.2, 5)) == [0, 1]


def test_a_new_answer_clears_the_selection(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    state.select([2, 3])
    state.param.update(question="Where is the tower?")
    state.run()
    assert state.selected_tokens == [] and state.result_id == 2


def test_head_links_stay_light_and_follow_the_selection(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    state.param.update(layer=0, head=1)
    links = state.head_links()
    count = state.num_tokens
    assert 0 < len(links["source"]) <= 3 * count
    assert np.bincount(links["source"], minlength=count).max() <= 3
    np.testing.assert_array_equal(links["weight"], state.attention_map()[links["source"], links["target"]])
    assert not links["selected"].any()
    state.select([4])
    links = state.head_links()
    assert len(links["source"]) > 0
    assert ((links["source"] == 4) | (links["target"] == 4)).all()
    assert links["selected"].all()


def test_thumbnails_are_block_means_of_every_head(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    attentions = state.explanation.attentions
    thumbnails = state.head_thumbnails(size=8)
    layers, heads, count = attentions.shape[0], attentions.shape[1], attentions.shape[-1]
    assert thumbnails.shape == (layers, heads, 8, 8)
    edges = np.linspace(0, count, 9).round().astype(int)
    block = attentions[1, 2, edges[2] : edges[3], edges[5] : edges[6]].mean()
    assert thumbnails[1, 2, 2, 5] == pytest.approx(block, rel=1e-5)
    summary = state.head_summary()
    assert set(summary) == {"to_special", "question_to_answer", "previous", "entropy"}
    assert all(values.shape == (layers, heads) for values in summary.values())
    assert ((summary["entropy"] >= 0) & (summary["entropy"] <= 1 + 1e-6)).all()


def test_saliency_matrix_marks_methods_not_computed(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir, compute_integrated_gradients=False)
    assert "integrated_gradients" not in state.explanation.saliency
    raw, scaled = state.saliency_matrix()
    rows = state.saliency_rows()
    assert raw.shape == (len(rows), state.num_tokens)
    missing = [i for i, (method, _) in enumerate(rows) if method == "integrated_gradients"]
    assert np.isnan(scaled[missing]).all()
    present = np.delete(scaled, missing, axis=0)
    assert np.nanmax(np.abs(present)) == pytest.approx(1.0)
    state.method = "integrated_gradients"
    assert state.saliency_values() is None


def test_integrated_gradients_follow_the_answer_with_progress(tiny_bert_dir: str) -> None:
    background = ManualRunner()
    state = ExplorerState(models=[tiny_bert_dir], examples=[], saliency_runner=background)
    state.param.update(question=QUESTION, context=CONTEXT)
    state.run()
    assert state.explanation is not None and not state.busy  # the answer is on show already
    assert state.saliency_pending and "integrated_gradients" not in state.explanation.saliency
    revision = state.saliency_revision
    state.layer = 1  # the page stays usable meanwhile
    background.finish()
    assert not state.saliency_pending and state.progress == 1.0
    assert "integrated_gradients" in state.explanation.saliency
    assert state.saliency_revision == revision + 1 and state.result_id == 1  # same tokens: no full redraw


def test_stale_results_are_dropped_and_superseded_work_stops(tiny_bert_dir: str) -> None:
    runner = ManualRunner()
    state = ExplorerState(models=[tiny_bert_dir], examples=[], answer_runner=runner, saliency_runner=runner)
    state.param.update(question=QUESTION, context=CONTEXT)
    state.run()
    state.param.update(question="Where is the tower?")
    state.run()
    assert state.busy and len(runner.pending) == 2
    runner.finish(0)  # the first question's answer arrives late: ignored
    assert state.explanation is None and state.busy
    runner.finish(0)
    assert state.explanation.question == "Where is the tower?" and not state.busy
    assert state.saliency_pending and len(runner.pending) == 1
    state.cancel()  # e.g. the page was closed
    work, done = runner.pending.pop()
    with pytest.raises(Superseded):
        work()
    assert not state.saliency_pending


@pytest.mark.parametrize(
    ("question", "context", "expected"),
    [
        ("", CONTEXT, "question is empty"),
        ("  \u200b ", CONTEXT, "question is empty"),
        (QUESTION, "   ", "context is empty"),
        (QUESTION, "word " * 9000, "windows"),
    ],
)
def test_bad_input_becomes_a_message_not_an_exception(
    tiny_bert_dir: str, question: str, context: str, expected: str
) -> None:
    state = ExplorerState(models=[tiny_bert_dir], examples=[])
    state.param.update(question=question, context=context)
    state.run()
    assert expected in state.error
    assert not state.busy and state.explanation is None and state.status == ""


def test_an_unloadable_model_says_why_and_how_to_fix_it(tmp_path: Any) -> None:
    missing = str(tmp_path / "no-such-model")
    state = ExplorerState(models=[missing], examples=[])
    assert state.check_model() is False
    assert "No checkpoint directory" in state.model_error
    assert HOW_TO_POINT_AT_A_CHECKPOINT in state.model_error
    state.param.update(question=QUESTION, context=CONTEXT)
    state.run()
    assert not state.busy and state.error == "" and state.explanation is None
    assert "--model" in state.model_error


def test_the_default_hub_model_fails_fast_offline() -> None:
    state = ExplorerState(examples=[])
    assert state.model == core.DEFAULT_MODEL
    assert state.check_model() is False
    assert core.DEFAULT_MODEL in state.model_error and "QA_LENS_MODELS" in state.model_error


def test_choosing_an_example_fills_the_inputs_and_runs(tiny_bert_dir: str) -> None:
    example = Example("tower-1", "Tower", QUESTION, CONTEXT, "Gustave Eiffel", CONTEXT.index("Gustave"))
    state = ExplorerState(models=[tiny_bert_dir], examples=[example])
    assert "Tower: " + QUESTION in state.param.example.names
    state.example = "tower-1"
    assert (state.question, state.context) == (QUESTION, CONTEXT)
    assert state.explanation is not None and state.example_answer() == example
    state.question = "Something else?"
    assert state.example == ""  # the inputs no longer are the example


def test_a_missing_examples_file_is_a_notice(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import dashboard.state as state_module

    def missing(*_args: Any) -> list[Example]:
        raise FileNotFoundError("data/examples.json")

    monkeypatch.setattr(state_module, "load_examples", missing)
    state = ExplorerState(models=["x"])
    assert "examples" in state.notice and list(state.param.example.objects) == [""]


def test_exports(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    assert core.Explanation.from_json(state.explanation_json()) == state.explanation
    lines = state.token_table_csv().strip().splitlines()
    assert lines[0].startswith("position,token,text,role")
    assert len(lines) == state.num_tokens + 1
    assert state.export_basename() == "qa-lens-who-designed-the-eiffel-tower"


def test_model_choice_from_command_line_or_environment() -> None:
    assert models_from_sources(["--model", "a", "--model=b", "--other", "x"], {}) == ["a", "b"]
    assert models_from_sources(["--model", "a,b", "--model", "a"], {"QA_LENS_MODELS": "c"}) == ["a", "b"]
    assert models_from_sources([], {"QA_LENS_MODELS": " c , d ,"}) == ["c", "d"]
    assert models_from_sources([], {}) == [core.DEFAULT_MODEL]


def test_sessions_do_not_share_state(tiny_bert_dir: str) -> None:
    first = answered(tiny_bert_dir)
    second = ExplorerState(models=[tiny_bert_dir], examples=[])
    first.select([2])
    first.layer = 1
    assert second.selected_tokens == [] and second.question == "" and second.explanation is None
    assert second.answer_runner is not None and isinstance(second.answer_runner, SyncRunner)


def test_switching_models_drops_the_other_models_answer(tiny_bert_dir: str, tiny_distilbert_dir: str) -> None:
    state = answered(tiny_bert_dir, auto_run=False)
    state.param.update(models=[tiny_bert_dir, tiny_distilbert_dir])
    state.model = tiny_distilbert_dir
    assert state.explanation is None and state.selected_tokens == []
    state.run()
    assert state.explanation.model == tiny_distilbert_dir
    assert state.param.layer.bounds == (0, state.explanation.num_layers - 1)


def test_the_layer_slider_never_has_equal_ends(tiny_bert_dir: str) -> None:
    """Bokeh rejects a slider whose start equals its end (E-1021): before an answer there is one layer."""
    from dashboard.controls import Controls

    state = ExplorerState(models=[tiny_bert_dir], examples=[], answer_runner=SyncRunner(), saliency_runner=SyncRunner())
    controls = Controls(state=state)
    assert controls.layer.end > controls.layer.start
    assert controls.layer.disabled
    state.param.update(question=QUESTION, context=CONTEXT)
    state.run()
    assert state.explanation is not None
    assert (controls.layer.start, controls.layer.end) == (0, state.explanation.num_layers - 1)
    assert not controls.layer.disabled
