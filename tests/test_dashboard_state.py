"""The dashboard's state object without any browser or Bokeh document: param updates in, derived data out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

import core
from core.attention import HEAD_STATISTICS
from core.examples import Example
from core.progress import Cancelled
from dashboard import ExplorerState, models_from_sources
from dashboard.export import explanation_json, export_basename, token_table_csv
from dashboard.state import HOW_TO_POINT_AT_A_CHECKPOINT, positions_between
from dashboard.state.inputs import MAX_LINK_CONTEXT_CHARS, context_from_link, context_to_link
from dashboard.state.runners import Outcome, SyncRunner
from tests.manual_runner import ManualRunner

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
    state.update(question=question, context=CONTEXT)
    state.run()
    assert state.messages.error == "" and state.messages.model_error == "", (
        state.messages.error,
        state.messages.model_error,
    )
    return state


def test_run_fills_the_state_and_sizes_the_choices(tiny_qa_dir: str) -> None:
    state = answered(tiny_qa_dir)
    explanation = state.explanation
    assert explanation is not None
    assert state.view.param.layer.bounds == (0, explanation.num_layers - 1)
    assert list(state.view.param.head.objects) == ["mean", "rollout", *range(explanation.num_heads)]
    assert set(explanation.saliency) == set(core.DEFAULT_METHODS)  # inline runners: integrated gradients too
    assert not state.jobs.answer.running and not state.jobs.saliency.running and state.jobs.saliency.progress == 1.0
    assert state.result.result_id == 1 and state.messages.status.startswith("Integrated gradients ready")
    assert len(state.result.token_labels()) == explanation.num_tokens


def test_attention_map_is_the_slice_of_the_current_layer_and_head(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    attentions = state.explanation.attentions
    state.update(layer=1, head=2)
    np.testing.assert_array_equal(state.attention_map(), attentions[1, 2])
    state.view.head = "mean"
    np.testing.assert_allclose(state.attention_map(), attentions[1].mean(axis=0), rtol=1e-6)
    state.view.head = "rollout"
    np.testing.assert_allclose(state.attention_map(), state.explanation.rollout()[1], rtol=1e-6)
    for head in ("mean", "rollout", 0, 3):
        state.view.head = head
        np.testing.assert_allclose(state.attention_map().sum(axis=1), 1.0, rtol=1e-5)
    expected = core.question_to_context(state.attention_map(), state.explanation.roles)
    np.testing.assert_array_equal(state.question_attention(), expected)
    assert state.view.attention_title() == "layer 1, head 3"


def test_changing_view_parameters_runs_no_model(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    with count_forwards(tiny_bert_dir) as calls:
        for layer, head in [(0, 1), (1, "mean"), (1, "rollout"), (0, 3)]:
            state.update(layer=layer, head=head)
            state.attention_map()
            state.question_attention()
            state.head_links()
        for method in core.DEFAULT_METHODS:
            for target in core.TARGETS:
                state.update(method=method, target=target)
                assert state.saliency_values() is not None
        state.select([3, 4, 5])
        state.result.head_thumbnails()
        state.result.head_statistics()
        state.result.saliency_matrix()
        state.selection.clear()
        assert calls == []
        state.update(question="When was the tower completed?")
        state.run()  # a new question does run the model: the counter works
        assert calls


def test_selection_helpers_keep_sorted_valid_positions(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    count = state.result.num_tokens
    state.select([5, 3, 3, -1, count + 4])
    assert state.selection.tokens == [3, 5]
    state.select([4], mode="add")
    assert state.selection.tokens == [3, 4, 5]
    state.selection.toggle(4)
    assert state.selection.tokens == [3, 5]
    state.select([5, 6], mode="toggle")
    assert state.selection.tokens == [3, 6]
    state.select([3], mode="remove")
    assert state.selection.tokens == [6]
    state.selection.select_between(1.6, 4.2)
    assert state.selection.tokens == [2, 3, 4]
    state.selection.select_between(7.2, 7.4)  # a box inside one cell selects that token
    assert state.selection.tokens == [7]
    state.selection.clear()
    assert state.selection.tokens == [] and len(state.selection.positions()) == 0
    with pytest.raises(ValueError, match="Unknown selection mode"):
        state.select([1], mode="xor")
    assert list(positions_between(-3.0, 1.2, 5)) == [0, 1]


def test_a_new_answer_clears_the_selection(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    state.select([2, 3])
    state.update(question="Where is the tower?")
    state.run()
    assert state.selection.tokens == [] and state.result.result_id == 2


def test_head_links_stay_light_and_follow_the_selection(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    state.update(layer=0, head=1)
    links = state.head_links()
    count = state.result.num_tokens
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
    thumbnails = state.result.head_thumbnails(size=8)
    layers, heads, count = attentions.shape[0], attentions.shape[1], attentions.shape[-1]
    assert thumbnails.shape == (layers, heads, 8, 8)
    edges = np.linspace(0, count, 9).round().astype(int)
    block = attentions[1, 2, edges[2] : edges[3], edges[5] : edges[6]].mean()
    assert thumbnails[1, 2, 2, 5] == pytest.approx(block, rel=1e-5)
    summary = state.result.head_statistics()
    assert set(summary) == set(HEAD_STATISTICS)
    assert all(values.shape == (layers, heads) for values in summary.values())
    assert ((summary["entropy"] >= 0) & (summary["entropy"] <= 1 + 1e-6)).all()


def test_saliency_matrix_marks_methods_not_computed(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir, compute_integrated_gradients=False)
    assert "integrated_gradients" not in state.explanation.saliency
    raw, scaled = state.result.saliency_matrix()
    rows = state.result.saliency_rows()
    assert raw.shape == (len(rows), state.result.num_tokens)
    missing = [i for i, (method, _) in enumerate(rows) if method == "integrated_gradients"]
    assert np.isnan(scaled[missing]).all()
    present = np.delete(scaled, missing, axis=0)
    assert np.nanmax(np.abs(present)) == pytest.approx(1.0)
    state.view.method = "integrated_gradients"
    assert state.saliency_values() is None


def test_integrated_gradients_follow_the_answer_with_progress(tiny_bert_dir: str) -> None:
    background = ManualRunner()
    state = ExplorerState(models=[tiny_bert_dir], examples=[], saliency_runner=background)
    state.update(question=QUESTION, context=CONTEXT)
    state.run()
    assert state.explanation is not None and not state.jobs.answer.running  # the answer is on show already
    assert state.jobs.saliency.running and "integrated_gradients" not in state.explanation.saliency
    revision = state.result.saliency_revision
    state.view.layer = 1  # the page stays usable meanwhile
    background.finish()
    assert not state.jobs.saliency.running and state.jobs.saliency.progress == 1.0
    assert "integrated_gradients" in state.explanation.saliency
    assert state.result.saliency_revision > revision and state.result.result_id == 1  # same tokens: no full redraw


def test_stale_results_are_dropped_and_superseded_work_stops(tiny_bert_dir: str) -> None:
    runner = ManualRunner()
    state = ExplorerState(models=[tiny_bert_dir], examples=[], answer_runner=runner, saliency_runner=runner)
    state.update(question=QUESTION, context=CONTEXT)
    state.run()
    state.update(question="Where is the tower?")
    state.run()
    assert state.jobs.answer.running and len(runner.pending) == 2
    runner.finish(0)  # the first question's answer arrives late: ignored
    assert state.explanation is None and state.jobs.answer.running
    runner.finish(0)
    assert state.explanation.question == "Where is the tower?" and not state.jobs.answer.running
    assert state.jobs.saliency.running and len(runner.pending) == 1
    state.cancel()  # e.g. the page was closed
    work, done = runner.pending.pop()
    with pytest.raises(Cancelled):
        work()
    assert not state.jobs.saliency.running


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
    state.update(question=question, context=context)
    state.run()
    assert expected in state.messages.error
    assert not state.jobs.answer.running and state.explanation is None and state.messages.status == ""


def test_an_unloadable_model_says_why_and_how_to_fix_it(tmp_path: Any) -> None:
    missing = str(tmp_path / "no-such-model")
    state = ExplorerState(models=[missing], examples=[])
    assert state.check_model() is False
    assert "No checkpoint directory" in state.messages.model_error
    assert HOW_TO_POINT_AT_A_CHECKPOINT in state.messages.model_error
    state.update(question=QUESTION, context=CONTEXT)
    state.run()
    assert not state.jobs.answer.running and state.messages.error == "" and state.explanation is None
    assert "--model" in state.messages.model_error


def test_the_default_hub_model_fails_fast_offline() -> None:
    state = ExplorerState(examples=[])
    assert state.inputs.model == core.DEFAULT_MODEL
    assert state.check_model() is False
    assert core.DEFAULT_MODEL in state.messages.model_error and "QA_LENS_MODELS" in state.messages.model_error


def test_choosing_an_example_fills_the_inputs_and_runs(tiny_bert_dir: str) -> None:
    example = Example("tower-1", "Tower", QUESTION, CONTEXT, "Gustave Eiffel", CONTEXT.index("Gustave"))
    state = ExplorerState(models=[tiny_bert_dir], examples=[example])
    assert "Tower: " + QUESTION in state.inputs.param.example.names
    state.inputs.example = "tower-1"
    assert (state.inputs.question, state.inputs.context) == (QUESTION, CONTEXT)
    assert state.explanation is not None and state.inputs.chosen_example() == example
    state.inputs.context = "Something else."
    assert state.inputs.example == ""  # another context: the inputs no longer are the example


def test_a_missing_examples_file_is_a_notice(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import dashboard.state.inputs as state_module

    def missing(*_args: Any) -> list[Example]:
        raise FileNotFoundError("data/examples.json")

    monkeypatch.setattr(state_module, "load_examples", missing)
    state = ExplorerState(models=["x"])
    assert "examples" in state.messages.notice and list(state.inputs.param.example.objects) == [""]


def test_exports(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    assert core.Explanation.from_json(explanation_json(state.explanation)) == state.explanation
    lines = token_table_csv(state.explanation).strip().splitlines()
    assert lines[0].startswith("position,token,text,role")
    assert len(lines) == state.result.num_tokens + 1
    assert export_basename(state.explanation) == "qa-lens-who-designed-the-eiffel-tower"


def test_model_choice_from_command_line_or_environment() -> None:
    assert models_from_sources(["--model", "a", "--model=b", "--other", "x"], {}) == ["a", "b"]
    assert models_from_sources(["--model", "a,b", "--model", "a"], {"QA_LENS_MODELS": "c"}) == ["a", "b"]
    assert models_from_sources([], {"QA_LENS_MODELS": " c , d ,"}) == ["c", "d"]
    assert models_from_sources([], {}) == [core.DEFAULT_MODEL]


def test_sessions_do_not_share_state(tiny_bert_dir: str) -> None:
    first = answered(tiny_bert_dir)
    second = ExplorerState(models=[tiny_bert_dir], examples=[])
    first.select([2])
    first.view.layer = 1
    assert second.selection.tokens == [] and second.inputs.question == "" and second.explanation is None
    assert second.jobs.answer.runner is not None and isinstance(second.jobs.answer.runner, SyncRunner)


def test_switching_models_drops_the_other_models_answer(tiny_bert_dir: str, tiny_distilbert_dir: str) -> None:
    state = answered(tiny_bert_dir, auto_run=False)
    state.update(models=[tiny_bert_dir, tiny_distilbert_dir])
    state.inputs.model = tiny_distilbert_dir
    assert state.explanation is None and state.selection.tokens == []
    state.run()
    assert state.explanation.model == tiny_distilbert_dir
    assert state.view.param.layer.bounds == (0, state.explanation.num_layers - 1)


def test_the_layer_slider_never_has_equal_ends(tiny_bert_dir: str) -> None:
    """Bokeh rejects a slider whose start equals its end (E-1021): before an answer there is one layer."""
    from dashboard.controls import Controls

    state = ExplorerState(models=[tiny_bert_dir], examples=[], answer_runner=SyncRunner(), saliency_runner=SyncRunner())
    controls = Controls(state=state)
    assert controls.layer.end > controls.layer.start
    assert controls.layer.disabled
    state.update(question=QUESTION, context=CONTEXT)
    state.run()
    assert state.explanation is not None
    assert (controls.layer.start, controls.layer.end) == (0, state.explanation.num_layers - 1)
    assert not controls.layer.disabled


def test_an_example_with_an_edited_question_stays_the_source_of_the_context(tiny_bert_dir: str) -> None:
    example = Example("tower-1", "Tower", QUESTION, CONTEXT, "Gustave Eiffel", CONTEXT.index("Gustave"))
    state = ExplorerState(models=[tiny_bert_dir], examples=[example], auto_run=False)
    state.update(example="tower-1")
    state.update(question="When was the tower completed?")
    assert state.inputs.example == "tower-1" and state.inputs.context == CONTEXT
    assert state.inputs.shared_context == ""  # the example supplies the context: the link needs only its id
    state.update(context=CONTEXT + " It is in Paris.")
    assert state.inputs.example == ""  # another context: no longer the example's
    assert state.inputs.shared_context.startswith("z1.")


def test_a_link_with_an_example_and_a_question_answers_that_question(tiny_bert_dir: str) -> None:
    """``?example=...&question=...``: both arrive in one update; the link's question wins over the example's."""
    example = Example("tower-1", "Tower", QUESTION, CONTEXT, "Gustave Eiffel", CONTEXT.index("Gustave"))
    state = ExplorerState(models=[tiny_bert_dir], examples=[example])
    state.update(example="tower-1", question="When was the tower completed?")
    assert state.inputs.question == "When was the tower completed?" and state.inputs.context == CONTEXT
    assert state.inputs.example == "tower-1"
    assert state.explanation is not None and state.explanation.question == "When was the tower completed?"


def test_the_context_travels_in_the_link_compressed_and_bounded(tiny_bert_dir: str) -> None:
    first = answered(tiny_bert_dir)
    token = first.inputs.shared_context
    assert token.startswith("z1.") and context_from_link(token) == CONTEXT
    second = ExplorerState(models=[tiny_bert_dir], examples=[], auto_run=False)
    second.update(question=QUESTION, shared_context=token)  # what a reload applies from the URL
    assert second.inputs.context == CONTEXT
    second.update(shared_context="z1.not-base64!")
    assert second.inputs.context == CONTEXT and "damaged" in second.messages.notice
    rng = np.random.default_rng(0)
    long_text = " ".join("".join(rng.choice(list("abcdefghij"), size=8)) for _ in range(6000))
    second.update(context=long_text)
    assert second.inputs.shared_context == "" and not second.inputs.context_in_link
    assert len(context_to_link(long_text)) > MAX_LINK_CONTEXT_CHARS


def test_a_new_question_cancels_every_job_in_flight(tiny_bert_dir: str) -> None:
    background = ManualRunner()
    state = ExplorerState(models=[tiny_bert_dir], examples=[], saliency_runner=background)
    state.update(question=QUESTION, context=CONTEXT)
    state.run()
    background.finish()  # integrated gradients
    state.trust.faithfulness.compute()
    state.trust.sanity.compute()
    assert state.jobs.faithfulness.running and state.jobs.sanity.running and len(background.pending) == 2
    state.update(question="Where is the tower?")
    state.run()  # supersedes both trust jobs
    assert not state.jobs.faithfulness.running and not state.jobs.sanity.running
    for work, _done in list(background.pending[:2]):
        with pytest.raises(Cancelled):
            work()  # stops at its first progress report instead of running to the end
    background.finish_all()
    assert state.trust.faithfulness.report is None and state.trust.sanity.report is None  # never a stale result
    assert state.explanation.question == "Where is the tower?"


def test_releasing_a_closed_pages_state_frees_its_results(tiny_bert_dir: str) -> None:
    background = ManualRunner()
    state = ExplorerState(models=[tiny_bert_dir], examples=[], saliency_runner=background)
    state.update(question=QUESTION, context=CONTEXT)
    state.run()
    assert state.jobs.saliency.running and state.trust.layers.report is not None
    redraws: list[object] = []
    state.result.param.watch(redraws.append, ["explanation"])
    state.release()
    assert state.explanation is None and state.trust.layers.report is None and redraws == []
    assert not any(job.running for job in state.jobs.all.values())
    work, _done = background.pending.pop()
    with pytest.raises(Cancelled):
        work()


def test_saliency_scales_without_special_tokens_unless_asked(tiny_bert_dir: str) -> None:
    from dashboard.state.result import saliency_peak, scaled_saliency

    roles = ["special", "question", "context", "context", "special"]
    values = np.array([9.0, 1.0, -2.0, 0.5, -7.0])
    assert saliency_peak(values, roles) == 2.0  # the words set the scale ...
    heights, _peak = scaled_saliency(values, roles)
    np.testing.assert_allclose(heights, [1.0, 0.5, -1.0, 0.25, -1.0])  # ... special tokens are capped, still shown
    assert saliency_peak(values, roles, without_special=False) == 9.0
    state = answered(tiny_bert_dir)
    raw, scaled = state.result.saliency_matrix()
    words = np.asarray(state.explanation.roles) != "special"
    computed = ~np.isnan(raw).all(axis=1)
    assert np.allclose(np.abs(scaled[computed][:, words]).max(axis=1), 1.0)
    assert np.abs(scaled[computed]).max() <= 1.0


def test_integrated_gradients_show_early_and_say_when_they_did_not_converge(minilm_probe_dir: str) -> None:
    background = ManualRunner()
    state = ExplorerState(models=[minilm_probe_dir], examples=[], saliency_runner=background)
    example = core.examples.find_example("estrand-01")
    state.update(question=example.question, context=example.context, method="integrated_gradients")
    state.run()
    assert state.saliency_values() is None and state.jobs.saliency.running
    revisions = state.result.saliency_revision
    work, done = background.pending.pop()
    outcome = Outcome(value=work())  # the worker runs; its early maps wait on the runner as dispatches
    assert state.result.saliency_revision > revisions, "a refining map was shown before the final one"
    assert state.saliency_values() is not None and "refining" in state.integrated_gradients_note()
    done(outcome)
    assert not state.jobs.saliency.running and state.integrated_gradients_note() == ""  # converged: nothing to say
    # A cap too low to converge: the map is final, and the note says so.
    capped = ExplorerState(models=[minilm_probe_dir], examples=[], ig_max_steps=6)
    capped.update(question=example.question, context=example.context, method="integrated_gradients")
    capped.run()
    assert capped.explanation.ig_converged == {"start": False, "end": False}
    assert "did not converge" in capped.integrated_gradients_note()
    assert "not converged" in capped.messages.status


def test_what_if_edits_the_selected_words_and_answers_again(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    whatif = state.whatif
    explanation = state.explanation
    assert whatif.history is not None and whatif.draft == CONTEXT and whatif.answer is None
    whatif.edit_selection("delete")
    assert "Select words" in whatif.problem  # nothing selected yet
    answer = explanation.answer
    state.select(range(answer.start_token, answer.end_token))
    with count_forwards(tiny_bert_dir) as calls:
        whatif.edit_selection("mask")
    assert len(calls) == 1  # one forward pass, no saliency
    result = whatif.answer
    assert result is not None and whatif.history.can_undo
    assert result.original_answer.status in ("edited", "deleted") and result.original_answer.probability is None
    assert answer.text not in result.context and "[MASK]" in result.context
    whatif.undo()
    assert whatif.answer is None and whatif.draft == CONTEXT
    whatif.draft = CONTEXT.replace("Gustave Eiffel", "Maria Lopez")
    whatif.reanswer_draft()
    assert whatif.answer is not None and "Maria Lopez" in whatif.answer.context
    whatif.reset()
    assert whatif.answer is None and not whatif.history.can_undo
    state.update(question="Where is the tower?")
    state.run()
    assert whatif.history.original == state.explanation.context and not whatif.history.can_undo


def test_head_importance_is_computed_on_request_and_clears_with_a_new_answer(tiny_bert_dir: str) -> None:
    state = answered(tiny_bert_dir)
    heads = state.trust.heads
    assert heads.report is None and heads.grid().shape == (0, 0)
    heads.compute()
    explanation = state.explanation
    assert heads.report is not None and heads.grid().shape == (explanation.num_layers, explanation.num_heads)
    heads.measure = "gradient"
    np.testing.assert_array_equal(heads.grid(), heads.report.gradient)
    state.update(question="Where is the tower?")
    state.run()
    assert heads.report is None
