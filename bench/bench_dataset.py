"""Dataset runs: examples per second and CPU seconds per example, against a loop of ``core.explain``.

On the first N questions of SQuAD v1.1 dev (``scripts/fetch_squad.py`` must have cached it), side by side
in one run, every configuration computing the same answers and gradient x input saliency:

- ``naive loop``: ``core.explain(question, context, model, methods=("gradient_x_input",))`` per question,
  one torch thread (it computes the answer, attention and saliency, but no head statistics or rows);
- ``serial``: ``explain_dataset(..., serial=True)`` in this process, one torch thread;
- ``LocalCluster 1 worker``, ``2 workers``: ``explain_dataset`` on ``core.dataset.embedded_cluster``
  (one thread per worker, the two Dask settings of ``core.dataset.run.DASK_SETTINGS``);
- ``LocalCluster 1 worker, Dask defaults``: the same with a plain ``LocalCluster`` (the nanny's
  ``MALLOC_TRIM_THRESHOLD_=65536`` and the 10 ms profiler on), to measure what those settings cost;
- ``serial, 2 torch threads``: one process using both cores.

Every configuration first runs a few questions untimed (model loaded, torch warmed up). CPU seconds are
this process's plus, for clusters, every worker process's (``resource.getrusage``); the nanny processes
are not counted. Ratios are against the naive loop; absolute times on a shared machine are noisy.

Usage::

    .venv/bin/python bench/bench_dataset.py                 # first 200 dev questions
    .venv/bin/python bench/bench_dataset.py --n 60 --model DIR
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import explain, load_model  # noqa: E402
from core.dataset import embedded_cluster, explain_dataset, read_dataset  # noqa: E402
from core.fixtures import build_minilm_qa_model  # noqa: E402

FINE_TUNED = Path.home() / ".cache" / "qa-lens" / "models" / "minilm-l6-squad"
WARM_UP = 8


def squad_dev() -> Path:
    spec = importlib.util.spec_from_file_location("fetch_squad", ROOT / "scripts" / "fetch_squad.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.squad_paths(download=False)["dev"]


def choose_model(requested: str | None, scratch: Path) -> tuple[str, str]:
    if requested:
        return requested, "given with --model"
    if (FINE_TUNED / "config.json").is_file():
        return str(FINE_TUNED), "the fine-tuned MiniLM-L6 SQuAD model"
    built = build_minilm_qa_model(scratch / "minilm-probe")
    return built, f"the MiniLM-L6 probe (real encoder, untrained QA head; no fine-tuned model found at {FINE_TUNED})"


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(label: str, run: Callable[[int], None], n: int, cpu_elsewhere: Callable[[], float] = lambda: 0.0) -> dict:
    """Warm up on ``WARM_UP`` questions, then time ``run(n)``: wall and CPU seconds (this process + workers)."""
    run(WARM_UP)
    cpu_before = _cpu_seconds() + cpu_elsewhere()
    began = time.perf_counter()
    run(n)
    wall = time.perf_counter() - began
    cpu = _cpu_seconds() + cpu_elsewhere() - cpu_before
    result = {"label": label, "wall": wall, "cpu": cpu, "n": n}
    print(f"  {label}: {n / wall:.2f} examples/s, {cpu / n:.3f} CPU s/example", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="questions timed per configuration")
    parser.add_argument("--partition-size", type=int, default=16, help="records per partition (task)")
    parser.add_argument("--model", help="checkpoint directory (default: the fine-tuned model, else the MiniLM probe)")
    args = parser.parse_args()
    logging.getLogger("distributed").setLevel(logging.ERROR)
    data = squad_dev()
    scratch = Path(tempfile.mkdtemp(prefix="bench-dataset-"))
    model, which = choose_model(args.model, scratch)
    print(f"model: {model} ({which})")
    print(f"data: first {args.n} questions of {data}, {args.partition_size} per partition")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    examples = read_dataset(data).examples[: max(args.n, WARM_UP)]
    loaded = load_model(model)
    runs = iter(range(1_000_000))

    def dataset_run(limit: int, **options: object) -> None:
        out = scratch / f"run-{next(runs)}"
        explain_dataset(data, model, out, limit=limit, partition_size=args.partition_size, progress=False, **options)

    def naive(limit: int) -> None:
        for example in examples[:limit]:
            explain(example.question, example.context, loaded, ("gradient_x_input",), use_cache=False)

    results = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    results.append(measure("naive loop (core.explain, 1 thread)", naive, args.n))
    results.append(measure("serial (1 thread)", lambda limit: dataset_run(limit, serial=True), args.n))
    for workers in (1, 2):
        with embedded_cluster(workers) as client:
            results.append(
                measure(
                    f"LocalCluster {workers} worker{'s' if workers > 1 else ''}",
                    lambda limit, client=client: dataset_run(limit, client=client),
                    args.n,
                    lambda client=client: sum(client.run(_cpu_seconds).values()),
                )
            )
    from distributed import Client, LocalCluster

    with (
        LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0", silence_logs=logging.ERROR) as cluster,
        Client(cluster) as client,
    ):
        results.append(
            measure(
                "LocalCluster 1 worker, Dask defaults",
                lambda limit: dataset_run(limit, client=client),
                args.n,
                lambda: sum(client.run(_cpu_seconds).values()),
            )
        )
    torch.set_num_threads(2)
    results.append(measure("serial, 2 torch threads", lambda limit: dataset_run(limit, serial=True), args.n))
    torch.set_num_threads(threads)

    base = results[0]
    print(f"\nload average at the end {os.getloadavg()[0]:.1f}")
    print(f"{'configuration':42} {'examples/s':>10} {'CPU s/ex':>9} {'speed vs naive':>15} {'CPU vs naive':>13}")
    for result in results:
        speed = result["n"] / result["wall"]
        print(
            f"{result['label']:42} {speed:10.2f} {result['cpu'] / result['n']:9.3f} "
            f"{speed / (base['n'] / base['wall']):14.2f}x {result['cpu'] / base['cpu']:12.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
