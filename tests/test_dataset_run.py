"""Dataset runs: rows equal core.explain's answers; serial and Dask agree; killed workers and killed runs lose nothing.

One two-worker ``LocalCluster`` (``core.dataset.embedded_cluster``) serves the whole module: starting one
takes seconds. The worker-killing test runs last because it replaces one of the cluster's workers.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from distributed import Client, WorkerPlugin

import core.dataset.run as run_module
from core import Explanation, ModelLoadError, explain, load_model
from core.attention import HEAD_STATISTICS, head_statistics
from core.cli import main as cli_main
from core.dataset import (
    RowSettings,
    RunMismatchError,
    compute_rows,
    embedded_cluster,
    explain_dataset,
    load_run,
    read_dataset,
    read_rows,
)
from core.dataset.schema import explanation_path, part_path, row_schema
from core.fixtures import BUILTIN_SENTENCES

ROOT = Path(__file__).resolve().parent.parent
LONG_CONTEXT = " ".join(BUILTIN_SENTENCES)
FACTS = [
    ("Who was the first person to walk on the Moon?", BUILTIN_SENTENCES[14], "Neil Armstrong"),
    ("What is the capital of Japan?", BUILTIN_SENTENCES[4], "Tokyo"),
    ("How high is Mount Everest?", BUILTIN_SENTENCES[22], "8,849 m"),
    ("How fast does light travel?", BUILTIN_SENTENCES[33], "299,792 kilometres per second"),
    ("Where do most penguins live?", BUILTIN_SENTENCES[38], "Southern Hemisphere"),
    ("Which play is Shakespeare's longest?", BUILTIN_SENTENCES[25], "Hamlet"),
    ("How much flour does the recipe need?", BUILTIN_SENTENCES[18], "250 g"),
    ("When was Python 3.11 released?", LONG_CONTEXT, "24 October 2022"),
    ("Who is regarded as the first programmer?", LONG_CONTEXT, "Ada Lovelace"),
]


def _jsonl_record(index: int, question: str, context: str, answer: str) -> dict[str, Any]:
    start = context.index(answer)
    answers = [{"text": answer, "answer_start": start}]
    return {"id": f"q{index}", "question": question, "context": context, "answers": answers}


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Nine answerable questions (two on a context of several windows) and four broken records."""
    records: list[dict[str, Any]] = [_jsonl_record(i, *fact) for i, fact in enumerate(FACTS)]
    records.insert(3, {"id": "no-question", "context": FACTS[0][1], "answers": []})
    records.insert(5, {**records[0], "answers": [{"text": "Neil Armstrong", "answer_start": 2}], "id": "moved"})
    records.insert(7, dict(records[1]))  # a duplicate of q1
    records.append({**records[2], "id": "blank", "context": "   "})
    path = tmp_path_factory.mktemp("data") / "questions.jsonl"
    path.write_text("\n".join(json.dumps(record) for record in records) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with embedded_cluster(2) as active:
        yield active


@pytest.fixture(scope="module")
def serial_run(data_file: Path, tiny_bert_dir: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "serial"
    explain_dataset(data_file, tiny_bert_dir, out, serial=True, partition_size=3, keep_ids=["q7"], progress=False)
    return out


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by("id").drop_columns(["seconds"])


def assert_same_rows(actual: pa.Table, expected: pa.Table) -> None:
    """Equal rows up to float32 rounding (a padded batch or another thread count may change the last bits)."""
    actual, expected = _sorted(actual), _sorted(expected)
    assert actual.schema == expected.schema
    for name in expected.column_names:
        got, want = actual.column(name).to_pylist(), expected.column(name).to_pylist()
        kind = expected.schema.field(name).type
        if name == "top_k":
            got = [[(s["text"], s["start_char"], s["end_char"]) for s in spans or []] for spans in got]
            want = [[(s["text"], s["start_char"], s["end_char"]) for s in spans or []] for spans in want]
        if pa.types.is_floating(kind) or (pa.types.is_list(kind) and pa.types.is_floating(kind.value_type)):
            as_array = [np.nan if value is None else np.asarray(value, dtype=np.float64) for value in got]
            reference = [np.nan if value is None else np.asarray(value, dtype=np.float64) for value in want]
            for left, right in zip(as_array, reference, strict=True):
                np.testing.assert_allclose(left, right, rtol=1e-4, atol=1e-6, err_msg=name)
        else:
            assert got == want, name


def test_rows_answer_exactly_as_core_explain(tiny_qa_dir: str, data_file: Path) -> None:
    loaded = load_model(tiny_qa_dir)
    dataset = read_dataset(data_file)
    settings = RowSettings(methods=("gradient", "gradient_x_input"))
    computed = compute_rows(loaded, dataset.items, settings, keep_ids={example.id for example in dataset.examples})
    rows = {row["id"]: row for row in computed.rows}
    assert [row["id"] for row in computed.rows] == dataset.ids
    assert any(rows[example.id]["windows"] > 1 for example in dataset.examples)
    for example in dataset.examples:
        row, mine = rows[example.id], computed.explanations[example.id]
        reference = explain(example.question, example.context, loaded, settings.methods, use_cache=False)
        answer = reference.answer
        assert (row["prediction"], row["prediction_start"], row["prediction_end"]) == (
            answer.text,
            answer.start_char,
            answer.end_char,
        )
        assert row["score"] == pytest.approx(answer.score, rel=1e-4)
        assert [span["text"] for span in row["top_k"]] == [span.text for span in reference.top_k]
        assert (row["windows"], row["answer_window"], row["tokens"]) == (
            reference.num_windows,
            reference.window_index,
            reference.num_tokens,
        )
        statistics = head_statistics(reference.attentions, reference.roles, range(answer.start_token, answer.end_token))
        for name, values in statistics.items():
            np.testing.assert_allclose(row[f"head.{name}"], values.ravel(), atol=1e-5)
        # core.explain's saliency is captum's Saliency / InputXGradient on the same window
        for method in ("gradient", "gradient_x_input"):
            for target in ("start", "end"):
                expected = reference.saliency[method][target]
                scale = float(np.abs(expected).max())
                np.testing.assert_allclose(mine.saliency[method][target], expected, atol=1e-4 * scale)
        np.testing.assert_allclose(mine.attentions, reference.attentions, atol=1e-5)
        assert mine.tokens == reference.tokens


def test_a_row_holds_its_shares_heads_and_metrics(serial_run: Path, tiny_bert_dir: str) -> None:
    run = load_run(serial_run)
    table = read_rows(serial_run)
    assert table.schema == row_schema(("gradient_x_input",), faithfulness=False)
    assert run.manifest["columns"] == table.column_names
    good = [row for row in table.to_pylist() if row["error"] is None]
    loaded = load_model(tiny_bert_dir)
    for row in good:
        assert row["context"][row["prediction_start"] : row["prediction_end"]] == row["prediction"]
        assert row["correct"] == (row["em"] == 1.0)
        assert row["score"] == pytest.approx(row["top_k"][0]["score"])
        assert row["question_tokens"] + row["context_tokens"] < row["tokens"]
        for part in ("question", "answer"):
            for target in ("start", "end"):
                assert 0.0 <= row[f"saliency_{part}_share.gradient_x_input.{target}"] <= 1.0
        for name in HEAD_STATISTICS:
            assert len(row[f"head.{name}"]) == loaded.num_layers * loaded.num_heads
        assert row["seconds"] > 0
    assert {row["id"] for row in good} == {f"q{i}" for i in range(len(FACTS))}


def test_broken_records_become_error_rows_and_the_run_goes_on(serial_run: Path) -> None:
    rows = {row["id"]: row for row in read_rows(serial_run).to_pylist()}
    errors = {key: row["error"] for key, row in rows.items() if row["error"] is not None}
    assert set(errors) == {"no-question", "moved", "q1#2", "blank"}
    assert errors["no-question"] == "missing field 'question'"
    assert "not found at answer_start 2" in errors["moved"]
    assert "duplicate id 'q1'" in errors["q1#2"]
    assert errors["blank"] == "empty context"
    for key in errors:
        assert rows[key]["prediction"] is None and rows[key]["em"] is None and rows[key]["head.entropy"] is None
        assert rows[key]["error_kind"] == "malformed"
    summary = load_run(serial_run).summary
    # Malformed records are not questions of the dataset: counted apart, never scored (issue 17).
    assert (summary.n, summary.questions, summary.answered, summary.failures, summary.malformed) == (13, 9, 9, 0, 4)


def test_summary_and_heads_agree_with_the_rows(serial_run: Path, tiny_bert_dir: str) -> None:
    run = load_run(serial_run)
    answered = run.rows[run.rows["error"].isna()]
    assert run.summary.em == pytest.approx(100 * answered["em"].mean())
    assert run.summary.f1 == pytest.approx(100 * answered["f1"].mean())
    assert json.loads((serial_run / "summary.json").read_text()) == run.summary.to_dict()
    loaded = load_model(tiny_bert_dir)
    heads = run.heads
    assert len(heads) == len(HEAD_STATISTICS) * loaded.num_layers * loaded.num_heads * 3
    everyone = heads[(heads["group"] == "all") & (heads["statistic"] == "entropy")]
    assert set(everyone["count"]) == {9}
    per_example = read_rows(serial_run, columns=["head.entropy"]).column("head.entropy").to_pylist()
    entropy = np.asarray([values for values in per_example if values is not None], dtype=np.float64)
    np.testing.assert_allclose(everyone.sort_values(["layer", "head"])["mean"], entropy.mean(axis=0), rtol=1e-6)
    wrong = heads[(heads["group"] == "wrong") & (heads["statistic"] == "entropy")]
    assert set(wrong["count"]) == {int((~answered["correct"]).sum())}


def test_kept_explanations_are_saved_and_match_their_row(serial_run: Path) -> None:
    run = load_run(serial_run)
    explanation = Explanation.load(explanation_path(serial_run, "q7"))
    assert explanation == run.explanation("q7")
    row = run.row("q7")
    assert (explanation.answer.text, explanation.answer.start_char) == (row["prediction"], row["prediction_start"])
    assert set(explanation.saliency) == {"gradient_x_input"}
    assert explanation.num_windows == row["windows"] > 1


def test_serial_and_a_two_worker_cluster_give_the_same_rows(
    client: Client, data_file: Path, tiny_bert_dir: str, serial_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "dask"
    summary = explain_dataset(data_file, tiny_bert_dir, out, client=client, partition_size=3, progress=False)
    assert_same_rows(read_rows(out), read_rows(serial_run))
    assert summary.n == 13
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sessions"][0]["engine"] == "dask" and manifest["sessions"][0]["workers"] == 2
    assert [len(partition["ids"]) for partition in manifest["partitions"]] == [3, 3, 3, 3, 1]


def test_a_scheduler_address_runs_on_that_cluster(
    client: Client, data_file: Path, tiny_bert_dir: str, serial_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "by-address"
    explain_dataset(data_file, tiny_bert_dir, out, client=client.scheduler.address, limit=6, progress=False)
    assert json.loads((out / "manifest.json").read_text())["sessions"][0]["engine"] == "dask"
    computed = read_rows(out)
    everything = read_rows(serial_run)
    expected = everything.filter(pc.is_in(everything.column("id"), computed.column("id")))
    assert_same_rows(computed, expected)


def test_the_embedded_cluster_runs_without_malloc_trimming_or_profiler(client: Client) -> None:
    import dask

    assert set(client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()) == {None}
    assert set(client.run(lambda: dask.config.get("distributed.worker.profile.enabled")).values()) == {False}
    assert all(info["nthreads"] == 1 for info in client.scheduler_info()["workers"].values())


def test_every_service_of_the_embedded_cluster_listens_on_this_machine_only(client: Client) -> None:
    import psutil

    processes = [psutil.Process(), *(psutil.Process(pid) for pid in client.run(os.getpid).values())]
    listening = {
        (process.pid, connection.laddr.ip, connection.laddr.port)
        for process in processes
        for connection in process.net_connections(kind="inet")
        if connection.status == psutil.CONN_LISTEN
    }
    dashboard = urlparse(client.dashboard_link)
    assert (os.getpid(), "127.0.0.1", dashboard.port) in listening, "the Dask dashboard is not where it says"
    assert len({pid for pid, _ip, _port in listening}) == len(processes), "a worker listens nowhere: checked nothing"
    assert {ip for _pid, ip, _port in listening} <= {"127.0.0.1", "::1"}, sorted(listening)
    assert dashboard.hostname == "127.0.0.1"


def test_the_embedded_cluster_drops_the_malloc_variable_an_earlier_dask_cluster_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A plain LocalCluster's nanny writes MALLOC_TRIM_THRESHOLD_=65536 into the parent's os.environ.
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    with embedded_cluster(1) as fresh:
        assert set(fresh.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_")).values()) == {None}
        assert "MALLOC_TRIM_THRESHOLD_" not in os.environ
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == "65536"


def test_a_model_that_cannot_load_fails_once_up_front(client: Client, data_file: Path, tmp_path: Path) -> None:
    not_a_model = tmp_path / "not-a-model"
    not_a_model.mkdir()
    (not_a_model / "notes.txt").write_text("no config here")
    with pytest.raises(ModelLoadError, match="is not a checkpoint directory"):
        explain_dataset(data_file, not_a_model, tmp_path / "out", client=client, progress=False)
    assert not (tmp_path / "out").exists()


def test_a_rerun_with_other_settings_input_or_model_is_refused(
    data_file: Path, tiny_bert_dir: str, tiny_distilbert_dir: str, serial_run: Path, tmp_path: Path
) -> None:
    with pytest.raises(RunMismatchError, match=r"methods .*use a new --out to keep it, or --overwrite"):
        explain_dataset(data_file, tiny_bert_dir, serial_run, serial=True, partition_size=3, methods=("gradient",))
    with pytest.raises(RunMismatchError, match="model"):
        explain_dataset(data_file, tiny_distilbert_dir, serial_run, serial=True, partition_size=3)
    changed = tmp_path / "changed.jsonl"
    changed.write_text(data_file.read_text() + "\n", encoding="utf-8")
    with pytest.raises(RunMismatchError, match="input"):
        explain_dataset(changed, tiny_bert_dir, serial_run, serial=True, partition_size=3)
    # the same command again only reads what is there
    again = explain_dataset(data_file, tiny_bert_dir, serial_run, serial=True, partition_size=3, progress=False)
    assert again == load_run(serial_run).summary
    # --overwrite replaces it
    other = tmp_path / "other"
    explain_dataset(data_file, tiny_bert_dir, other, serial=True, limit=4, progress=False)
    summary = explain_dataset(data_file, tiny_bert_dir, other, serial=True, limit=2, overwrite=True, progress=False)
    assert summary.n == 2


def test_a_run_of_nothing_is_an_empty_table(data_file: Path, tiny_bert_dir: str, tmp_path: Path) -> None:
    summary = explain_dataset(data_file, tiny_bert_dir, tmp_path / "none", serial=True, limit=0, progress=False)
    assert (summary.n, summary.em, summary.partitions) == (0, None, 0)
    run = load_run(tmp_path / "none")
    assert run.rows.empty and "prediction" in run.rows.columns


def test_the_command_line_reports_bad_input_in_one_line(
    tiny_bert_dir: str, serial_run: Path, data_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.json"
    empty.write_text("")
    malformed = tmp_path / "malformed.json"
    malformed.write_text('{"data": [')
    base = ["dataset", "run", "--model", tiny_bert_dir, "--serial", "--no-progress", "--out"]
    for path, message in ((empty, "is empty"), (malformed, "is not valid JSON")):
        assert cli_main([*base, str(tmp_path / "out"), str(path)]) == 2
        error = capsys.readouterr().err.strip()
        assert error.startswith("error: ") and message in error and str(path) in error
        assert "\n" not in error and "Traceback" not in error
    assert cli_main([*base, str(serial_run), str(data_file), "--methods", "gradient", "--partition-size", "3"]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_faithfulness_and_integrated_gradients_are_opt_in_columns(
    data_file: Path, tiny_bert_dir: str, tmp_path: Path
) -> None:
    methods = ("gradient", "integrated_gradients")
    out = tmp_path / "faithful"
    explain_dataset(
        data_file, tiny_bert_dir, out, serial=True, methods=methods, faithfulness=True, limit=3, progress=False
    )
    table = read_rows(out)
    assert table.schema == row_schema(methods, faithfulness=True)
    for name in [column for column in table.column_names if column.startswith(("faithfulness.", "saliency_"))]:
        values = table.column(name).to_pylist()
        assert all(value is not None and np.isfinite(value) for value in values), name
    explainers = {name.split(".")[1] for name in table.column_names if name.startswith("faithfulness.")}
    assert explainers == {"gradient", "integrated_gradients", "attention_rollout", "random"}


SLOW_CLI = """
import sys, time
import core.dataset.run as run

original = run.compute_rows

def slow(*args, **kwargs):
    time.sleep(0.3)
    return original(*args, **kwargs)

run.compute_rows = slow
from core.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_killed_run_resumes_to_the_same_rows(
    data_file: Path, tiny_bert_dir: str, serial_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "killed"
    command = ["dataset", "run", str(data_file), "--model", tiny_bert_dir, "--out", str(out), "--serial"]
    command += ["--partition-size", "2", "--no-progress"]
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-c", SLOW_CLI, *command], env=environment, cwd=ROOT)
    try:
        deadline = time.monotonic() + 120
        while not part_path(out, 0).exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    finished = sorted(path.name for path in (out / "parts").glob("part-*.parquet"))
    assert finished and len(finished) < 7, "the run was not killed mid-way"
    assert not (out / "summary.json").exists()
    so_far = load_run(out, partial=True)
    assert len(so_far.rows) == so_far.summary.n == len(read_rows(out, partial=True))
    assert 0 < so_far.summary.n < 13
    before = {path.name: path.stat().st_mtime_ns for path in (out / "parts").glob("part-*.parquet")}
    computed: list[int] = []
    original = run_module.compute_rows

    def counted(loaded: Any, items: Any, *args: Any, **kwargs: Any) -> Any:
        computed.append(len(items))
        return original(loaded, items, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_module, "compute_rows", counted)
        summary = explain_dataset(data_file, tiny_bert_dir, out, serial=True, partition_size=2, progress=False)
        # The resume computed exactly the examples of the partitions that were missing, and rewrote no other file.
        assert len(computed) == 7 - len(before) and sum(computed) == 13 - so_far.summary.n
        assert {name: (out / "parts" / name).stat().st_mtime_ns for name in before} == before
        sessions = json.loads((out / "manifest.json").read_text())["sessions"]
        assert sessions[-1]["examples"] == 13 - so_far.summary.n
        computed.clear()
        again = explain_dataset(data_file, tiny_bert_dir, out, serial=True, partition_size=2, progress=False)
        assert computed == [] and again == summary  # a finished run resumed computes nothing
        assert json.loads((out / "manifest.json").read_text())["sessions"] == sessions
    ids = read_rows(out, columns=["id"]).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == summary.n == 13
    assert_same_rows(read_rows(out), read_rows(serial_run))
    assert not [path for path in out.rglob(".*") if path.is_file()], "temporary files were left behind"


class SlowPartitions(WorkerPlugin):
    """Makes every partition take a while on the workers, so a test can kill a worker in the middle of one."""

    name = "test-slow-partitions"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def setup(self, worker: Any) -> None:
        import core.dataset.run as run

        self.original = run.compute_rows
        seconds, original = self.seconds, self.original

        def slow(*args: Any, **kwargs: Any) -> Any:
            time.sleep(seconds)
            return original(*args, **kwargs)

        run.compute_rows = slow

    def teardown(self, worker: Any) -> None:
        import core.dataset.run as run

        run.compute_rows = self.original


def test_a_killed_worker_loses_no_example(
    client: Client, data_file: Path, tiny_bert_dir: str, serial_run: Path, tmp_path: Path
) -> None:
    # scheduler_info() carries no pid in distributed 2026.8; each worker reports its own
    pids_before = set(client.run(os.getpid).values())
    killed: list[int] = []

    def kill_a_worker(stage: str, fraction: float) -> None:
        if not killed:
            pid = min(pids_before)
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    client.register_plugin(SlowPartitions(0.4))
    try:
        out = tmp_path / "survivor"
        summary = explain_dataset(
            data_file, tiny_bert_dir, out, client=client, partition_size=1, progress=kill_a_worker
        )
    finally:
        client.unregister_worker_plugin(SlowPartitions.name)
    assert killed
    ids = read_rows(out, columns=["id"]).column("id").to_pylist()
    assert len(ids) == len(set(ids)) == summary.n == 13
    assert_same_rows(read_rows(out), read_rows(serial_run))
    client.wait_for_workers(2, timeout=120)
    assert killed[0] not in set(client.run(os.getpid).values())


def test_importing_core_stays_light() -> None:
    probe = (
        "import sys, core, core.cli, core.dataset, core.dataset.cli; "
        "print(','.join(m for m in ('distributed', 'pyarrow', 'pandas', 'panel', 'bokeh', 'holoviews') "
        "if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
