"""``explain_dataset``: a whole dataset through a QA model, on Dask, into a resumable run directory.

Flow: a dataset file -> partitions of ``partition_size`` records -> one task per partition (the model
loaded once per worker by a ``distributed.WorkerPlugin``) -> one Parquet file of rows and one of QA metadata
per partition -> at the end ``summary.json`` and ``heads.parquet``. Layout and columns: ``core.dataset.schema``.

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

import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.dataset.cluster import connect, dashboard_link, model_on_workers, run_on_dask
from core.dataset.manifest import (
    existing_run,
    finished_partitions,
    model_identity,
    new_manifest,
    start_run,
    write_json,
)
from core.dataset.reading import DatasetExample, DatasetItem, ExampleProblem, read_dataset
from core.dataset.row_settings import DEFAULT_NULL_THRESHOLD, RowSettings
from core.dataset.rows import compute_rows
from core.dataset.run_metadata import add_metadata, write_partition_metadata
from core.dataset.run_progress import RunProgress, record_partition
from core.dataset.schema import MANIFEST, explanation_path
from core.dataset.store import save_explanation, write_part
from core.dataset.summary import RunSummary, finish_run, partition_stats
from core.models import LoadedModel, load_model
from core.progress import ProgressCallback

if TYPE_CHECKING:
    from distributed import Client

DEFAULT_PARTITION_SIZE = 32
"""Records per partition (one task, one file): big enough that task overhead is noise next to ~0.2 s of work per
example, small enough that a killed worker loses little, the progress bar moves, and a few hundred questions
still make enough tasks to keep every worker busy."""


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
    schema = settings.schema()
    table = write_part(task.out, task.index, computed.rows, schema, loaded.num_layers, loaded.num_heads)
    write_partition_metadata(task.out, task.index, loaded.tokenizer)
    return {"index": task.index, **partition_stats(table), "seconds": time.perf_counter() - began}


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
    null_threshold: float = DEFAULT_NULL_THRESHOLD,
    may_abstain: bool = True,
    progress: bool | ProgressCallback = True,
    overwrite: bool = False,
    **explain_options: Any,
) -> RunSummary:
    """Answer and explain every question of ``data`` with ``model``; write the run to ``out``; return its summary.

    ``client`` is a ``distributed.Client`` or a scheduler address; ``workers`` sizes the embedded
    ``LocalCluster`` (default: every CPU); ``serial`` runs here without Dask. ``methods``: any of
    ``gradient``, ``gradient_x_input``, ``integrated_gradients`` (the last per example, slow).
    ``explain_options``: ``max_answer_tokens``, ``max_length``, ``stride``, ``max_windows``, ``ig_steps``,
    ``ig_max_steps``. ``null_threshold``: a SQuAD v2.0 run abstains when ``null_score - best_span_score``
    (logits, the answer's window) exceeds it (the explorer's default, 0); ``may_abstain=False`` always takes the
    best span (a robustness suite over a v1.1 run). Examples with a ``region`` add its saliency share to their
    rows (``saliency_region_share.*``). ``progress``: a bar (``True``),
    nothing (``False``), or a ``core.progress`` callback
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
    region_shares = any(isinstance(item, DatasetExample) and item.region is not None for item in items)
    settings = RowSettings.from_options(
        methods,
        top_k,
        faithfulness,
        dataset.squad_version,
        explain_options,
        null_threshold=null_threshold,
        region_shares=region_shares,
        may_abstain=may_abstain,
    )
    known_ids = {item.id for item in items}
    unknown = [example_id for example_id in keep_ids if example_id not in known_ids]
    if unknown:
        raise ValueError(f"keep id(s) {unknown[:5]} are not in {dataset.path}" + (" within --limit" if limit else ""))
    model_name = model_identity(model.name if isinstance(model, LoadedModel) else model)
    root = Path(out).expanduser().resolve()
    partitions = [list(items[first : first + partition_size]) for first in range(0, len(items), partition_size)]
    manifest = new_manifest(
        dataset.path, model_name, settings, partition_size, limit, partitions, len(dataset.items), kept_ids=keep_ids
    )
    existing = existing_run(root, manifest, overwrite)
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
        manifest = start_run(root, manifest, existing, overwrite, kept_ids=keep_ids)
        tracker = RunProgress(root, manifest, progress)
        tracker.announce(engine.dashboard_link)
        session: dict[str, Any] = {"engine": engine.name, "workers": engine.workers, "partitions": 0, "examples": 0}
        began = time.perf_counter()
        try:
            engine.run(tasks, lambda stats: record_partition(stats, session, tracker))
        finally:
            tracker.close()
            if session["partitions"]:
                session["seconds"] = time.perf_counter() - began
                session["finished"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
                manifest["sessions"] = [*manifest.get("sessions", []), session]
                write_json(root / MANIFEST, manifest)
    _keep_missing_explanations(model, model_name, root, items, settings, keep)
    add_metadata(root, tokenizer=model.tokenizer if isinstance(model, LoadedModel) else None)
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
    with connect(client, workers) as active, model_on_workers(active, model_name):

        def run_there(tasks: list[PartitionTask], on_done: Callable[[dict[str, Any]], None]) -> None:
            run_on_dask(active, run_partition, tasks, on_done)

        yield _Engine("dask", len(active.scheduler_info()["workers"]), dashboard_link(active), run_there)


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


__all__ = ["DEFAULT_PARTITION_SIZE", "PartitionTask", "explain_dataset", "run_partition"]
