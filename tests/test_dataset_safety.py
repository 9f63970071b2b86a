"""Nothing of the user's is lost, nothing damaged goes unexplained: the probe's cases as tests.

- ``--overwrite`` and resume remove only the files the manifest says the run wrote; a folder that is not a
  QA Lens run (no manifest, another tool's manifest, a damaged one) is refused, overwrite or not;
- every damaged run directory in ``DAMAGED`` makes ``load_run`` raise one message naming the file and what is
  wrong (``tests/browser`` opens the same catalogue on the Dataset page);
- every number option of ``python -m core dataset run`` is refused as the library refuses it, in one line;
- Ctrl-C in a terminal prints one line, and no worker prints a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.cli import main as cli_main
from core.dataset import NotARunError, RunDamagedError, explain_dataset, load_run, read_rows
from core.dataset.schema import part_path
from tests.damaged_runs import DAMAGED, damage

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "data" / "examples.json"

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _run(tiny_bert_dir: str, out: Path, **options: object) -> None:
    explain_dataset(EXAMPLES, tiny_bert_dir, out, serial=True, limit=6, partition_size=2, progress=False, **options)


@pytest.fixture(scope="module")
def finished_run(tiny_bert_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    _run(tiny_bert_dir, out, keep_ids=["vellmoor-01"])
    return out


def _users_files(root: Path) -> dict[Path, bytes]:
    """What a user might keep in a run's folder: notes in every folder, a subfolder, dotfiles."""
    files = {
        root / "notes.txt": b"my notes",
        root / ".notes.npz": b"not a temporary file of the run",
        root / ".hidden.tmp": b"mine too",
        root / "parts" / "README.md": b"about the parts",
        root / "parts" / "mine" / "kept.parquet": b"a subfolder of mine",
        root / "parts" / ".part-00000.parquet.backup": b"a backup of mine",
        root / "explanations" / "favourite.npz": b"an explanation I saved",
    }
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return files


def test_overwrite_removes_only_the_runs_own_files(tiny_bert_dir: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    _run(tiny_bert_dir, out, keep_ids=["vellmoor-01"])
    mine = _users_files(out)
    leftover = out / "parts" / f".part-00001.parquet.{'0' * 32}.tmp"
    leftover.write_bytes(b"a killed write")
    with pytest.raises(ValueError, match="--overwrite"):
        _run(tiny_bert_dir, out, methods=("gradient",))
    _run(tiny_bert_dir, out, methods=("gradient",), overwrite=True)
    assert {path: path.read_bytes() for path in mine} == mine, "a file of the user's was changed or deleted"
    assert not leftover.exists()
    assert not (out / "explanations" / "vellmoor-01.npz").exists(), "the old run's kept explanation stayed"
    run = load_run(out)
    assert run.manifest["settings"]["methods"] == ["gradient"] and len(run.rows) == 6


def test_a_resume_removes_only_the_runs_temporary_files(tiny_bert_dir: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    _run(tiny_bert_dir, out)
    part_path(out, 2).unlink()
    mine = _users_files(out)
    leftovers = [
        out / "parts" / f".part-00002.parquet.{'a' * 32}.tmp",
        out / f".summary.json.{'b' * 32}.tmp",
    ]
    for path in leftovers:
        path.write_bytes(b"half written")
    _run(tiny_bert_dir, out)
    assert {path: path.read_bytes() for path in mine} == mine
    assert not any(path.exists() for path in leftovers)
    assert len(read_rows(out)) == 6


@pytest.mark.parametrize(
    "manifest",
    [
        '{"format": "some-other-tool/v3", "files": ["summary.json"]}',
        "[1, 2, 3]",
        "{ not json",
        '{"format": "qa-lens/dataset-run", "version": 2, "partitions": 5}',
    ],
    ids=["another-tools-manifest", "a-list", "invalid-json", "a-damaged-qa-lens-manifest"],
)
def test_a_folder_that_is_not_a_readable_run_is_never_overwritten(
    tiny_bert_dir: str, tmp_path: Path, manifest: str
) -> None:
    out = tmp_path / "theirs"
    (out / "parts").mkdir(parents=True)
    files = {
        out / "manifest.json": manifest.encode(),
        out / "summary.json": b'{"theirs": true}',
        out / "heads.parquet": b"their parquet",
        out / "parts" / "part-00000.parquet": b"their partition",
    }
    for path, content in files.items():
        path.write_bytes(content)
    for overwrite in (False, True):
        with pytest.raises(ValueError, match="another --out") as refused:
            _run(tiny_bert_dir, out, overwrite=overwrite)
        assert "--overwrite" not in str(refused.value) or "not" in str(refused.value)
        assert {path: path.read_bytes() for path in files} == files


def test_a_folder_without_a_manifest_is_refused_and_left_alone(tiny_bert_dir: str, tmp_path: Path) -> None:
    out = tmp_path / "folder"
    out.mkdir()
    (out / "photo.jpg").write_bytes(b"jpeg")
    with pytest.raises(NotARunError, match="not a QA Lens run"):
        _run(tiny_bert_dir, out, overwrite=True)
    assert [path.name for path in out.iterdir()] == ["photo.jpg"]


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_every_damaged_run_says_which_file_and_what_is_wrong(finished_run: Path, tmp_path: Path, case: str) -> None:
    copy = tmp_path / "run"
    subprocess.run(["cp", "-r", str(finished_run), str(copy)], check=True)
    path = damage(copy, case)
    with pytest.raises((RunDamagedError, NotARunError, FileNotFoundError)) as caught:
        load_run(copy)
    message = str(caught.value)
    assert str(path) in message, message
    assert DAMAGED[case].lower() in message.lower(), (case, message)
    assert "Traceback" not in message and len(message) < 600


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--partition-size", "0", "partition_size must be at least 1"),
        ("--partition-size", "-3", "partition_size must be at least 1"),
        ("--limit", "-1", "limit must be 0 or more"),
        ("--workers", "0", "workers must be at least 1"),
        ("--top-k", "0", "top_k must be at least 1"),
        ("--max-length", "0", "max_length must be at least 1"),
        ("--stride", "-1", "stride must be at least 0"),
        ("--null-threshold", "nan", "null_threshold must be a finite number"),
    ],
)
def test_every_number_option_is_refused_as_the_library_refuses_it(
    tiny_bert_dir: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    command = ["dataset", "run", str(EXAMPLES), "--model", tiny_bert_dir, "--out", str(tmp_path / "out")]
    engine = [] if option == "--workers" else ["--serial"]
    assert cli_main([*command, *engine, "--no-progress", option, value]) == 2
    error = capsys.readouterr().err.strip()
    assert error.startswith("error: ") and message in error and "\n" not in error
    assert not (tmp_path / "out").exists()


def test_ctrl_c_prints_one_line_and_no_worker_traceback(tiny_bert_dir: str, tmp_path: Path) -> None:
    """A terminal's Ctrl-C sends SIGINT to the whole foreground group: the run and its embedded workers."""
    out = tmp_path / "run"
    command = [sys.executable, "-m", "core", "dataset", "run", str(EXAMPLES), "--model", tiny_bert_dir]
    command += ["--out", str(out), "--workers", "2", "--partition-size", "2"]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 240
        while not part_path(out, 0).exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be interrupted"
        os.killpg(process.pid, signal.SIGINT)
        _stdout, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    messages = [line for line in stderr.splitlines() if line.strip() and "partitions:" not in line]
    assert [line for line in messages if not line.startswith("Dask dashboard:")] == [
        "interrupted: finished partitions are kept; rerun the same command to resume"
    ], stderr
    assert json.loads((out / "manifest.json").read_text())["format"] == "qa-lens/dataset-run"
