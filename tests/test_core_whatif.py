"""core.whatif: edits, their history, re-answering an edited context and following the answer through the edits."""

from __future__ import annotations

import json

import pytest
import torch

import core
from core.answering import softmax
from core.encoding import encode
from core.examples import load_examples
from core.inputs import batch_inputs
from core.whatif import (
    MASK_PLACEHOLDER,
    EditHistory,
    WhatIf,
    apply_edits,
    delete,
    diff_texts,
    edits_between,
    map_span,
    mask,
    reanswer,
    replace,
)

QUESTION = "Who designed the Eiffel Tower?"
CONTEXT = (
    "The Eiffel Tower was completed in 1889 and is 330 metres tall. It was designed by the engineer "
    "Gustave Eiffel, whose company built it for the World's Fair in Paris."
)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _reconstruct(ops: tuple, original: str, edited: str) -> None:
    assert "".join(op.edited_text for op in ops) == edited
    assert "".join(op.original_text for op in ops) == original
    original_end = edited_end = 0
    for op in ops:
        assert (op.original_start, op.edited_start) == (original_end, edited_end)
        assert op.original_text == original[op.original_start : op.original_end]
        assert op.edited_text == edited[op.edited_start : op.edited_end]
        if op.tag == "equal":
            assert op.original_text == op.edited_text
        assert (op.tag == "insert") == (op.original_start == op.original_end and op.edited_start < op.edited_end)
        assert (op.tag == "delete") == (op.edited_start == op.edited_end and op.original_start < op.original_end)
        original_end, edited_end = op.original_end, op.edited_end
    assert (original_end, edited_end) == (len(original), len(edited))


def _direct_probability(
    loaded: core.LoadedModel, question: str, context: str, start_char: int, end_char: int, settings: dict
) -> float:
    """p_start * p_end of the tokens covering [start_char, end_char), from a plain forward of each window."""
    encoding = encode(loaded.tokenizer, question, context, max_length=settings["max_length"], stride=settings["stride"])
    best = None
    for window in encoding.windows:
        covering = [
            i
            for i, (role, (low, high)) in enumerate(zip(window.roles, window.offsets, strict=True))
            if role == "context" and high > low and high > start_char and low < end_char
        ]
        if not covering or window.offsets[covering[0]][0] > start_char or window.offsets[covering[-1]][1] < end_char:
            continue
        with torch.no_grad():
            output = loaded.model(**batch_inputs(loaded, [window]))
        start_probs = softmax(output.start_logits[0].numpy())
        end_probs = softmax(output.end_logits[0].numpy())
        score = float(start_probs[covering[0]] * end_probs[covering[-1]])
        best = score if best is None else max(best, score)
    assert best is not None
    return best


def test_edits_apply_and_compose_without_a_model() -> None:
    text = "The cat sat on the mat."
    assert apply_edits(text, delete(4, 8)) == "The sat on the mat."
    assert apply_edits(text, mask(4, 7)) == f"The {MASK_PLACEHOLDER} sat on the mat."
    assert apply_edits(text, mask(4, 7, "<mask>")) == "The <mask> sat on the mat."
    # Edits come in any order, in the original text's coordinates; an insertion is an empty range.
    assert apply_edits(text, [replace(19, 22, "rug"), replace(4, 7, "dog"), replace(0, 0, ">> ")]) == (
        ">> The dog sat on the rug."
    )
    assert [edit.kind for edit in (delete(1, 2), mask(1, 2), replace(1, 2, "x"), replace(1, 1, "x"))] == [
        "delete",
        "mask",
        "replace",
        "insert",
    ]
    history = EditHistory(text).push(replace(4, 7, "dog")).push(delete(8, 12))
    assert history.context == "The dog on the mat."
    assert history.undo().context == "The dog sat on the mat."
    assert history.undo().undo().context == history.reset().context == text
    assert history.reset().undo() == history.reset() and not history.reset().can_undo
    # Histories are values: pushing onto an old one leaves the newer one as it was.
    branch = history.undo().push("The dog slept on the mat.")
    assert branch.context == "The dog slept on the mat." and history.context == "The dog on the mat."
    # "mat" survives both steps and moves with them; "sat" was deleted by step 1.
    assert history.map_span(19, 22) == map_span(19, 22, history.steps)
    start, end = history.map_span(19, 22).start_char, history.map_span(19, 22).end_char
    assert history.context[start:end] == "mat"
    lost = history.map_span(8, 11)
    assert (lost.start_char, lost.status) == (None, "deleted") and "step 2" in lost.reason
    partly = history.map_span(4, 11)
    assert partly.status == "edited" and partly.reason == "edit [4, 7) of step 1 replaced part of it with 'dog'"
    assert EditHistory(text).push(replace(10, 10, "x")).map_span(8, 11).reason == "edit [10, 10) inserted 'x' inside it"
    assert EditHistory(text).push(text).push([]) == EditHistory(text)
    with pytest.raises(AttributeError):
        history.steps = ()  # type: ignore[misc]


def test_a_free_text_edit_becomes_word_level_edits() -> None:
    edited = "The Eiffel Tower was finished in 1890 and is 330 metres tall."
    original = CONTEXT[: CONTEXT.index(" It was")]
    edits = edits_between(original, edited)
    assert [original[e.start_char : e.end_char] for e in edits] == ["completed", "1889"]
    assert apply_edits(original, edits) == edited
    assert edits_between(original, original) == ()


@pytest.mark.parametrize(
    "edited",
    [
        CONTEXT,
        CONTEXT.replace("Gustave Eiffel", "Ada"),
        CONTEXT.replace("1889", "") + " Added at the end.",
        "Prefix, " + CONTEXT.replace("engineer", "architect and engineer"),
        "completely different text 🎉",
    ],
)
def test_diff_opcodes_reconstruct_both_texts(edited: str) -> None:
    ops = diff_texts(CONTEXT, edited)
    _reconstruct(ops, CONTEXT, edited)
    if edited == CONTEXT:
        assert [op.tag for op in ops] == ["equal"]


def test_diff_of_a_long_context_is_word_level_where_it_changed() -> None:
    long_context = " ".join(example.context for example in load_examples())
    first, last = long_context.index("Vellmoor"), long_context.rindex("Quillon")
    edited = long_context[:first] + "Wellmoor" + long_context[first + 8 : last] + "Q." + long_context[last + 7 :]
    edited = edited.replace("The ", "The very ", 1)
    ops = diff_texts(long_context, edited)
    _reconstruct(ops, long_context, edited)
    assert [(op.original_text, op.edited_text) for op in ops if op.tag != "equal"] == [
        ("Vellmoor", "Wellmoor"),
        ("", "very "),
        ("Quillon", "Q."),
    ]
    # Rewritten wholesale: too many unit pairs for a word-level comparison, so one op says so.
    rewritten = "Nothing of it is left. " * 2000
    ops = diff_texts(long_context, rewritten)
    _reconstruct(ops, long_context, rewritten)
    assert [op.tag for op in ops] == ["replace"]


def test_invalid_edits_raise_clear_errors() -> None:
    text = "The cat sat."
    with pytest.raises(ValueError, match="outside the context"):
        apply_edits(text, delete(5, 40))
    with pytest.raises(ValueError, match="overlap"):
        apply_edits(text, [delete(0, 5), mask(4, 7)])
    with pytest.raises(ValueError, match="overlap"):
        apply_edits(text, [replace(3, 3, "a"), replace(3, 3, "b")])
    with pytest.raises(ValueError, match="context is empty"):
        apply_edits(text, delete(0, len(text)))
    with pytest.raises(ValueError, match="context is empty"):
        apply_edits(text, replace(0, len(text), "  \u200b "))
    with pytest.raises(ValueError, match="0 <= start_char <= end_char"):
        delete(5, 2)
    with pytest.raises(ValueError, match="0 <= start_char <= end_char"):
        delete(-1, 2)
    with pytest.raises(TypeError):
        apply_edits(text, [(0, 3, "x")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="overlap"):
        EditHistory(text).push([delete(0, 3), delete(2, 5)])


def test_reanswering_the_unedited_context_reproduces_the_explanation(tiny_qa_dir: str) -> None:
    long_context = " ".join([CONTEXT] * 3)
    for context, max_length in ((CONTEXT, 384), (long_context, 64)):
        explanation = core.explain(QUESTION, context, tiny_qa_dir, methods=(), max_length=max_length, stride=16)
        for unchanged in (context, [], EditHistory(context)):
            whatif = reanswer(explanation, unchanged)
            assert whatif.answer == explanation.answer
            assert whatif.top_k == tuple(explanation.top_k)
            assert whatif.num_windows == explanation.num_windows
            assert not whatif.answer_changed
            mapped = whatif.original_answer
            assert (mapped.start_char, mapped.end_char, mapped.status) == (
                explanation.answer.start_char,
                explanation.answer.end_char,
                "kept",
            )
            assert mapped.probability == explanation.answer.score
            assert [change.status for change in whatif.top_k_changes] == ["same"] * len(explanation.top_k)
            assert all(change.score_change == 0 for change in whatif.top_k_changes)
            assert [op.tag for op in whatif.diff] == ["equal"]
        assert (explanation.num_windows > 1) == (context == long_context)


def test_masking_a_word_elsewhere_shifts_the_answer_and_scores_it_like_a_direct_pass(tiny_qa_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, tiny_qa_dir, methods=())
    loaded = core.load_model(tiny_qa_dir)
    answer = explanation.answer
    word = "The" if answer.start_char > 3 else "Paris"
    start = CONTEXT.index(word)
    whatif = reanswer(explanation, mask(start, start + len(word)))
    token = loaded.tokenizer.mask_token
    assert whatif.context == CONTEXT[:start] + token + CONTEXT[start + len(word) :]
    shift = len(token) - len(word) if start < answer.start_char else 0
    mapped = whatif.original_answer
    assert (mapped.start_char, mapped.end_char) == (answer.start_char + shift, answer.end_char + shift)
    assert whatif.context[mapped.start_char : mapped.end_char] == answer.text
    assert mapped.status == "kept" and mapped.reason is None
    direct = _direct_probability(loaded, QUESTION, whatif.context, mapped.start_char, mapped.end_char, whatif.settings)
    assert mapped.probability == pytest.approx(direct, rel=1e-5)
    assert mapped.probability_change == pytest.approx(direct - answer.score, rel=1e-4, abs=1e-9)
    [changed] = [op for op in whatif.diff if op.tag != "equal"]
    assert (changed.original_text, changed.edited_text) == (word, token)
    # The same edit typed as a whole new context follows the answer to the same place.
    typed = reanswer(explanation, whatif.context)
    assert typed.original_answer == mapped and typed.top_k == whatif.top_k


def test_every_top_k_span_is_accounted_for_once(tiny_bert_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=())
    answer = explanation.answer
    whatif = reanswer(explanation, [replace(answer.start_char, answer.end_char, "Ada Lovelace")])
    changes = whatif.top_k_changes
    assert sorted(c.new_rank for c in changes if c.new_rank is not None) == list(range(len(whatif.top_k)))
    assert sorted(c.old_rank for c in changes if c.old_rank is not None) == list(range(len(explanation.top_k)))
    for change in changes:
        assert change.status in ("same", "moved", "entered", "left")
        if change.status == "entered":
            assert change.new_chars == (
                whatif.top_k[change.new_rank].start_char,
                whatif.top_k[change.new_rank].end_char,
            )
            if change.old_chars is not None:
                assert CONTEXT[slice(*change.old_chars)] == whatif.context[slice(*change.new_chars)]
        if change.status == "left":
            assert change.old_chars == (
                explanation.top_k[change.old_rank].start_char,
                explanation.top_k[change.old_rank].end_char,
            )
    assert whatif.original_answer.status == "edited" and "Ada Lovelace" in whatif.original_answer.reason
    json.dumps(whatif.to_dict(), allow_nan=False)


def test_reanswer_refuses_bad_edits_and_foreign_histories(tiny_bert_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=())
    with pytest.raises(ValueError, match="outside the context"):
        reanswer(explanation, delete(10, len(CONTEXT) + 1))
    with pytest.raises(ValueError, match="overlap"):
        reanswer(explanation, [delete(10, 20), delete(15, 25)])
    with pytest.raises(ValueError, match="context is empty"):
        reanswer(explanation, delete(0, len(CONTEXT)))
    with pytest.raises(ValueError, match="context is empty"):
        reanswer(explanation, "   ")
    with pytest.raises(ValueError, match="another context"):
        reanswer(explanation, EditHistory("Another text."))


def test_what_if_is_immutable_and_explains_on_request(tiny_bert_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, tiny_bert_dir, methods=())
    history = EditHistory(CONTEXT, mask_token="[MASK]").push(delete(0, 4)).push(mask(0, 6))
    whatif = reanswer(explanation, history)
    assert isinstance(whatif, WhatIf) and whatif.history is history
    assert whatif.context == "[MASK] Tower" + CONTEXT[len("The Eiffel Tower") :]
    with pytest.raises(AttributeError):
        whatif.answer = explanation.answer  # type: ignore[misc]
    full = whatif.to_explanation(methods=())
    assert full.context == whatif.context and full.answer == whatif.answer
    assert list(full.top_k) == list(whatif.top_k)
    assert full.attentions.shape[:2] == explanation.attentions.shape[:2]


def test_deleting_the_answer_changes_a_trained_models_answer(minilm_probe_dir: str) -> None:
    example = next(e for e in load_examples() if e.id == "estrand-01")
    explanation = core.explain(example.question, example.context, minilm_probe_dir, methods=())
    answer = explanation.answer
    assert answer.text == example.answer_text
    whatif = reanswer(explanation, delete(answer.start_char, answer.end_char))
    assert whatif.answer_changed and example.answer_text not in whatif.answer.text
    mapped = whatif.original_answer
    assert (mapped.start_char, mapped.end_char, mapped.probability) == (None, None, None)
    assert mapped.status == "deleted" and f"[{answer.start_char}, {answer.end_char})" in mapped.reason
    [left] = [c for c in whatif.top_k_changes if c.old_rank == 0]
    assert (left.status, left.new_score) == ("left", None)
    # Every old candidate containing the answer's text is gone too; none of the new ones contains it.
    assert all(example.answer_text not in span.text for span in whatif.top_k)
    assert sum(1 for c in whatif.top_k_changes if c.status == "entered") == len(whatif.top_k)
