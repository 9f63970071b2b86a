"""Benchmark slices, failure groups and checkpoint comparison on a SQuAD-train-sized run (87,599 rows).

A real run (default: ``runs/squad-dev``, the fine-tuned model over SQuAD v1.1 dev) is repeated, with new ids, until
it has ``--rows`` rows, written as a run directory of its own (``--workdir``), and loaded with ``core.dataset.load_run``
(as the Dataset page does). A second copy with every tenth answer flipped from right to wrong stands for another
checkpoint. Measured, each the median of ``--rounds``:

- ``load_run`` of the large run, and the process's resident memory after it;
- the failure-group finder (``core.dataset.find_failure_groups``) over the whole run;
- one slice's statistics with 1,000 bootstrap resamples (``slice_statistics``) on a slice of about a third of it;
- a slice expression parsed and applied (``slice_mask``);
- ``compare_runs`` of the two large runs (flips, paired bootstrap intervals, the finder on the F1 drop);

against the issue's aims: the finder and a comparison under 10 s, one slice's statistics under 1 s.

    .venv/bin/python bench/bench_slices.py --run runs/squad-dev
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from core.dataset import (  # noqa: E402
    build_summary,
    compare_runs,
    find_failure_groups,
    load_run,
    metadata_path,
    part_path,
    slice_mask,
    slice_statistics,
)

SLICE = "question_type in ('what', 'which') and question_overlap < 0.8"


def enlarge(source: Path, target: Path, rows: int, flip_every: int | None = None) -> None:
    """Copy the run at ``source`` into ``target``, its rows repeated with new ids until there are ``rows``.

    The repeated partitions keep the source's file layout (one Parquet file of rows and one of metadata per
    partition); ``flip_every`` turns every n-th right answer wrong (another checkpoint's run).
    """
    import json
    import shutil

    manifest = json.loads((source / "manifest.json").read_text())
    count = len(manifest["partitions"])
    parts = [pq.read_table(part_path(source, index)) for index in range(count)]
    metadata = [pq.read_table(metadata_path(source, index)) for index in range(count)]
    target.mkdir(parents=True, exist_ok=True)
    partitions, written, copy = [], 0, 0
    while written < rows:
        for index in range(count):
            if written >= rows:
                break
            table, extra = parts[index], metadata[index]
            take = min(table.num_rows, rows - written)
            table, extra = table.slice(0, take), extra.slice(0, take)
            ids = pa.array([f"{value}#{copy}" for value in table.column("id").to_pylist()])
            table = table.set_column(table.schema.get_field_index("id"), "id", ids)
            extra = extra.set_column(extra.schema.get_field_index("id"), "id", ids)
            if flip_every:
                correct = table.column("correct").to_numpy(zero_copy_only=False)
                flipped = np.array([bool(v) and i % flip_every == 0 for i, v in enumerate(correct)])
                em = np.where(flipped, 0.0, table.column("em").to_numpy(zero_copy_only=False).astype(float))
                table = table.set_column(table.schema.get_field_index("em"), "em", pa.array(em))
                table = table.set_column(
                    table.schema.get_field_index("correct"),
                    "correct",
                    pc.and_(table.column("correct"), pa.array(~flipped)),
                )
            number = len(partitions)
            part_path(target, number).parent.mkdir(parents=True, exist_ok=True)
            metadata_path(target, number).parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, part_path(target, number))
            pq.write_table(extra, metadata_path(target, number))
            partitions.append({"ids": ids.to_pylist()})
            written += take
        copy += 1
    manifest = {**manifest, "partitions": partitions, "kept_ids": [], "sessions": []}
    (target / "manifest.json").write_text(json.dumps(manifest))
    shutil.copy(source / "heads.parquet", target / "heads.parquet")
    (target / "summary.json").write_text(json.dumps(build_summary(target, manifest).to_dict()))


def timed(function: Callable[[], object], rounds: int) -> tuple[float, object]:
    times, result = [], None
    for _round in range(rounds):
        began = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - began)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=Path("runs/squad-dev"), help="a finished run to enlarge")
    parser.add_argument("--rows", type=int, default=87_599, help="rows of the enlarged run (SQuAD v1.1 train's)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workdir", type=Path, help="where the enlarged runs go (default: a temporary folder)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="qa-lens-slices-"))
    a, b = workdir / "a", workdir / "b"
    if not (a / "summary.json").is_file():
        enlarge(args.run, a, args.rows)
        enlarge(args.run, b, args.rows, flip_every=10)
    seconds, run = timed(lambda: load_run(a), 1)
    memory = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = run.rows
    print(f"source: {args.run} ({load_run(args.run).summary.n:,} rows) repeated to {len(rows):,} rows in {workdir}")
    print(f"load_run: {seconds:.2f} s; peak resident memory after it: {memory:.0f} MB")
    finder, report = timed(lambda: find_failure_groups(rows), args.rounds)
    print(f"failure groups: {finder:.2f} s ({report.tried} candidates, {len(report.groups)} groups; aim < 10 s)")
    applied, mask = timed(lambda: slice_mask(rows, SLICE), args.rounds)
    stats, result = timed(lambda: slice_statistics(rows, mask, resamples=1000), args.rounds)
    print(f"slice {SLICE!r}: {int(mask.sum()):,} rows; applied in {1000 * applied:.0f} ms")
    print(
        f"its statistics, 1,000 bootstrap resamples: {stats:.2f} s (aim < 1 s): EM {result.em:.2f} "
        f"[{result.em_low:.2f}, {result.em_high:.2f}]"
    )
    compared, comparison = timed(lambda: compare_runs(run, load_run(b)), 1)
    print(
        f"compare_runs of two {len(rows):,}-row runs: {compared:.2f} s (aim < 10 s; includes loading B): "
        f"flips {comparison.flips}, ΔEM {comparison.delta_em:+.2f}"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak resident memory of this process: {peak:.0f} MB (aim for the server: < 1 GB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
