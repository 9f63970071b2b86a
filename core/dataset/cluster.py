"""Where a dataset run's partitions run on Dask: the embedded ``LocalCluster``, a cluster by address, the model
loaded once per worker, and tasks submitted as futures.

The embedded cluster is sized to the machine (one single-threaded process per CPU, one torch thread each),
started with two Dask settings changed: the nanny's ``MALLOC_TRIM_THRESHOLD_`` pre-spawn variable removed and
the worker profiler off (``distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_`` and
``distributed.worker.profile.enabled``); ``bench/bench_dataset.py`` measures what they cost on this workload.
A cluster of your own (``connect("tcp://host:8786")``) should start its workers with the same two settings.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

import torch

from core.models import ModelLoadError, load_model

if TYPE_CHECKING:
    from distributed import Client

DASK_SETTINGS: dict[str, Any] = {
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None,
    "distributed.worker.profile.enabled": False,
}
EMBEDDED_WORKER_PRELOAD = "core.dataset.embedded_worker"
"""Preloaded in each embedded worker process: it leaves Ctrl-C to the run that started it (see that module)."""
"""The two Dask settings the embedded cluster changes (``None`` removes the nanny's variable)."""


MALLOC_TRIM_VARIABLE = "MALLOC_TRIM_THRESHOLD_"
"""glibc reads it when a process starts; any value also fixes the mmap threshold, so torch's large tensors are
mapped and unmapped on every pass. Dask's nanny writes it into the *parent's* ``os.environ`` when it spawns a
worker, so one plain ``LocalCluster`` earlier in a process would hand it to every later cluster's workers."""


PLUGIN_PREFIX = "qa-lens-model"

LOCALHOST = "127.0.0.1"
"""Where every service of the embedded cluster listens (scheduler, workers, nannies, the Dask dashboard): this
machine only. Its dashboard shows the run's tasks and workers; nobody else on the network needs them."""


def model_plugin_class() -> type:
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


def dashboard_link(client: Client) -> str | None:
    """The Dask dashboard's address, or ``None`` for a cluster that runs without one."""
    try:
        return client.dashboard_link
    except (KeyError, AttributeError):
        return None


@contextmanager
def model_on_workers(client: Client, model: str) -> Iterator[None]:
    """Register the model plugin on every (present and future) worker; fail once with the workers' load error."""
    name = f"{PLUGIN_PREFIX}:{model}"
    client.register_plugin(model_plugin_class()(model), name=name)
    try:
        errors = [message for message in client.run(_plugin_error, name=name).values() if message]
        if errors:
            raise ModelLoadError(errors[0])
        yield
    except BaseException:
        # The cluster may be going down with the run (Ctrl-C, a lost scheduler): what stopped the run is the news,
        # not that the plugin could no longer be unregistered.
        with suppress(Exception):
            client.unregister_worker_plugin(name)
        raise
    client.unregister_worker_plugin(name)


def run_on_dask(
    client: Client,
    function: Callable[[Any], dict[str, Any]],
    tasks: Sequence[Any],
    on_done: Callable[[dict[str, Any]], None],
) -> None:
    """One task per partition; figures arrive as partitions finish (a killed worker's tasks run elsewhere)."""
    from distributed import as_completed

    token = uuid.uuid4().hex[:12]
    futures = [client.submit(function, task, key=f"qa-lens-partition-{token}-{task.index}") for task in tasks]
    try:
        for future in as_completed(futures):
            on_done(future.result())
    except BaseException:
        with suppress(Exception):
            client.cancel(futures)
        raise
    client.cancel(futures)


@contextmanager
def connect(client: Client | str | None, workers: int | None) -> Iterator[Client]:
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
    options = {
        "host": LOCALHOST,
        "dashboard_address": f"{LOCALHOST}:0",
        "silence_logs": logging.ERROR,
        **cluster_options,
    }
    with (
        _environment_without(MALLOC_TRIM_VARIABLE),
        dask.config.set({**DASK_SETTINGS, "distributed.worker.preload": [EMBEDDED_WORKER_PRELOAD]}),
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


__all__ = [
    "DASK_SETTINGS",
    "MALLOC_TRIM_VARIABLE",
    "connect",
    "dashboard_link",
    "embedded_cluster",
    "machine_cpus",
    "model_on_workers",
    "model_plugin_class",
    "run_on_dask",
]
