"""core.trust.layerwise: the QA head on every layer's hidden states, and the span it picks at each depth."""

from __future__ import annotations

import json

import numpy as np
import pytest

import core
from core.fixtures import BUILTIN_SENTENCES

QUESTION = "Who designed the Eiffel Tower?"
CONTEXT = "The Eiffel Tower was completed in 1889 and is 330 metres tall. It was designed by Gustave Eiffel's company."


def _check_report(explanation: core.Explanation, report: core.LayerwiseReport, layers: int) -> None:
    count = explanation.num_tokens
    assert report.num_layers == layers
    assert report.start_probs.shape == report.end_probs.shape == (layers + 1, count)
    np.testing.assert_allclose(report.start_probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(report.end_probs.sum(axis=1), 1.0, atol=1e-5)
    assert [span.layer for span in report.spans] == list(range(layers + 1))
    context = {i for i, role in enumerate(explanation.roles) if role == "context"}
    for span in report.spans:
        assert span.start_token in context and span.end_token - 1 in context
        assert span.start_token < span.end_token
        assert 0.0 <= span.answer_probability <= 1.0
    last = report.spans[-1]
    answer = explanation.answer
    # The last layer's span is the model's answer, by the very same decoding rule.
    assert (last.start_token, last.end_token, last.text) == (answer.start_token, answer.end_token, answer.text)
    assert last.matches_answer
    assert last.score == pytest.approx(answer.score, rel=1e-5)
    assert last.answer_probability == pytest.approx(answer.score, rel=1e-4)
    assert report.answer_forms_at is not None and report.answer_forms_at <= layers
    assert all(span.matches_answer for span in report.spans[report.answer_forms_at :])
    if report.answer_forms_at > 0:
        assert not report.spans[report.answer_forms_at - 1].matches_answer
    # The final layer's logits are the model's logits.
    np.testing.assert_allclose(explanation.layer_start_logits[-1], explanation.start_logits, atol=1e-4)


def test_last_layer_picks_the_answer(tiny_qa_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, tiny_qa_dir, methods=())
    report = core.layer_answers(explanation)
    _check_report(explanation, report, layers=2)
    assert [(s.layer, s.start_token, s.end_token) for s in report.spans] == explanation.layer_spans()
    payload = json.loads(json.dumps(report.to_dict()))
    assert set(payload["spans"][0]) == {
        "layer",
        "start_token",
        "end_token",
        "text",
        "score",
        "answer_probability",
        "matches_answer",
    }
    assert "start_probs" not in report.to_dict(probabilities=False)


def test_a_real_encoder_changes_its_mind_across_layers(minilm_qa_dir: str) -> None:
    explanation = core.explain(QUESTION, CONTEXT, minilm_qa_dir, methods=())
    report = core.layer_answers(explanation)
    _check_report(explanation, report, layers=6)
    # The seeded head reads different spans from different depths of a real encoder.
    assert len({(s.start_token, s.end_token) for s in report.spans}) > 1


def test_answer_in_a_later_window(tiny_bert_dir: str) -> None:
    context = " ".join(BUILTIN_SENTENCES[:20])
    explanation = core.explain("How fast does light travel?", context, tiny_bert_dir, methods=())
    assert explanation.num_windows > 1
    report = core.layer_answers(explanation)
    _check_report(explanation, report, layers=2)
    last = report.spans[-1]
    assert context[explanation.answer.start_char : explanation.answer.end_char] == last.text
