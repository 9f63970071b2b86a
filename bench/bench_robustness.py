"""Benchmark a robustness suite against the plain run it checks: examples per second of each, in one process.

A plain run of the first ``--n`` SQuAD v1.1 dev questions (``core.dataset.explain_dataset``, the embedded Dask
cluster with ``--workers`` processes, the run's default saliency ``gradient_x_input``), then the ``--suite``
(default: every family, one copy each) over it (``core.dataset.perturb_run``, the same engine and settings). The
suite's perturbed copies go through the same fused passes as the run, so its time per copy should be about the
run's time per question: the ratio printed is the suite's copies per second over the run's questions per second
(1.0 means a suite of k copies per question costs k plain runs). It also prints every family's flip rate,
failure rate and distractor capture with their 95% intervals: the figures a team reads before shipping.

Both runs go to a fresh temporary folder (``--workdir`` to keep them). Use trained weights:

    .venv/bin/python bench/bench_robustness.py --model ~/.cache/qa-lens/models/minilm-l6-squad --n 200
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.dataset import explain_dataset, family_line, perturb_run  # noqa: E402

SQUAD_DEV = Path("~/.cache/qa-lens/squad/dev-v1.1.json").expanduser()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a fine-tuned QA checkpoint (scripts/finetune_qa.py)")
    parser.add_argument("--data", default=str(SQUAD_DEV), help="SQuAD v1.1 dev (scripts/fetch_squad.py)")
    parser.add_argument("--n", type=int, default=200, help="questions of the plain run (the first N)")
    parser.add_argument("--suite", default="default")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--workdir", help="keep both runs here (default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(args.workdir or temporary)
        run = root / "run"
        began = time.perf_counter()
        summary = explain_dataset(args.data, args.model, run, workers=args.workers, limit=args.n, progress=False)
        run_seconds = time.perf_counter() - began
        began = time.perf_counter()
        suite = perturb_run(run, args.suite, workers=args.workers, progress=False)
        suite_seconds = time.perf_counter() - began
    copies = suite.spec["perturbed"]
    run_rate, suite_rate = args.n / run_seconds, copies / suite_seconds
    print(f"model {args.model}; {args.n} questions of {args.data}; {args.workers} workers")
    print(
        f"plain run: {args.n} questions in {run_seconds:.1f} s ({run_rate:.2f}/s), "
        f"EM {summary.em:.2f} F1 {summary.f1:.2f}"
    )
    print(
        f"suite {args.suite!r}: {copies} perturbed copies ({suite.spec['skipped']} could not be made) in "
        f"{suite_seconds:.1f} s ({suite_rate:.2f}/s)"
    )
    print(
        f"suite time per copy / run time per question: {run_rate / suite_rate:.2f} "
        f"(the whole suite took {suite_seconds / run_seconds:.1f}x the plain run for {copies / args.n:.1f} copies "
        "per question)"
    )
    for figures in suite.summary["families"]:
        print(family_line(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
