"""SQuAD 2.0 runs: the no-answer decision, and the summary as the official evaluation scripts compute it.

Two checks:

- a model whose no-answer decision is known exactly (its QA head is all zero, so every start and end logit is 0
  and every question's ``null_margin`` is exactly 0) runs a v2.0 file of answerable, unanswerable, failing and
  malformed records at a threshold below and above 0; every number of the summary is computed by hand here;
- a random tiny model's run, at a threshold that splits its questions, against a transcription of
  ``evaluate-v2.0.py`` (Rajpurkar et al., 2018) applied to ``core.explain``'s own answers and ``answers_null``.
"""

from __future__ import annotations

import collections
import json
import re
import string
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import core
from core.dataset import evaluate_rows, explain_dataset, load_run, read_rows
from core.dataset.evaluation import best_threshold
from core.fixtures import BUILTIN_SENTENCES

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LONG_QUESTION = " ".join(["which"] * 200) + "?"


def _squad(records: list[dict[str, Any]]) -> dict[str, Any]:
    paragraphs = [{"context": context, "qas": [qa]} for context, qa in records]
    return {"version": "v2.0", "data": [{"title": "Known", "paragraphs": paragraphs}]}


def _qa(qid: str, question: str, answer: str | None, start: int = 0) -> dict[str, Any]:
    if answer is None:
        return {"id": qid, "question": question, "answers": [], "is_impossible": True}
    return {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": start}]}


@pytest.fixture(scope="module")
def zero_head_dir(tiny_bert_dir: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The tiny BERT with a QA head of zeros: every logit is 0, so null_score == best_span_score exactly."""
    loaded = core.load_model(tiny_bert_dir)
    model = type(loaded.model).from_pretrained(tiny_bert_dir, use_safetensors=True)
    with torch.no_grad():
        model.qa_outputs.weight.zero_()
        model.qa_outputs.bias.zero_()
    out = tmp_path_factory.mktemp("zero-head")
    model.save_pretrained(out, safe_serialization=True)
    loaded.tokenizer.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="module")
def known_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Contexts of one token each (the tiny tokenizer keeps "river", "water" and "light" whole), so the only span
    is the whole context; three answerable, two unanswerable, one question too long to run, one malformed."""
    records = [
        ("river", _qa("has-river", "What flows?", "river")),
        ("water", _qa("has-water", "What is wet?", "water")),
        ("light", _qa("has-light", "What shines?", "LIGHT.")),
        ("river", _qa("no-river", "Who sings?", None)),
        ("water", _qa("no-water", "When is it?", None)),
        ("light", _qa("has-failed", LONG_QUESTION, "light")),
        ("water", _qa("malformed", "What is wet?", "water", start=3)),
    ]
    data = _squad(records)
    data["data"][0]["paragraphs"][2]["qas"][0]["answers"][0]["text"] = "light"  # offsets must match the context
    path = tmp_path_factory.mktemp("known") / "dev-v2.0.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_a_model_that_always_answers_and_one_that_always_abstains_score_as_computed_by_hand(
    zero_head_dir: str, known_file: Path, tmp_path: Path
) -> None:
    answering = explain_dataset(
        known_file, zero_head_dir, tmp_path / "answer", serial=True, null_threshold=0.5, progress=False
    )
    abstaining = explain_dataset(
        known_file, zero_head_dir, tmp_path / "abstain", serial=True, null_threshold=-0.5, progress=False
    )
    for summary in (answering, abstaining):
        assert summary.squad_version == "v2.0"
        assert (summary.n, summary.questions, summary.malformed, summary.failures, summary.answered) == (7, 6, 1, 1, 5)
    # Answering everything: the three answerable questions that ran are right, the two unanswerable wrong, and the
    # one that could not run scores 0. Six questions: EM 3/6; HasAns 3 of 4; NoAns 0 of 2.
    assert answering.em == pytest.approx(50.0) and answering.f1 == pytest.approx(50.0)
    assert answering.has_answer == {"exact": pytest.approx(75.0), "f1": pytest.approx(75.0), "total": 4}
    assert answering.no_answer == {"exact": 0.0, "f1": 0.0, "total": 2}
    # Abstaining everywhere: only the two unanswerable questions are right. EM 2/6; HasAns 0 of 4; NoAns 2 of 2.
    assert abstaining.em == pytest.approx(100 * 2 / 6) and abstaining.f1 == pytest.approx(100 * 2 / 6)
    assert abstaining.has_answer == {"exact": 0.0, "f1": 0.0, "total": 4}
    assert abstaining.no_answer == {"exact": 100.0, "f1": 100.0, "total": 2}
    # The best threshold (find_best_thresh): every margin is 0; start from "abstain on all" (2 right), answer in
    # margin order (file order on a tie): +1 +1 +1 (5 right, threshold 0), then -1 -1. Best: 5 of 6 at 0.
    for summary in (answering, abstaining):
        assert summary.best_exact == pytest.approx(100 * 5 / 6) and summary.best_exact_threshold == 0.0
        assert summary.best_f1 == pytest.approx(100 * 5 / 6) and summary.best_f1_threshold == 0.0
    rows = {row["id"]: row for row in read_rows(tmp_path / "abstain").to_pylist()}
    for qid in ("has-river", "has-water", "has-light", "no-river", "no-water"):
        row = rows[qid]
        assert row["null_margin"] == 0.0 and row["no_answer"] is True
        assert row["prediction"] == "" and row["prediction_start"] is None
        assert row["top_k"][0]["text"] == row["context"]  # the span it would have given
        assert row["em"] == (1.0 if qid.startswith("no-") else 0.0)
        assert row["span_em"] == (0.0 if qid.startswith("no-") else 1.0)
    assert rows["has-failed"]["error_kind"] == "failed" and rows["has-failed"]["em"] is None
    assert rows["malformed"]["error_kind"] == "malformed"
    answered = {row["id"]: row for row in read_rows(tmp_path / "answer").to_pylist()}
    assert answered["has-light"]["prediction"] == "light" and answered["has-light"]["no_answer"] is False
    assert answered["no-river"]["prediction"] == "river" and answered["no-river"]["em"] == 0.0
    page = load_run(tmp_path / "answer")
    assert page.summary == answering


def test_a_v1_run_never_abstains(zero_head_dir: str, tmp_path: Path) -> None:
    path = tmp_path / "dev-v1.1.json"
    data = _squad([("river", _qa("a", "What flows?", "river"))])
    data["version"] = "1.1"
    path.write_text(json.dumps(data), encoding="utf-8")
    summary = explain_dataset(path, zero_head_dir, tmp_path / "run", serial=True, null_threshold=-5, progress=False)
    row = read_rows(tmp_path / "run").to_pylist()[0]
    assert summary.squad_version == "v1.1" and summary.has_answer is None and summary.best_exact is None
    assert row["no_answer"] is False and row["prediction"] == "river" and summary.em == 100.0


# --- a transcription of the official evaluate-v2.0.py, to check the run against ---------------------------------


def _normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def _f1(gold: str, prediction: str) -> float:
    gold_tokens, predicted = _normalize(gold).split(), _normalize(prediction).split()
    if not gold_tokens or not predicted:
        return float(gold_tokens == predicted)
    same = sum((collections.Counter(gold_tokens) & collections.Counter(predicted)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _official(qas: list[dict[str, Any]], preds: dict[str, str], na_probs: dict[str, float], thresh: float) -> dict:
    has_ans = {qa["id"]: bool(qa["answers"]) for qa in qas}
    exact_raw, f1_raw = {}, {}
    for qa in qas:
        golds = [a["text"] for a in qa["answers"] if _normalize(a["text"])] or [""]
        exact_raw[qa["id"]] = max(float(_normalize(g) == _normalize(preds[qa["id"]])) for g in golds)
        f1_raw[qa["id"]] = max(_f1(g, preds[qa["id"]]) for g in golds)

    def thresholded(scores: dict[str, float]) -> dict[str, float]:
        return {q: float(not has_ans[q]) if na_probs[q] > thresh else s for q, s in scores.items()}

    def mean(scores: dict[str, float], ids: list[str]) -> float:
        return 100.0 * sum(scores[q] for q in ids) / len(ids)

    def best(scores: dict[str, float]) -> tuple[float, float | None]:
        current = best_score = sum(1 for q in has_ans if not has_ans[q])
        # The script starts from 0.0, a probability; in margin units "abstain on every question" has no finite
        # threshold, which the run reports as None (the only deviation from the script).
        best_thresh = None
        for q in sorted(na_probs, key=lambda k: na_probs[k]):
            current += scores[q] if has_ans[q] else (-1 if preds[q] else 0)
            if current > best_score:
                best_score, best_thresh = current, na_probs[q]
        return 100.0 * best_score / len(scores), best_thresh

    exact, f1 = thresholded(exact_raw), thresholded(f1_raw)
    ids = list(has_ans)
    yes = [q for q in ids if has_ans[q]]
    no = [q for q in ids if not has_ans[q]]
    return {
        "exact": mean(exact, ids),
        "f1": mean(f1, ids),
        "HasAns_exact": mean(exact, yes),
        "HasAns_f1": mean(f1, yes),
        "HasAns_total": len(yes),
        "NoAns_exact": mean(exact, no),
        "NoAns_f1": mean(f1, no),
        "NoAns_total": len(no),
        "best_exact": best(exact_raw),
        "best_f1": best(f1_raw),
    }


def test_a_run_scores_as_the_official_script_scores_core_explains_answers(tiny_bert_dir: str, tmp_path: Path) -> None:
    sentences = [sentence for sentence in BUILTIN_SENTENCES if len(sentence.split()) > 6][:18]
    loaded = core.load_model(tiny_bert_dir)
    records, margins, spans = [], {}, {}
    for index, sentence in enumerate(sentences):
        qid, question = f"q{index}", f"What about {sentence.split()[0]}?"
        explanation = core.explain(question, sentence, loaded, methods=())
        margins[qid] = explanation.null_score - explanation.best_span_score
        spans[qid] = answer = explanation.answer
        if index % 3 == 2:
            records.append((sentence, _qa(qid, question, None)))
        elif index % 3 == 0:  # the model's own span is the gold answer: right when it answers
            records.append((sentence, _qa(qid, question, answer.text, answer.start_char)))
        else:  # a gold answer elsewhere in the sentence: wrong, or partly right (F1)
            other = sentence.split()[-2]
            records.append((sentence, _qa(qid, question, other, sentence.rindex(other))))
    spans = {qid: span.text for qid, span in spans.items()}
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(_squad(records)), encoding="utf-8")
    threshold = float(np.median(list(margins.values())))
    summary = explain_dataset(
        path, tiny_bert_dir, tmp_path / "run", serial=True, null_threshold=threshold, progress=False
    )
    rows = {row["id"]: row for row in read_rows(tmp_path / "run").to_pylist()}
    qas = [qa for _context, qa in records]
    for qa in qas:
        row = rows[qa["id"]]
        assert row["null_margin"] == pytest.approx(margins[qa["id"]], abs=1e-4)
        assert row["no_answer"] == (margins[qa["id"]] > threshold)
        assert row["prediction"] == ("" if row["no_answer"] else spans[qa["id"]])
    official = _official(qas, spans, margins, threshold)
    assert 0 < sum(row["no_answer"] for row in rows.values()) < len(rows), "the threshold splits nothing"
    assert official["best_exact"][1] is not None, "the best threshold is 'abstain everywhere': a weak check"
    assert summary.em == pytest.approx(official["exact"]) and summary.f1 == pytest.approx(official["f1"])
    assert summary.has_answer == {
        "exact": pytest.approx(official["HasAns_exact"]),
        "f1": pytest.approx(official["HasAns_f1"]),
        "total": official["HasAns_total"],
    }
    assert summary.no_answer == {
        "exact": pytest.approx(official["NoAns_exact"]),
        "f1": pytest.approx(official["NoAns_f1"]),
        "total": official["NoAns_total"],
    }
    assert summary.best_exact == pytest.approx(official["best_exact"][0])
    assert summary.best_exact_threshold == (
        None if official["best_exact"][1] is None else pytest.approx(official["best_exact"][1], abs=1e-4)
    )
    assert summary.best_f1 == pytest.approx(official["best_f1"][0])
    assert summary.best_f1_threshold == (
        None if official["best_f1"][1] is None else pytest.approx(official["best_f1"][1], abs=1e-4)
    )


def test_the_evaluation_counts_failures_as_zero_and_malformed_records_apart() -> None:
    rows = {
        "em": np.array([1.0, np.nan, np.nan, 0.0]),
        "f1": np.array([1.0, np.nan, np.nan, 0.5]),
        "error_kind": np.array([None, "failed", "malformed", None], dtype=object),
        "is_impossible": np.array([False, False, None, False], dtype=object),
    }
    evaluation = evaluate_rows(rows, "v1.1")
    assert (evaluation.questions, evaluation.failures, evaluation.malformed) == (3, 1, 1)
    assert evaluation.overall.exact == pytest.approx(100 / 3) and evaluation.overall.f1 == pytest.approx(50.0)


def test_a_run_with_integrated_gradients_flags_rows_that_did_not_converge(tiny_bert_dir: str, tmp_path: Path) -> None:
    path = tmp_path / "dev.json"
    sentence = BUILTIN_SENTENCES[4]
    path.write_text(
        json.dumps(_squad([(sentence, _qa("a", "What is the capital?", "Tokyo", sentence.index("Tokyo")))])),
        encoding="utf-8",
    )
    one_level = explain_dataset(
        path,
        tiny_bert_dir,
        tmp_path / "one",
        serial=True,
        methods=["integrated_gradients"],
        ig_steps=6,
        ig_max_steps=6,
        progress=False,
    )
    refined = explain_dataset(
        path, tiny_bert_dir, tmp_path / "refined", serial=True, methods=["integrated_gradients"], progress=False
    )
    first = read_rows(tmp_path / "one").to_pylist()[0]
    second = read_rows(tmp_path / "refined").to_pylist()[0]
    assert first["ig_converged"] is False and first["ig_nodes"] == 6  # one level has no error estimate
    assert one_level.ig_unconverged == 1
    explanation = core.explain("What is the capital?", sentence, tiny_bert_dir, methods=("integrated_gradients",))
    assert second["ig_converged"] == all(explanation.ig_converged[t] for t in ("start", "end"))
    assert second["ig_nodes"] == max(explanation.ig_steps[t] for t in ("start", "end"))
    assert refined.ig_unconverged == (0 if second["ig_converged"] else 1)
    assert load_run(tmp_path / "one").rows["ig_converged"].tolist() == [False]


def test_the_best_threshold_is_the_official_sweep_ties_keeping_the_first() -> None:
    # Abstaining everywhere gets the one unanswerable question right (1). Answering in margin order: q0 (+1, 2 at
    # -2), q1 (+0: a tie, the script keeps -2), q2 (unanswerable: -1). Best 2 of 4 (one question failed) at -2.
    score, threshold = best_threshold(
        np.array([1.0, 0.0, 0.0]), np.array([-2.0, -1.0, 3.0]), np.array([True, True, False]), questions=4
    )
    assert (score, threshold) == (50.0, -2.0)
    assert best_threshold(np.array([0.0]), np.array([0.5]), np.array([True]), questions=1) == (0.0, None)


def test_two_runs_compare_with_the_flips_known_by_construction(
    zero_head_dir: str, known_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A answers everything, B abstains everywhere (same model, same file): the answerable questions that ran are
    right only in A (3), the unanswerable ones only in B (2), the one that could not run is wrong in both."""
    from core.cli import main as cli_main
    from core.dataset import RunsDifferError, Slice, compare_runs, save_slice

    a, b = tmp_path / "a", tmp_path / "b"
    explain_dataset(known_file, zero_head_dir, a, serial=True, null_threshold=0.5, progress=False)
    explain_dataset(known_file, zero_head_dir, b, serial=True, null_threshold=-0.5, progress=False)
    save_slice(a, Slice("unanswerable", "is_impossible == true"), load_run(a).rows)
    comparison = compare_runs(a, b, resamples=500)
    assert comparison.questions == 6
    assert comparison.flips == {"both right": 0, "A only": 3, "B only": 2, "both wrong": 1}
    assert (comparison.em_a, comparison.em_b) == (pytest.approx(50.0), pytest.approx(100 * 2 / 6))
    assert comparison.delta_em == pytest.approx(100 * (2 - 3) / 6)
    assert comparison.delta_em_low <= comparison.delta_em <= comparison.delta_em_high
    flips = comparison.examples.set_index("id")["flip"].to_dict()
    assert flips == {
        "has-river": "A only",
        "has-water": "A only",
        "has-light": "A only",
        "no-river": "B only",
        "no-water": "B only",
        "has-failed": "both wrong",
    }
    [unanswerable] = comparison.slices
    assert (unanswerable.count, unanswerable.delta_f1) == (2, pytest.approx(100.0))
    assert cli_main(["dataset", "compare", str(a), str(b), "--out", str(tmp_path / "cmp")]) == 0
    printed = capsys.readouterr().out
    assert "flips: both right 0  A only 3  B only 2  both wrong 1" in printed
    assert json.loads((tmp_path / "cmp" / "comparison.json").read_text())["flips"]["A only"] == 3
    other = tmp_path / "other.json"
    data = json.loads(known_file.read_text())
    data["data"][0]["title"] = "Changed"
    other.write_text(json.dumps(data))
    explain_dataset(other, zero_head_dir, tmp_path / "c", serial=True, progress=False)
    with pytest.raises(RunsDifferError, match="different data"):
        compare_runs(a, tmp_path / "c")
    assert cli_main(["dataset", "compare", str(a), str(tmp_path / "c")]) == 2
    assert "different data" in capsys.readouterr().err
