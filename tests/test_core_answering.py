"""core.answering and the answer explain() picks: span rules, windows of a long context, odd scripts."""

from __future__ import annotations

import numpy as np
import pytest

import core
from core.answering import Span, best_spans, softmax
from core.encoding import Encoding, Window, encode
from core.passes import answer_logits, stacked_logits

QUESTION = "Where does the river flow?"


def _toy_encoding() -> Encoding:
    """[CLS] q q [SEP] c0 c1 c2 c3 [SEP] over the context 'aa bb cc dd'."""
    context = "aa bb cc dd"
    window = Window(
        input_ids=[0, 1, 2, 3, 4, 5, 6, 7, 3],
        token_type_ids=None,
        tokens=["[CLS]", "q1", "q2", "[SEP]", "aa", "bb", "cc", "dd", "[SEP]"],
        roles=["special", "question", "question", "special", "context", "context", "context", "context", "special"],
        offsets=[(0, 0), (0, 2), (3, 5), (0, 0), (0, 2), (3, 5), (6, 8), (9, 11), (0, 0)],
        word_ids=[None, 0, 1, None, 0, 1, 2, 3, None],
    )
    return Encoding(question="q1 q2", context=context, windows=(window,), max_length=9, stride=0)


def test_best_spans_skips_question_and_special_tokens_and_reversed_spans() -> None:
    encoding = _toy_encoding()
    start = np.full(9, -5.0, dtype=np.float32)
    end = np.full(9, -5.0, dtype=np.float32)
    start[[0, 1]] = 20.0  # [CLS] and a question token: never an answer
    end[[0, 2]] = 20.0
    start[6] = 4.0  # "cc"
    end[5] = 6.0  # "bb": ends before "cc" starts, so (cc, bb) is not a span
    end[7] = 3.0  # "dd"
    spans = best_spans(encoding, [start], [end], top_k=3)
    best = spans[0]
    assert (best.text, best.start_token, best.end_token) == ("cc dd", 6, 8)
    assert (best.start_char, best.end_char) == (6, 11)
    for span in spans:
        assert span.start_token < span.end_token
        assert span.text == encoding.context[span.start_char : span.end_char]
        assert all(role == "context" for role in encoding.windows[0].roles[span.start_token : span.end_token])
    assert [s.score for s in spans] == sorted((s.score for s in spans), reverse=True)
    # Scores are products of the two softmaxes over the whole window.
    expected = softmax(start)[6] * softmax(end)[7]
    assert best.score == pytest.approx(float(expected), rel=1e-5)


def test_best_spans_respects_the_answer_length_limit_and_top_k() -> None:
    encoding = _toy_encoding()
    start = np.zeros(9, dtype=np.float32)
    end = np.zeros(9, dtype=np.float32)
    start[4], end[7] = 5.0, 5.0  # best span is "aa bb cc dd", four tokens
    assert best_spans(encoding, [start], [end], max_answer_tokens=4)[0].text == "aa bb cc dd"
    limited = best_spans(encoding, [start], [end], max_answer_tokens=2, top_k=20)
    assert all(span.end_token - span.start_token <= 2 for span in limited)
    # 4 one-token spans + 3 two-token spans, all distinct.
    assert len(limited) == 7
    assert len({(s.start_char, s.end_char) for s in limited}) == 7
    with pytest.raises(ValueError, match="max_answer_tokens"):
        best_spans(encoding, [start], [end], max_answer_tokens=0)


def test_a_span_never_starts_or_ends_on_a_token_that_covers_no_characters() -> None:
    """A byte-level "Ġ" before an emoji has an empty span after the space; ending there would add the space."""
    context = "great \U0001f389 fun"
    window = Window(
        input_ids=[0, 1, 2, 3, 4, 5, 6, 2],
        token_type_ids=None,
        tokens=["<s>", "Ġq", "</s>", "Ġgreat", "Ġ", "ðŁİī", "Ġfun", "</s>"],
        roles=["special", "question", "special", "context", "context", "context", "context", "special"],
        offsets=[(0, 0), (0, 1), (0, 0), (0, 5), (6, 6), (6, 7), (8, 11), (0, 0)],
        word_ids=[None, 0, None, 0, 1, 1, 2, None],
    )
    encoding = Encoding(question="q", context=context, windows=(window,), max_length=8, stride=0)
    start = np.zeros(8, dtype=np.float32)
    end = np.zeros(8, dtype=np.float32)
    start[3], end[4] = 8.0, 9.0  # the model's favourite pair ends on the space token
    start[4] = 7.0
    end[5] = 5.0
    spans = best_spans(encoding, [start], [end], top_k=10)
    for span in spans:
        assert span.text == span.text.strip(), span
        assert window.offsets[span.start_token][1] > window.offsets[span.start_token][0]
        assert window.offsets[span.end_token - 1][1] > window.offsets[span.end_token - 1][0]
        assert (span.start_char, span.end_char) == (
            window.offsets[span.start_token][0],
            window.offsets[span.end_token - 1][1],
        )
    assert spans[0].text == "great \U0001f389"


def test_span_dict_round_trip() -> None:
    span = Span(text="bb", score=0.5, start_char=3, end_char=5, window=2, start_token=5, end_token=6)
    assert Span.from_dict(span.to_dict()) == span


def _long_context() -> str:
    towns = ["Alder", "Birch", "Cedar", "Dover", "Elm", "Fern", "Grove", "Heath", "Ivy", "Juniper", "Kestrel"]
    sentences = []
    for i in range(44):
        town = towns[i % len(towns)]
        sentences.append(f"In {1800 + 7 * i} the people of {town} built bridge number {i} over the river.")
    sentences.append("The river flows north into the cold sea beyond the harbour of Kestrel.")
    return " ".join(sentences)


def _brute_force_best(loaded: core.LoadedModel, encoding: Encoding, max_answer_tokens: int) -> tuple[float, int, int]:
    """Highest p_start * p_end over every window and every legal (start, end) pair, without core.answering."""
    starts, ends = stacked_logits(answer_logits(loaded, encoding.windows))
    best = (-1.0, -1, -1)
    for window, start_logits, end_logits in zip(encoding.windows, starts, ends, strict=True):
        p_start = np.exp(start_logits - start_logits.max())
        p_start /= p_start.sum()
        p_end = np.exp(end_logits - end_logits.max())
        p_end /= p_end.sum()
        # Legal ends of a span: context tokens that cover at least one character (not a lone byte-level space).
        context = [
            i
            for i, role in enumerate(window.roles)
            if role == "context" and window.offsets[i][1] > window.offsets[i][0]
        ]
        for i in context:
            for j in context:
                if i <= j < i + max_answer_tokens and float(p_start[i] * p_end[j]) > best[0]:
                    best = (float(p_start[i] * p_end[j]), window.offsets[i][0], window.offsets[j][1])
    return best


def test_context_three_times_the_limit_is_answered_across_windows(tiny_qa_dir: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    context = _long_context()
    assert len(loaded.tokenizer(context, add_special_tokens=False)["input_ids"]) >= 3 * loaded.max_length
    explanation = core.explain(QUESTION, context, loaded, methods=(), use_cache=False)
    assert explanation.num_windows > 3
    answer = explanation.answer
    assert answer.text == context[answer.start_char : answer.end_char]
    assert explanation.window_index == answer.window
    encoding = encode(loaded.tokenizer, QUESTION, context, max_length=explanation.settings["max_length"])
    assert len(encoding.windows) == explanation.num_windows
    window = encoding.windows[answer.window]
    # The explanation describes the answer's window, and the answer's tokens are context tokens there.
    assert explanation.tokens == window.tokens
    assert len(explanation.start_logits) == window.length <= loaded.max_length
    assert all(role == "context" for role in window.roles[answer.start_token : answer.end_token])
    assert window.offsets[answer.start_token][0] == answer.start_char
    assert window.offsets[answer.end_token - 1][1] == answer.end_char
    score, start_char, end_char = _brute_force_best(loaded, encoding, explanation.settings["max_answer_tokens"])
    assert answer.score == pytest.approx(score, rel=1e-4)
    assert (answer.start_char, answer.end_char) == (start_char, end_char)
    assert [span.score for span in explanation.top_k] == sorted((s.score for s in explanation.top_k), reverse=True)


def test_some_long_context_is_answered_from_a_late_window(tiny_model_dirs: dict[str, str]) -> None:
    """The search must not stop at the first window: over the three models and a few contexts, a later window wins."""
    context = _long_context()
    windows_used = set()
    for architecture in ("bert", "distilbert", "roberta"):
        loaded = core.load_model(tiny_model_dirs[architecture])
        for question in (QUESTION, "Which bridge was built first?", "Who lives by the cold sea?"):
            explanation = core.explain(question, context, loaded, methods=())
            windows_used.add(explanation.answer.window)
            assert explanation.answer.text == context[explanation.answer.start_char : explanation.answer.end_char]
    assert max(windows_used) > 0, windows_used


NON_LATIN = [
    ("東京の人口は?", "東京は日本の首都で、人口は約1400万人です。東京タワーは1958年に完成しました。"),
    ("Ποια είναι η πρωτεύουσα;", "Η Ελλάδα είναι χώρα της Ευρώπης και πρωτεύουσά της είναι η Αθήνα."),
    ("ما هي عاصمة مصر؟", "القاهرة هي عاصمة مصر وأكبر مدنها، وتقع على ضفاف نهر النيل."),
    ("What did the crowd do? 🎉", "The concert was great 🎉🎶 and the crowd 👏🏽 sang along until midnight 🌙."),
    (
        "Who\u200b moved to Mün\u200dchen?",
        "J\u00fcr\u200bgen mo\u200cved to M\u00fcn\u200dchen in 2015\u2060; the caf\u00e9\ufeff was great.",
    ),
    ("Wer zog nach Mu\u0308nchen?", "Ju\u0308rgen zog 2015 nach Mu\u0308nchen, sagte er."),
]


@pytest.mark.parametrize(("question", "context"), NON_LATIN, ids=["ja", "el", "ar", "emoji", "zero-width", "nfd"])
def test_non_latin_scripts_emoji_and_invisible_characters_get_an_answer(
    tiny_qa_dir: str, question: str, context: str
) -> None:
    explanation = core.explain(question, context, tiny_qa_dir, methods=("gradient",))
    for span in explanation.top_k:
        assert span.text == context[span.start_char : span.end_char]
        assert 0 <= span.start_char < span.end_char <= len(context)
    answer = explanation.answer
    assert answer.text.strip() == answer.text and answer.text
    assert np.isfinite(explanation.saliency["gradient"]["start"]).all()
