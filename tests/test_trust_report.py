"""core.trust.report and ``python -m core report``: the trust report's JSON holds the documented keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import core
from core.cli import main
from core.trust.faithfulness import RANDOM
from core.trust.importance import DEFAULT_EXPLAINERS
from tests.full_disk import fill_the_disk

QUESTION = "Who designed the tower?"
CONTEXT = "The Eiffel Tower was completed in 1889 and is 330 metres tall. It was designed by Gustave Eiffel's company."
METRICS = {"deletion_aopc", "insertion_aopc", "comprehensiveness", "sufficiency"}


def test_cli_report_with_two_models_has_the_documented_keys(
    tmp_path: Path, tiny_bert_dir: str, tiny_roberta_dir: str, capsys: pytest.CaptureFixture[str]
) -> None:
    context_file = tmp_path / "context.txt"
    context_file.write_text(CONTEXT, encoding="utf-8")
    out = tmp_path / "out" / "report.json"
    code = main(
        [
            "report",
            "--model",
            tiny_bert_dir,
            "--model",
            tiny_roberta_dir,
            "--question",
            QUESTION,
            "--context",
            f"@{context_file}",
            "--out",
            str(out),
            "--sanity-ig-steps",
            "2",
            "--random-orders",
            "2",
            "--ig-max-steps",
            "8",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "wrote" in printed and "agreement" in printed
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["format"] == "qa-lens/trust-report"
    assert (report["question"], report["context"]) == (QUESTION, CONTEXT)
    assert list(report["models"]) == [tiny_bert_dir, tiny_roberta_dir]
    for name, model in report["models"].items():
        loaded = core.load_model(name)
        assert {"answer", "faithfulness", "sanity", "layers"} <= set(model)
        assert {"text", "score", "start_char", "end_char", "start_token", "end_token"} <= set(model["answer"])
        assert set(model["faithfulness"]) == {*DEFAULT_EXPLAINERS, RANDOM}
        for entry in model["faithfulness"].values():
            assert set(entry) >= METRICS
            assert all(isinstance(entry[key], float) for key in METRICS)
        settings = model["faithfulness_settings"]
        assert settings["replacement_token"] == loaded.tokenizer.mask_token
        assert settings["random_orders"] == 2 and settings["forward_passes"] > 0
        steps = model["sanity_details"]["steps"]
        assert steps == ["qa_outputs", "layer 1", "layer 0", "embeddings"]
        assert set(model["sanity"]) == set(core.DEFAULT_METHODS)
        assert all(len(values) == len(steps) for values in model["sanity"].values())
        layers = model["layers"]
        assert [layer["layer"] for layer in layers] == [0, 1, 2]
        assert {"layer", "start_token", "end_token"} <= set(layers[0])
        assert (layers[-1]["start_token"], layers[-1]["end_token"]) == (
            model["answer"]["start_token"],
            model["answer"]["end_token"],
        )
        assert len(model["word_saliency"]["integrated_gradients"]) == len(report["words"])
    assert set(report["agreement"]) == set(DEFAULT_EXPLAINERS)
    for pairs in report["agreement"].values():
        assert [(p["a"], p["b"]) for p in pairs] == [(tiny_bert_dir, tiny_roberta_dir)]
        assert pairs[0]["spearman"] is None or -1.0 <= pairs[0]["spearman"] <= 1.0


def test_build_report_with_one_model_has_no_agreement(tiny_distilbert_dir: str) -> None:
    report = core.build_report(
        QUESTION,
        CONTEXT,
        [tiny_distilbert_dir],
        explainers=("gradient", "attention_rollout"),
        sanity=False,
        random_orders=1,
    )
    payload = report.to_dict()
    assert "agreement" not in payload and "words" not in payload
    model = payload["models"][tiny_distilbert_dir]
    assert set(model["faithfulness"]) == {"gradient", "attention_rollout", RANDOM}
    assert "sanity" not in model
    json.dumps(payload, allow_nan=False)


def test_cli_report_refuses_bad_input(tmp_path: Path, tiny_bert_dir: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "report.json"
    code = main(["report", "--model", tiny_bert_dir, "--question", QUESTION, "--out", str(out)])
    assert code == 2 and "--context" in capsys.readouterr().err
    code = main(
        [
            "report",
            "--model",
            tiny_bert_dir,
            "--question",
            QUESTION,
            "--context",
            CONTEXT,
            "--out",
            str(out),
            "--explainers",
            "deeplift",
        ]
    )
    assert code == 2 and "Unknown explainer" in capsys.readouterr().err
    assert not out.exists()


def test_report_save_that_fails_midway_leaves_no_half_written_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    report = core.Report(question=QUESTION, context=CONTEXT * 4, models={}, comparison=None, seconds=0.0)
    fill_the_disk(monkeypatch)
    out = tmp_path / "report.json"
    with pytest.raises(OSError, match="No space left"):
        report.save(out)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    assert json.loads(report.save(out).read_text(encoding="utf-8"))["question"] == QUESTION


def test_the_report_can_hold_head_importance(tiny_bert_dir: str, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    code = main(
        [
            "report",
            "--model",
            tiny_bert_dir,
            "--question",
            QUESTION,
            "--context",
            CONTEXT,
            "--out",
            str(out),
            "--no-sanity",
            "--random-orders",
            "1",
            "--heads",
        ]
    )
    assert code == 0
    heads = json.loads(out.read_text())["models"][tiny_bert_dir]["heads"]
    loaded = core.load_model(tiny_bert_dir)
    assert len(heads["ablation"]) == loaded.num_layers and len(heads["ablation"][0]) == loaded.num_heads
