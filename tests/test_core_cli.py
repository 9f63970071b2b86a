"""``python -m core explain``: prints the answer, writes a loadable Explanation, fails cleanly with exit code 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import core
from core.cli import main
from tests.damaged_checkpoints import DAMAGES, damaged_copy
from tests.full_disk import fill_the_disk

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
    assert set(saved.saliency) == set(core.DEFAULT_METHODS)
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
        (["--question", QUESTION, "--context", CONTEXT, "--methods", "deeplift"], "Unknown saliency method"),
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


def test_cli_as_a_subprocess_prints_nothing_on_stderr(tiny_distilbert_dir: str, tmp_path: Path) -> None:
    """Regression: captum's "Input Tensor 0 did not already require gradients" warning was printed on every run."""
    out = tmp_path / "explanation.json"
    ok = _run(
        ["explain", "--model", tiny_distilbert_dir, "--question", QUESTION, "--context", CONTEXT, "--out", str(out)]
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stderr == ""
    saved = core.Explanation.load(out)
    assert saved.answer == core.explain(QUESTION, CONTEXT, tiny_distilbert_dir).answer
    assert f"answer: {saved.answer.text!r}" in ok.stdout


def test_cli_as_a_subprocess_refuses_a_question_that_is_not_utf8(tiny_bert_dir: str, tmp_path: Path) -> None:
    """The real argv path: the byte 0xff reaches Python as U+DCFF (surrogateescape); it used to leak a TypeError."""
    out = tmp_path / "never.json"
    question = os.fsdecode(b"Who built it\xff?")
    failed = _run(
        ["explain", "--model", tiny_bert_dir, "--question", question, "--context", CONTEXT, "--out", str(out)]
    )
    assert failed.returncode == 2
    assert failed.stderr.count("\n") == 1, failed.stderr
    assert failed.stderr.startswith("error: --question is not valid UTF-8 (byte 0xff at character 12)")
    assert "rejected, not repaired" in failed.stderr
    assert not out.exists()


def _assert_fails_cleanly(code: int, err: str, *fragments: str) -> None:
    """Exit code 2 and exactly one line on stderr, naming the problem (every fragment), never a traceback."""
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err


def _context_file(tmp_path: Path, kind: str) -> Path:
    if kind == "directory":
        return tmp_path
    if kind == "missing":
        return tmp_path / "missing.txt"
    path = tmp_path / "latin1.txt"
    path.write_bytes(CONTEXT.encode("latin-1", errors="replace"))
    return path


CONTEXT_FILE_PROBLEMS = {
    "directory": "is a directory; put a text file after the @",
    "missing": "no such file. Check the path",
    "not-utf8": "is not UTF-8 text (byte 0xfc at offset 1). Convert it",
}


@pytest.mark.parametrize("command", ["explain", "report"])
@pytest.mark.parametrize("kind", list(CONTEXT_FILE_PROBLEMS))
def test_cli_context_file_problems_exit_2_with_one_line(
    tiny_bert_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, kind: str
) -> None:
    """Regression: a directory after @ leaked IsADirectoryError (exit 1); the others printed bare OS messages."""
    out = tmp_path / "out.json"
    source = _context_file(tmp_path, kind)
    code = main(
        [command, "--model", tiny_bert_dir, "--question", QUESTION, "--context", f"@{source}", "--out", str(out)]
    )
    _assert_fails_cleanly(code, capsys.readouterr().err, f"--context @{source}", CONTEXT_FILE_PROBLEMS[kind])
    assert not out.exists()


@pytest.mark.parametrize("command", ["explain", "report"])
def test_cli_unreadable_context_file_exits_2(
    tiny_bert_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    source = tmp_path / "secret.txt"
    source.write_text(CONTEXT, encoding="utf-8")
    source.chmod(0)
    try:
        if os.access(source, os.R_OK):
            pytest.skip("this user (root) can read a file with no permissions")
        code = main(
            [command, "--model", tiny_bert_dir, "--question", QUESTION, "--context", f"@{source}", "--out", "x"]
        )
        _assert_fails_cleanly(code, capsys.readouterr().err, "permission denied. Make the file readable")
    finally:
        source.chmod(0o600)


def test_cli_context_file_keeps_its_text_and_newlines(
    tiny_bert_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "windows.txt"
    source.write_bytes(b"Line one.\r\nJ\xc3\xbcrgen moved to M\xc3\xbcnchen.\r\n")
    out = tmp_path / "e.json"
    context = ["--context", f"@{source}"]
    code = main(
        ["explain", "--model", tiny_bert_dir, "--question", QUESTION, *context, "--methods", "", "--out", str(out)]
    )
    assert code == 0, capsys.readouterr().err
    assert core.Explanation.load(out).context == "Line one.\nJürgen moved to München.\n"


@pytest.mark.parametrize("option", ["--question", "--context"])
def test_cli_argument_that_is_not_utf8_exits_2(
    tiny_bert_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str
) -> None:
    """Undecodable argv bytes arrive as lone surrogates; they are rejected with the byte, not replaced."""
    texts = {"--question": QUESTION, "--context": CONTEXT, option: "caf\udce9 au lait?"}
    out = tmp_path / "never.json"
    inputs = ["--question", texts["--question"], "--context", texts["--context"]]
    code = main(["explain", "--model", tiny_bert_dir, *inputs, "--out", str(out)])
    _assert_fails_cleanly(code, capsys.readouterr().err, f"{option} is not valid UTF-8 (byte 0xe9 at character 3)")
    assert not out.exists()


def _out_path(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """An --out that cannot be written, and what the message must say."""
    if kind == "directory":
        return tmp_path, f"--out {tmp_path} is a directory; give a file path such as"
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way", encoding="utf-8")
    return blocker / "sub" / "out.json", f"{blocker} is a file, not a directory"


@pytest.mark.parametrize("command", ["explain", "report"])
@pytest.mark.parametrize("kind", ["directory", "file-in-the-way"])
def test_cli_unwritable_out_exits_2_before_running_the_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: str, kind: str
) -> None:
    """Regression: an --out directory leaked IsADirectoryError (exit 1) after the whole computation."""
    monkeypatch.setattr("core.cli.explain", _must_not_run)
    monkeypatch.setattr("core.cli.build_report", _must_not_run)
    out, message = _out_path(tmp_path, kind)
    code = main([command, "--model", "unused", "--question", QUESTION, "--context", CONTEXT, "--out", str(out)])
    _assert_fails_cleanly(code, capsys.readouterr().err, message)


def _must_not_run(*args: object, **kwargs: object) -> None:
    raise AssertionError("the model ran although --out cannot be written")


def test_cli_out_in_a_directory_without_write_permission_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("core.cli.explain", _must_not_run)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("this user (root) can write in a directory with no write permission")
        code = main(["explain", "--question", QUESTION, "--context", CONTEXT, "--out", str(locked / "new" / "e.json")])
        _assert_fails_cleanly(code, capsys.readouterr().err, f"cannot write in {locked} (permission denied)")
    finally:
        locked.chmod(0o700)


def test_cli_creates_missing_parent_directories_of_out(
    tiny_bert_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A missing parent is not an error: saving creates it, as ``Explanation.save`` does."""
    out = tmp_path / "runs" / "today" / "e.json"
    inputs = ["--question", QUESTION, "--context", CONTEXT, "--methods", ""]
    code = main(["explain", "--model", tiny_bert_dir, *inputs, "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert core.Explanation.load(out).question == QUESTION


@pytest.mark.parametrize("command", ["explain", "report"])
def test_cli_full_disk_exits_2_and_leaves_nothing_behind(
    tiny_bert_dir: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: str,
) -> None:
    fill_the_disk(monkeypatch)
    folder = tmp_path / "results"
    out = folder / "out.json"
    quick = ["--methods", "gradient"] if command == "explain" else ["--explainers", "gradient", "--no-sanity"]
    code = main(
        [command, "--model", tiny_bert_dir, "--question", QUESTION, "--context", CONTEXT, *quick, "--out", str(out)]
    )
    _assert_fails_cleanly(
        code, capsys.readouterr().err, f"Could not write --out {out}: the disk is full", "Nothing was written"
    )
    assert list(folder.iterdir()) == []


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_cli_damaged_checkpoint_exits_2(
    tiny_bert_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], damage: str
) -> None:
    model = damaged_copy(tiny_bert_dir, tmp_path, damage)
    out = tmp_path / "never.json"
    code = main(["explain", "--model", str(model), "--question", QUESTION, "--context", CONTEXT, "--out", str(out)])
    err = capsys.readouterr().err
    _assert_fails_cleanly(code, err, str(model))
    assert re.search(DAMAGES[damage], err)
    assert not out.exists()


def test_explain_warns_when_integrated_gradients_did_not_converge(tiny_bert_dir: str, tmp_path: Path, capsys) -> None:
    code = main(
        [
            "explain",
            "--model",
            tiny_bert_dir,
            "--question",
            "Who designed it?",
            "--context",
            "It was designed by Gustave Eiffel in Paris.",
            "--out",
            str(tmp_path / "a.json"),
            "--ig-max-steps",
            "2",
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "integrated gradients: 2 path points" in printed
    assert "did not converge" in printed and "--ig-max-steps" in printed
    assert core.Explanation.load(tmp_path / "a.json").ig_converged == {"start": False, "end": False}
