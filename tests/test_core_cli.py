"""``python -m core explain``: prints the answer, writes a loadable Explanation, fails cleanly with exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import core
from core.cli import main

QUESTION = "Who moved to München in 2015?"
CONTEXT = "Jürgen moved to München in 2015; he said the café near the old station was great."
REPO = Path(__file__).resolve().parent.parent


def test_cli_in_process_prints_the_answer_and_writes_the_explanation(
    tiny_bert_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "explanation.npz"
    code = main(["explain", "--model", tiny_bert_dir, "--question", QUESTION, "--context", CONTEXT, "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 0, printed.err
    saved = core.Explanation.load(out)
    expected = core.explain(QUESTION, CONTEXT, tiny_bert_dir)
    assert saved.answer == expected.answer
    assert set(saved.saliency) == set(core.METHODS)
    assert f"answer: {saved.answer.text!r}" in printed.out
    assert f"chars: {saved.answer.start_char}-{saved.answer.end_char}" in printed.out
    assert "integrated gradients convergence delta" in printed.out
    assert f"wrote {out}" in printed.out


def test_cli_reads_the_context_from_a_file_and_takes_methods(
    tiny_roberta_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    context_file = tmp_path / "context.txt"
    context_file.write_text(CONTEXT, encoding="utf-8")
    out = tmp_path / "explanation.json"
    code = main(
        [
            "explain",
            "--model",
            tiny_roberta_dir,
            "--question",
            QUESTION,
            "--context",
            f"@{context_file}",
            "--methods",
            "gradient, gradient_x_input",
            "--top-k",
            "2",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr()
    assert code == 0, printed.err
    saved = core.Explanation.load(out)
    assert saved.context == CONTEXT
    assert set(saved.saliency) == {"gradient", "gradient_x_input"}
    assert len(saved.top_k) == 2
    assert "convergence delta" not in printed.out
    assert "#2:" in printed.out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--question", "  ", "--context", CONTEXT], "The question is empty"),
        (["--question", QUESTION, "--context", "\u200b"], "The context is empty"),
        (["--question", QUESTION], "Give --question and --context"),
        (["--question", QUESTION, "--context", CONTEXT, "--methods", "lime"], "Unknown saliency method"),
        (["--question", QUESTION, "--context", "@/no/such/context.txt"], "context.txt"),
    ],
    ids=["blank-question", "invisible-context", "missing-context", "unknown-method", "missing-file"],
)
def test_cli_bad_input_exits_2_with_a_clear_message(
    tiny_bert_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    out = tmp_path / "never.json"
    code = main(["explain", "--model", tiny_bert_dir, *extra, "--out", str(out)])
    printed = capsys.readouterr()
    assert code == 2
    assert printed.err.startswith("error: ")
    assert message in printed.err
    assert "Traceback" not in printed.err
    assert not out.exists()


def test_cli_missing_model_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing-model"
    code = main(["explain", "--model", str(missing), "--question", QUESTION, "--context", CONTEXT, "--out", "x.json"])
    printed = capsys.readouterr()
    assert code == 2
    assert str(missing) in printed.err


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "core", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_as_a_subprocess(tiny_distilbert_dir: str, tmp_path: Path) -> None:
    out = tmp_path / "explanation.json"
    ok = _run(
        ["explain", "--model", tiny_distilbert_dir, "--question", QUESTION, "--context", CONTEXT, "--out", str(out)]
    )
    assert ok.returncode == 0, ok.stderr
    saved = core.Explanation.load(out)
    assert saved.answer == core.explain(QUESTION, CONTEXT, tiny_distilbert_dir).answer
    assert f"answer: {saved.answer.text!r}" in ok.stdout
