"""``explain_dataset``: a whole dataset through a QA model, on Dask, into a resumable run directory.

Flow: a dataset file -> partitions of ``partition_size`` records -> one task per partition (the model
loaded once per worker by a ``distributed.WorkerPlugin``) -> one Parquet file per partition -> at the end
``summary.json`` and ``heads.parquet``. Layout and columns: ``core.dataset.schema``.

Engines:

- default: an in-process ``distributed.LocalCluster`` sized to the machine (``workers`` processes, one
  thread and one torch thread each), started with two Dask settings changed: the nanny's
  ``MALLOC_TRIM_THRESHOLD_`` pre-spawn variable removed and the worker profiler off
  (``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_`` and ``distributed.worker.profile.enabled``);
  ``bench/bench_dataset.py`` measures what they cost on this workload.
- ``client=``: a ``distributed.Client`` of your own cluster (the CLI's ``--scheduler tcp://host:8786``).
  Its workers must be able to import ``core`` and load the model, and **the output directory must be
  visible to them at the same path** (they write the partition files). Set the two settings above in
  the workers' Dask configuration too.
- ``serial=True``: in this process, without Dask (torch keeps this process's thread count).

Resuming: the manifest records the input's sha256, the model, the settings and the ids of every
partition. Rerunning the same command skips partitions whose file exists; a different input, model or
settings is refused (use a new ``out``, or ``overwrite=True``). A killed worker or a killed run loses at
most the partitions in flight: files are written to a temporary name and renamed.
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from core.dataset.reading import DatasetItem, ExampleProblem, read_dataset
from core.dataset.rows import RowSettings, compute_rows
from core.dataset.schema import MANIFEST, explanation_path, row_schema
from core.dataset.store import (
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    RunMismatchError,
    RunSummary,
    clear_run,
    file_sha256,
    finish_run,
    finished_partitions,
    partition_stats,
    read_manifest,
    remove_leftovers,
    save_explanation,
    write_json,
    write_part,
)
from core.models import LoadedModel, ModelLoadError, load_model
from core.progress import ProgressCallback, report_progress

if TYPE_CHECKING:
    from distributed import Client

DEFAULT_PARTITION_SIZE = 32
"""Records per partition (one task, one file): big enough that task overhead is noise next to ~0.2 s of work per
example, small enough that a killed worker loses little, the progress bar moves, and a few hundred questions
still make enough tasks to keep every worker busy."""

DASK_SETTINGS: dict[str, Any] = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
}
"""The two Dask settings the embedded cluster changes (``None`` removes the nanny's variable)."""

MALLOC_TRIM_VARIABLE = "MALLOC_TRIM_THRESHOLD_"
"""glibc reads it when a process starts; any value also fixes the mmap threshold, so torch's large tensors are
mapped and unmapped on every pass. Dask's nanny writes it into the *parent's* ``os.environ`` when it spawns a
worker, so one plain ``LocalCluster`` earlier in a process would hand it to every later cluster's workers."""

PLUGIN_PREFIX = "qa-lens-model"


@dataclass(frozen=True)
class PartitionTask:
    """Everything one task needs: picklable, small, and independent of the driver."""

    out: str
    index: int
    items: tuple[DatasetItem, ...]
    model: str
    settings: dict[str, Any]
    keep_ids: tuple[str, ...]


def run_partition(task: PartitionTask, loaded: LoadedModel | None = None) -> dict[str, Any]:
    """Compute one partition's rows and write its file (and its kept explanations); return its figures.

    On a worker the model comes from ``core.load_model``'s process-wide copy, which the worker plugin loaded.
    """
    began = time.perf_counter()
    loaded = loaded or load_model(task.model)
    settings = RowSettings.from_dict(task.settings)
    computed = compute_rows(loaded, task.items, settings, keep_ids=set(task.keep_ids))
    for example_id, explanation in computed.explanations.items():
        save_explanation(task.out, example_id, explanation)
    schema = row_schema(settings.methods, settings.faithfulness)
    table = write_part(task.out, task.index, computed.rows, schema, loaded.num_layers, loaded.num_heads)
    return {"index": task.index, **partition_stats(table), "seconds": time.perf_counter() - began}


def _model_plugin_class() -> type:
    """The worker plugin class, defined on first use so that importing this module does not import Dask."""
    from distributed import WorkerPlugin

    class QALensModelPlugin(WorkerPlugin):
        """Loads the model once per worker (and again on a worker that replaces a killed one).

        A model that cannot load is recorded instead of raised: a raising ``setup`` makes every worker log
        a traceback, and ``explain_dataset`` reports the one ``ModelLoadError`` message itself.
        """

        def __init__(self, model: str) -> None:
            self.model = model
            self.error: str | None = None

        def setup(self, worker: Any) -> None:
            torch.set_num_threads(1)
            try:
                load_model(self.model)
                self.error = None
            except ModelLoadError as error:
                self.error = str(error)

    return QALensModelPlugin


def _plugin_error(dask_worker: Any, name: str) -> str | None:
    plugin = dask_worker.plugins.get(name)
    return None if plugin is None else plugin.error


def explain_dataset(
    data: str | Path,
    model: str | LoadedModel,
    out: str | Path,
    *,
    client: Client | str | None = None,
    workers: int | None = None,
    serial: bool = False,
    methods: Sequence[str] = ("gradient_x_input",),
    top_k: int = 5,
    limit: int | None = None,
    partition_size: int = DEFAULT_PARTITION_SIZE,
    keep_ids: Sequence[str] = (),
    faithfulness: bool = False,
    progress: bool | ProgressCallback = True,
    overwrite: bool = False,
    **explain_options: Any,
) -> RunSummary:
    """Answer and explain every question of ``data`` with ``model``; write the run to ``out``; return its summary.

    ``client`` is a ``distributed.Client`` or a scheduler address; ``workers`` sizes the embedded
    ``LocalCluster`` (default: every CPU); ``serial`` runs here without Dask. ``methods``: any of
    ``gradient``, ``gradient_x_input``, ``integrated_gradients`` (the last per example, slow).
    ``explain_options``: ``max_answer_tokens``, ``max_length``, ``stride``, ``max_windows``, ``ig_steps``,
    ``ig_max_steps``. ``progress``: a bar (``True``), nothing (``False``), or a ``core.progress`` callback
    (stage ``"partitions"``, fraction done; raising from it stops the run, finished partitions are kept).
    Raises ``ValueError`` for unusable input or a mismatched ``out``, ``core.ModelLoadError`` for a model
    that cannot load.
    """
    if partition_size < 1:
        raise ValueError("partition_size must be at least 1.")
    if limit is not None and limit < 0:
        raise ValueError("limit must be 0 or more.")
    if workers is not None and workers < 1:
        raise ValueError("workers must be at least 1.")
    if serial and (client is not None or workers is not None):
        raise ValueError("serial runs in this process: it takes neither a client nor workers.")
    if client is not None and workers is not None:
        raise ValueError("workers sizes the embedded cluster; with a client, the cluster's own workers run.")
    if isinstance(model, LoadedModel) and not serial:
        raise ValueError("A loaded model only runs in this process: pass serial=True, or the model's name or path.")
    dataset = read_dataset(data)
    items = dataset.items[:limit] if limit is not None else dataset.items
    settings = RowSettings.from_options(methods, top_k, faithfulness, dataset.squad_version, explain_options)
    known_ids = {item.id for item in items}
    unknown = [example_id for example_id in keep_ids if example_id not in known_ids]
    if unknown:
        raise ValueError(f"keep id(s) {unknown[:5]} are not in {dataset.path}" + (" within --limit" if limit else ""))
    model_name = _model_identity(model.name if isinstance(model, LoadedModel) else model)
    root = Path(out).expanduser().resolve()
    partitions = [list(items[first : first + partition_size]) for first in range(0, len(items), partition_size)]
    manifest = _new_manifest(dataset.path, model_name, settings, partition_size, limit, partitions, len(dataset.items))
    existing = _existing_run(root, manifest, overwrite)
    done = finished_partitions(root, len(partitions)) if existing is not None else set()
    keep = set(keep_ids)
    tasks = [
        PartitionTask(
            out=str(root),
            index=index,
            items=tuple(partitions[index]),
            model=model_name,
            settings=settings.to_dict(),
            keep_ids=tuple(item.id for item in partitions[index] if item.id in keep),
        )
        for index in range(len(partitions))
        if index not in done
    ]
    with _engine(model, model_name, serial, client, workers, needed=bool(tasks)) as engine:
        manifest = _start_run(root, manifest, existing, overwrite)
        tracker = _Tracker(root, manifest, progress)
        tracker.announce(engine.dashboard_link)
        session: dict[str, Any] = {"engine": engine.name, "workers": engine.workers, "partitions": 0, "examples": 0}
        began = time.perf_counter()
        try:
            engine.run(tasks, lambda stats: _finished(stats, session, tracker))
        finally:
            tracker.close()
            if session["partitions"]:
                session["seconds"] = time.perf_counter() - began
                session["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
                manifest["sessions"] = [*manifest.get("sessions", []), session]
                write_json(root / MANIFEST, manifest)
    _keep_missing_explanations(model, model_name, root, items, settings, keep)
    return finish_run(root, manifest)


@dataclass(frozen=True)
class _Engine:
    """Where partitions run: ``run(tasks, on_done)`` calls ``on_done`` with each finished partition's figures."""

    name: str
    workers: int
    dashboard_link: str | None
    run: Callable[[list[PartitionTask], Callable[[dict[str, Any]], None]], None]


@contextmanager
def _engine(
    model: str | LoadedModel,
    model_name: str,
    serial: bool,
    client: Client | str | None,
    workers: int | None,
    needed: bool,
) -> Iterator[_Engine]:
    """The serial engine (the model loaded here) or a Dask one (the model loaded and checked on every worker).

    Nothing starts when no partition is left to compute.
    """
    if not needed:
        yield _Engine("none", 0, None, lambda tasks, on_done: None)
        return
    if serial:
        loaded = model if isinstance(model, LoadedModel) else load_model(model_name)

        def run_here(tasks: list[PartitionTask], on_done: Callable[[dict[str, Any]], None]) -> None:
            for task in tasks:
                on_done(run_partition(task, loaded))

        yield _Engine("serial", 1, None, run_here)
        return
    with _client(client, workers) as active, _model_on_workers(active, model_name):

        def run_on_dask(tasks: list[PartitionTask], on_done: Callable[[dict[str, Any]], None]) -> None:
            _run_on_dask(active, tasks, on_done)

        yield _Engine("dask", len(active.scheduler_info()["workers"]), _dashboard_link(active), run_on_dask)


def _dashboard_link(client: Client) -> str | None:
    """The Dask dashboard's address, or ``None`` for a cluster that runs without one."""
    try:
        return client.dashboard_link
    except (KeyError, AttributeError):
        return None


def _model_identity(model: str | Path) -> str:
    """A local checkpoint by its absolute path (so a rerun from another directory matches); a hub id as given."""
    name = str(model).strip()
    local = Path(name).expanduser()
    return str(local.resolve()) if name and local.exists() else name


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for package in ("qa-lens", "torch", "transformers", "captum", "dask", "distributed", "pyarrow"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def _new_manifest(
    path: Path,
    model: str,
    settings: RowSettings,
    partition_size: int,
    limit: int | None,
    partitions: list[list[DatasetItem]],
    records: int,
) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "input": {
            "path": str(path.resolve()),
            "sha256": file_sha256(path),
            "records": records,
            "squad_version": settings.squad_version,
        },
        "model": model,
        "settings": {**settings.to_dict(), "partition_size": partition_size, "limit": limit},
        "columns": row_schema(settings.methods, settings.faithfulness).names,
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "partitions": [{"ids": [item.id for item in partition]} for partition in partitions],
        "sessions": [],
    }


def _existing_run(root: Path, manifest: dict[str, Any], overwrite: bool) -> dict[str, Any] | None:
    """The run in ``root`` to continue, or ``None`` to start one; raises if ``root`` cannot be used. Writes nothing."""
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} is a file; --out must be a directory.")
    if not root.is_dir() or not any(root.iterdir()):
        return None
    if not (root / MANIFEST).is_file():
        raise ValueError(f"{root} exists and is not a QA Lens run (no {MANIFEST}); choose a new or empty --out.")
    if overwrite:
        return None
    existing = read_manifest(root)
    assert existing is not None
    differences = []
    if existing["input"]["sha256"] != manifest["input"]["sha256"]:
        differences.append(f"input ({existing['input']['path']} had another sha256)")
    if existing["model"] != manifest["model"]:
        differences.append(f"model ({existing['model']!r} vs {manifest['model']!r})")
    for key, value in manifest["settings"].items():
        if existing["settings"].get(key) != value:
            differences.append(f"{key} ({existing['settings'].get(key)!r} vs {value!r})")
    if differences:
        raise RunMismatchError(
            f"{root} holds a run with a different {'; '.join(differences)}: use a new --out to keep it, "
            "or --overwrite to replace it."
        )
    return existing


def _start_run(
    root: Path, manifest: dict[str, Any], existing: dict[str, Any] | None, overwrite: bool
) -> dict[str, Any]:
    """Continue ``existing`` (dropping a killed run's temporary files) or write a new manifest; the one in force."""
    if existing is not None:
        remove_leftovers(root)
        return existing
    if overwrite:
        clear_run(root)
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / MANIFEST, manifest)
    return manifest


class _Tracker:
    """Progress over partitions: a tqdm bar (terminal or notebook) or a ``core.progress`` callback."""

    def __init__(self, root: Path, manifest: dict[str, Any], progress: bool | ProgressCallback) -> None:
        self.manifest = manifest
        total = len(manifest["partitions"])
        self.total = total
        self.callback = progress if callable(progress) else None
        done = finished_partitions(root, total)
        self.done = len(done)
        self.totals = {"n": 0, "answered": 0, "em_sum": 0.0, "f1_sum": 0.0}
        if done:
            import pyarrow.parquet as pq

            from core.dataset.schema import part_path

            for index in done:
                self._add(partition_stats(pq.read_table(part_path(root, index), columns=["em", "f1", "error"])))
        self.session_examples = 0
        self.began = time.perf_counter()
        self.bar = None
        if progress is True:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=self.done, unit="part", desc="partitions", dynamic_ncols=True)
            self._postfix()

    def _add(self, stats: dict[str, Any]) -> None:
        for key in self.totals:
            self.totals[key] += stats[key]

    def announce(self, dashboard_link: str | None) -> None:
        if self.bar is not None and dashboard_link:
            self.bar.write(f"Dask dashboard: {dashboard_link}", file=sys.stderr)

    def finished(self, stats: dict[str, Any]) -> None:
        self._add(stats)
        self.done += 1
        self.session_examples += stats["n"]
        if self.bar is not None:
            self.bar.update(1)
            self._postfix()
        report_progress(self.callback, "partitions", self.done / max(self.total, 1))

    def _postfix(self) -> None:
        answered = self.totals["answered"]
        elapsed = time.perf_counter() - self.began
        figures = {"examples": int(self.totals["n"])}
        if self.session_examples:
            figures["ex/s"] = round(self.session_examples / max(elapsed, 1e-9), 2)
        if answered:
            figures["EM"] = round(100 * self.totals["em_sum"] / answered, 1)
            figures["F1"] = round(100 * self.totals["f1_sum"] / answered, 1)
        assert self.bar is not None
        self.bar.set_postfix(figures, refresh=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _finished(stats: dict[str, Any], session: dict[str, Any], tracker: _Tracker) -> None:
    session["partitions"] += 1
    session["examples"] += stats["n"]
    tracker.finished(stats)


@contextmanager
def _model_on_workers(client: Client, model: str) -> Iterator[None]:
    """Register the model plugin on every (present and future) worker; fail once with the workers' load error."""
    name = f"{PLUGIN_PREFIX}:{model}"
    client.register_plugin(_model_plugin_class()(model), name=name)
    try:
        errors = [message for message in client.run(_plugin_error, name=name).values() if message]
        if errors:
            raise ModelLoadError(errors[0])
        yield
    finally:
        client.unregister_worker_plugin(name)


def _run_on_dask(client: Client, tasks: list[PartitionTask], on_done: Callable[[dict[str, Any]], None]) -> None:
    """One task per partition; figures arrive as partitions finish (a killed worker's tasks run elsewhere)."""
    from distributed import as_completed

    token = uuid.uuid4().hex[:12]
    futures = [client.submit(run_partition, task, key=f"qa-lens-partition-{token}-{task.index}") for task in tasks]
    try:
        for future in as_completed(futures):
            on_done(future.result())
    finally:
        client.cancel(futures)


@contextmanager
def _client(client: Client | str | None, workers: int | None) -> Iterator[Client]:
    """The given client, a client of the scheduler at an address, or an embedded ``LocalCluster``'s."""
    from distributed import Client

    if isinstance(client, Client):
        yield client
        return
    if isinstance(client, str):
        with Client(client, timeout="20s") as connected:
            yield connected
        return
    with embedded_cluster(workers) as embedded:
        yield embedded


def machine_cpus() -> int:
    """CPUs this process may run on (the affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


@contextmanager
def embedded_cluster(workers: int | None = None, **cluster_options: Any) -> Iterator[Client]:
    """A ``LocalCluster`` of ``workers`` single-threaded processes with ``DASK_SETTINGS``, and its client.

    Its workers start without ``MALLOC_TRIM_THRESHOLD_`` even when an earlier Dask cluster in this process
    left the variable in ``os.environ`` (it is removed for the cluster's lifetime, then restored).
    """
    import dask
    from distributed import Client, LocalCluster

    count = workers or machine_cpus()
    options = {"dashboard_address": ":0", "silence_logs": logging.ERROR, **cluster_options}
    with (
        _environment_without(MALLOC_TRIM_VARIABLE),
        dask.config.set(DASK_SETTINGS),
        LocalCluster(n_workers=count, threads_per_worker=1, processes=True, **options) as cluster,
        Client(cluster) as client,
    ):
        yield client


@contextmanager
def _environment_without(name: str) -> Iterator[None]:
    """Remove ``name`` from ``os.environ`` for the block (workers spawned or respawned then do not inherit it),
    then put back the value it had."""
    previous = os.environ.pop(name, None)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


def _keep_missing_explanations(
    model: str | LoadedModel,
    model_name: str,
    root: Path,
    items: Sequence[DatasetItem],
    settings: RowSettings,
    keep: set[str],
) -> None:
    """Explanations of kept ids whose partition finished in an earlier session, computed here."""
    wanted = [
        item
        for item in items
        if item.id in keep and not isinstance(item, ExampleProblem) and not explanation_path(root, item.id).is_file()
    ]
    if not wanted:
        return
    loaded = model if isinstance(model, LoadedModel) else load_model(model_name)
    computed = compute_rows(loaded, wanted, settings, keep_ids=keep)
    for example_id, explanation in computed.explanations.items():
        save_explanation(root, example_id, explanation)


__all__ = [
    "DASK_SETTINGS",
    "DEFAULT_PARTITION_SIZE",
    "PartitionTask",
    "embedded_cluster",
    "explain_dataset",
    "run_partition",
]
