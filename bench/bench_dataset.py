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
- ``serial, 2 torch threads``: one process using both cores;
- ``bare passes (floor)``: only the arithmetic a serial run cannot skip, on the same length-sorted batches
  (``core.dataset.rows.BATCH_TOKENS``): one forward with attentions and two backward passes to the word
  embeddings (start and end), and nothing else (no spans, statistics, rows or files). Its ratio is the
  most any float32 implementation of these rows gets from removing passes and overhead;
- ``bare passes, bfloat16``: the same under ``torch.autocast("cpu", torch.bfloat16)`` (this CPU's bfloat16
  units where it has them): what giving up float32 would buy, as a bound, not as something a run does.

Every configuration first runs a few questions untimed (model loaded, torch warmed up); then the N
questions are cut into ``--rounds`` slices and every configuration runs each slice in turn, so a change in
the machine's load hits all of them alike. Each dataset run includes its fixed costs (reading, hashing and
writing the run directory). CPU seconds are this process's plus, for clusters, every worker process's
(``resource.getrusage``); the nanny processes are not counted. Ratios are against the naive loop;
absolute times on a shared machine are noisy.

Usage::

    .venv/bin/python bench/bench_dataset.py                 # first 200 dev questions
    .venv/bin/python bench/bench_dataset.py --n 60 --model DIR
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from core import (  # noqa: E402
    LoadedModel,  # noqa: E402
    batch_inputs,  # noqa: E402
    encode,  # noqa: E402
    explain,
    length_batches,  # noqa: E402
    load_model,
)
from core.dataset import (  # noqa: E402
    BATCH_TOKENS,  # noqa: E402
    DatasetExample,  # noqa: E402
    embedded_cluster,
    explain_dataset,
    read_dataset,
)
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


@dataclass
class Configuration:
    """One way to compute the rows: ``run(path, examples)`` on a slice, and where its CPU time is spent."""

    label: str
    run: Callable[[Path, list[DatasetExample]], None]
    cpu_elsewhere: Callable[[], float] = lambda: 0.0
    torch_threads: int = 1
    wall: float = 0.0
    cpu: float = 0.0
    n: int = 0

    def measure(self, path: Path, examples: list[DatasetExample]) -> None:
        torch.set_num_threads(self.torch_threads)
        cpu_before = _cpu_seconds() + self.cpu_elsewhere()
        began = time.perf_counter()
        self.run(path, examples)
        self.wall += time.perf_counter() - began
        self.cpu += _cpu_seconds() + self.cpu_elsewhere() - cpu_before
        self.n += len(examples)
        torch.set_num_threads(1)


def write_slice(path: Path, examples: list[DatasetExample]) -> Path:
    """A JSON Lines file of these examples (each round's slice, the same for every configuration)."""
    lines = [
        json.dumps(
            {
                "id": e.id,
                "title": e.title,
                "question": e.question,
                "context": e.context,
                "answers": [{"text": t, "answer_start": s} for t, s in zip(e.answers, e.answer_starts, strict=True)],
            }
        )
        for e in examples
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def bare_passes(loaded: LoadedModel, examples: list[DatasetExample], bfloat16: bool = False) -> None:
    """The floor: each example's first window in the run's length-sorted batches (``length_batches``), one
    forward with attentions and a backward per target (the best span's start and end stand in for the answer)."""
    model = loaded.model
    windows = [encode(loaded.tokenizer, e.question, e.context).windows[0] for e in examples]
    for indices in length_batches([w.length for w in windows], BATCH_TOKENS):
        batch = [windows[i] for i in indices]
        inputs = batch_inputs(loaded, batch)
        with torch.no_grad():
            embeddings = model.get_input_embeddings()(inputs.pop("input_ids"))
        embeddings.requires_grad_()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bfloat16):
            output = model(inputs_embeds=embeddings, output_attentions=True, **inputs)
        rows = torch.arange(len(batch))
        starts = output.start_logits.detach().argmax(-1)
        ends = output.end_logits.detach().argmax(-1)
        torch.autograd.grad(output.start_logits[rows, starts].sum(), embeddings, retain_graph=True)
        torch.autograd.grad(output.end_logits[rows, ends].sum(), embeddings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="questions timed per configuration")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (each a slice of n / rounds)")
    parser.add_argument("--partition-size", type=int, default=8, help="records per partition (task)")
    parser.add_argument("--model", help="checkpoint directory (default: the fine-tuned model, else the MiniLM probe)")
    args = parser.parse_args()
    logging.getLogger("distributed").setLevel(logging.ERROR)
    data = squad_dev()
    scratch = Path(tempfile.mkdtemp(prefix="bench-dataset-"))
    model, which = choose_model(args.model, scratch)
    print(f"model: {model} ({which})")
    print(f"data: first {args.n} questions of {data} after {WARM_UP} for warming up")
    print(f"{args.rounds} interleaved rounds, {args.partition_size} questions per partition")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    examples = read_dataset(data).examples[: args.n + WARM_UP]
    warm_up, timed = examples[:WARM_UP], examples[WARM_UP:]
    loaded = load_model(model)
    runs = iter(range(1_000_000))

    def dataset_run(path: Path, _examples: list[DatasetExample], **options: object) -> None:
        out = scratch / f"run-{next(runs)}"
        explain_dataset(path, model, out, partition_size=args.partition_size, progress=False, **options)

    def naive(_path: Path, chosen: list[DatasetExample]) -> None:
        for example in chosen:
            explain(example.question, example.context, loaded, ("gradient_x_input",), use_cache=False)

    from distributed import Client, LocalCluster

    with ExitStack() as stack:
        # first, while Dask's configuration is still its default (embedded_cluster changes it for its lifetime)
        defaults = stack.enter_context(
            Client(stack.enter_context(LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0")))
        )
        one = stack.enter_context(embedded_cluster(1))
        two = stack.enter_context(embedded_cluster(2))

        def workers_cpu(client: Client) -> Callable[[], float]:
            return lambda: sum(client.run(_cpu_seconds).values())

        configurations = [
            Configuration("naive loop (core.explain, 1 thread)", naive),
            Configuration("serial (1 thread)", lambda p, e: dataset_run(p, e, serial=True)),
            Configuration("LocalCluster 1 worker", lambda p, e: dataset_run(p, e, client=one), workers_cpu(one)),
            Configuration("LocalCluster 2 workers", lambda p, e: dataset_run(p, e, client=two), workers_cpu(two)),
            Configuration(
                "LocalCluster 1 worker, Dask defaults",
                lambda p, e: dataset_run(p, e, client=defaults),
                workers_cpu(defaults),
            ),
            Configuration("serial, 2 torch threads", lambda p, e: dataset_run(p, e, serial=True), torch_threads=2),
            Configuration("bare passes (floor, 1 thread)", lambda _p, e: bare_passes(loaded, e)),
            Configuration("bare passes, bfloat16 (1 thread)", lambda _p, e: bare_passes(loaded, e, bfloat16=True)),
        ]
        warm_path = write_slice(scratch / "warm-up.jsonl", warm_up)
        for configuration in configurations:
            torch.set_num_threads(configuration.torch_threads)
            configuration.run(warm_path, warm_up)
        torch.set_num_threads(1)
        size = -(-len(timed) // args.rounds)
        for round_index in range(args.rounds):
            chosen = timed[round_index * size : (round_index + 1) * size]
            path = write_slice(scratch / f"round-{round_index}.jsonl", chosen)
            for configuration in configurations:
                configuration.measure(path, chosen)
            print(f"  round {round_index + 1}/{args.rounds} done, load average {os.getloadavg()[0]:.1f}", flush=True)

    base = configurations[0]
    print(f"{'configuration':42} {'examples/s':>10} {'CPU s/ex':>9} {'speed vs naive':>15} {'CPU vs naive':>13}")
    for configuration in configurations:
        speed = configuration.n / configuration.wall
        print(
            f"{configuration.label:42} {speed:10.2f} {configuration.cpu / configuration.n:9.3f} "
            f"{speed / (base.n / base.wall):14.2f}x {configuration.cpu / base.cpu:12.2f}x"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
