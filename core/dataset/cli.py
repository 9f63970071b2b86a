"""``python -m core dataset ...``: a whole dataset into a run directory, and the analyses over a run.

- ``dataset run DATA --model M --out DIR``: answer and explain every question (rerun the same command to resume);
- ``dataset metadata RUN``: add the QA metadata a run lacks, without running the model;
- ``dataset groups RUN``, ``dataset compare A B``: failure groups, checkpoint against checkpoint;
- ``dataset perturb RUN --suite default``: a robustness suite over the run (rerun the same command to resume).

Any failure prints one line and exits with code 2 (an interrupted command exits 130 and keeps what it finished).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from core.types import METHODS

if TYPE_CHECKING:
    from core.dataset.summary import RunSummary


def _positive(text: str) -> int:
    """An argument that must be a whole number of at least 1 (argparse reports the message on one line)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_dataset_parser(commands: argparse._SubParsersAction) -> None:
    """Register ``dataset run`` under ``python -m core``."""
    dataset = commands.add_parser("dataset", help="explain every question of a SQuAD / JSON Lines file")
    actions = dataset.add_subparsers(dest="dataset_command", required=True)
    run = actions.add_parser(
        "run",
        help="answer and explain a dataset into a resumable run directory (Parquet)",
        description="Answer and explain every question of DATA; rerun the same command to resume.",
    )
    run.add_argument("data", help="SQuAD v1.1/v2.0 JSON, or JSON Lines with id, question, context, answers")
    run.add_argument("--model", required=True, help="hub id or local checkpoint directory")
    run.add_argument("--out", required=True, help="the run directory (created; resumed when it holds this run)")
    engine = run.add_mutually_exclusive_group()
    engine.add_argument("--workers", type=int, help="processes of the embedded Dask cluster (default: every CPU)")
    engine.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    engine.add_argument("--serial", action="store_true", help="run in this process, without Dask")
    run.add_argument(
        "--methods", default="gradient_x_input", help=f"comma-separated subset of {', '.join(METHODS)} (or empty)"
    )
    run.add_argument("--limit", type=int, help="only the first N records")
    run.add_argument("--partition-size", type=int, default=32, help="records per partition file (default 32)")
    run.add_argument("--top-k", type=int, default=5, help="runner-up spans kept per example")
    run.add_argument("--faithfulness", action="store_true", help="add light faithfulness scores per example (slower)")
    run.add_argument(
        "--keep", nargs="+", action="extend", default=[], metavar="ID", help="save these ids' Explanations"
    )
    run.add_argument("--max-length", type=int, help="tokens per window (default 384, or the model's limit)")
    run.add_argument("--stride", type=int, help="overlap between windows in tokens (default 128)")
    run.add_argument(
        "--null-threshold",
        type=float,
        default=0.0,
        help="SQuAD 2.0: abstain when the no-answer score beats the best span's by more than this (logits; default 0)",
    )
    run.add_argument(
        "--overwrite",
        action="store_true",
        help="replace a different QA Lens run already in --out (only the files that run wrote are removed)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    metadata = actions.add_parser(
        "metadata",
        help="add QA metadata (question and answer types, overlap, position, lengths) to a run, without the model",
        description="Compute the QA metadata of every partition of RUN that lacks it (resumable).",
    )
    metadata.add_argument("run", help="a run directory written by `dataset run`")
    compare = actions.add_parser(
        "compare",
        help="compare two runs over the same data: flips, ΔEM/ΔF1 with paired intervals, regressed slices",
        description="Compare run B with run A question by question (B - A).",
    )
    compare.add_argument("run_a", help="the baseline run directory")
    compare.add_argument("run_b", help="the run to compare with it")
    compare.add_argument("--out", help="write comparison.json and examples.parquet here")
    groups = actions.add_parser(
        "groups",
        help="list the failure groups of a run (where it fails most beyond its average)",
        description="Find the groups of RUN's questions whose error rate exceeds the rest's the most.",
    )
    groups.add_argument("run", help="a run directory written by `dataset run`")
    groups.add_argument("--top", type=int, default=10, help="how many groups to list (default 10)")
    groups.add_argument("--min-support", type=int, help="questions a group needs (default: 1%% of them, at least 20)")
    groups.add_argument("--save", action="store_true", help="save the groups as named slices in the run")
    groups.add_argument(
        "--features",
        help="comma-separated columns to split on (default: the QA metadata and the example's own scalars; "
        "add score, no_answer or null_margin to include the model's outputs)",
    )
    perturb = actions.add_parser(
        "perturb",
        help="a robustness suite: perturbed copies of a run's questions, flip rates with 95%% intervals",
        description="Perturb RUN's questions (seeded), run the copies with the run's model, pair them with the "
        "originals into RUN/robustness/<suite>; rerun the same command to resume.",
    )
    perturb.add_argument("run", help="a finished run directory written by `dataset run`")
    perturb.add_argument("--suite", default="default", help="'default' (every family) or comma-separated families")
    perturb.add_argument("--per-example", type=_positive, default=1, help="copies per example and family (default 1)")
    perturb.add_argument("--seed", type=int, default=0, help="the seed of every perturbation (default 0)")
    perturb.add_argument("--limit", type=_positive, help="only the run's first N examples")
    perturb.add_argument("--data", help="the run's input file, if it moved since the run (checked by its sha256)")
    perturb_engine = perturb.add_mutually_exclusive_group()
    perturb_engine.add_argument("--workers", type=_positive, help="processes of the embedded Dask cluster")
    perturb_engine.add_argument("--scheduler", help="address of an existing Dask scheduler")
    perturb_engine.add_argument("--serial", action="store_true", help="run in this process, without Dask")
    perturb.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_dataset_command(args: argparse.Namespace) -> int:
    """Run one ``dataset`` command; one line on stderr and exit code 2 for any failure, 130 when interrupted."""
    command = {"run": _run, "metadata": _metadata, "compare": _compare, "groups": _groups, "perturb": _perturb}[
        args.dataset_command
    ]
    try:
        return command(args)
    except KeyboardInterrupt:
        print("interrupted: finished work is kept; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the command promises one line, never a traceback
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 2


def _metadata(args: argparse.Namespace) -> int:
    from core.dataset.run_metadata import add_metadata

    written = add_metadata(args.run)
    print(f"added QA metadata to {len(written)} partition(s) of {args.run}" if written else f"{args.run} has it all")
    return 0


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _compare(args: argparse.Namespace) -> int:
    from core.dataset.compare import compare_runs, write_comparison

    comparison = compare_runs(args.run_a, args.run_b)
    flips = comparison.flips
    print(f"{comparison.questions} questions of {comparison.data}; A = {comparison.model_a}, B = {comparison.model_b}")
    print(
        f"EM  A {_percent(comparison.em_a)}  B {_percent(comparison.em_b)}  B-A {comparison.delta_em:+.2f} "
        f"[{comparison.delta_em_low:+.2f}, {comparison.delta_em_high:+.2f}] (95% paired bootstrap)"
    )
    print(
        f"F1  A {_percent(comparison.f1_a)}  B {_percent(comparison.f1_b)}  B-A {comparison.delta_f1:+.2f} "
        f"[{comparison.delta_f1_low:+.2f}, {comparison.delta_f1_high:+.2f}]"
    )
    print("flips: " + "  ".join(f"{name} {count}" for name, count in flips.items()))
    for group in comparison.regressions.groups[:5]:
        print(f"regressed: {group.expression} ({group.count} questions, F1 drop {100 * group.rate:+.1f} points)")
    for item in comparison.slices:
        if item.delta_f1 is not None:
            print(f"slice {item.name!r}: {item.count} questions, ΔF1 {item.delta_f1:+.2f}")
    if args.out:
        print(f"wrote {write_comparison(comparison, args.out)}")
    return 0


def _groups(args: argparse.Namespace) -> int:
    from core.dataset.failure_groups import find_failure_groups
    from core.dataset.slices import Slice, save_slice
    from core.dataset.store import load_run

    run = load_run(args.run)
    features = [name.strip() for name in args.features.split(",") if name.strip()] if args.features else None
    report = find_failure_groups(run.rows, min_support=args.min_support, max_groups=args.top, features=features)
    print(
        f"{report.questions} questions, error rate {100 * report.overall_rate:.1f}%; {report.tried} candidate groups "
        f"tried (at least {report.min_support} questions each); {len(report.groups)} significant after Holm's "
        "adjustment"
    )
    for rank, group in enumerate(report.groups, start=1):
        print(
            f"{rank:>2}. {group.expression}  ({group.count} questions, error {100 * group.rate:.1f}% vs "
            f"{100 * group.rest_rate:.1f}% for the rest, adjusted p {group.adjusted_p_value:.1e})"
        )
        if args.save:
            save_slice(args.run, Slice(f"failure group {rank}", group.expression, group.description), run.rows)
    return 0


def _perturb(args: argparse.Namespace) -> int:
    from core.dataset.robustness import perturb_run  # the suite runs on Dask: only when asked

    suite = perturb_run(
        args.run,
        args.suite,
        per_example=args.per_example,
        seed=args.seed,
        limit=args.limit,
        data=args.data,
        client=args.scheduler,
        workers=args.workers,
        serial=args.serial,
        progress=not args.no_progress,
    )
    print(
        f"{suite.spec['perturbed']} perturbed copies of {suite.spec['examples']} questions "
        f"({suite.spec['skipped']} could not be made; each says why in pairs.parquet)"
    )
    for figures in suite.summary["families"]:
        print(family_line(figures))
    print(f"wrote {suite.folder}")
    return 0


def _interval(share: dict[str, Any] | None) -> str:
    if not share or share["rate"] is None:
        return "-"
    return f"{100 * share['rate']:.1f}% [{100 * share['low']:.1f}, {100 * share['high']:.1f}]"


def family_line(figures: dict[str, Any]) -> str:
    """One family's figures on one line: flip rate, failure rate, capture and F1 drop, with 95% intervals."""
    line = (
        f"{figures['family']:<23} {figures['kind']:<14} {figures['applied']:>5} pairs"
        f"  flip {_interval(figures['flip'])}  fail {_interval(figures['failure'])}"
    )
    if figures.get("capture"):
        line += f"  capture {_interval(figures['capture'])}"
    drop = figures.get("f1_drop")
    if drop and drop["mean"] is not None:
        line += f"  F1 drop {drop['mean']:.1f} [{drop['low']:.1f}, {drop['high']:.1f}]"
    return line


def _run(args: argparse.Namespace) -> int:
    from core.dataset.run import explain_dataset  # the run loads Dask: only when asked

    options = {
        name: value for name, value in (("max_length", args.max_length), ("stride", args.stride)) if value is not None
    }
    try:
        summary = explain_dataset(
            args.data,
            args.model,
            args.out,
            client=args.scheduler,
            workers=args.workers,
            serial=args.serial,
            methods=[name.strip() for name in args.methods.split(",") if name.strip()],
            top_k=args.top_k,
            limit=args.limit,
            partition_size=args.partition_size,
            keep_ids=args.keep,
            faithfulness=args.faithfulness,
            null_threshold=args.null_threshold,
            progress=not args.no_progress,
            overwrite=args.overwrite,
            **options,
        )
    except KeyboardInterrupt:
        print("interrupted: finished partitions are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    for line in summary_lines(summary):
        print(line)
    print(f"wrote {args.out}")
    return 0


def _figure(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def summary_lines(summary: RunSummary) -> list[str]:
    """The run's headline as the official scripts report it, and what each number is over."""
    questions = summary.questions if summary.questions is not None else summary.n
    lines = [
        f"{questions} questions: EM {_figure(summary.em)}  F1 {_figure(summary.f1)} (SQuAD {summary.squad_version} "
        f"rules, every question counted; {summary.failures} could not run and score 0)  "
        f"{_figure(summary.examples_per_second)} examples/s",
    ]
    if summary.malformed:
        lines.append(f"{summary.malformed} malformed record(s) rejected by the reader, not counted as questions")
    if summary.has_answer is not None and summary.no_answer is not None:
        has, no = summary.has_answer, summary.no_answer
        lines.append(
            f"HasAns ({has['total']}): EM {_figure(has['exact'])}  F1 {_figure(has['f1'])}   NoAns ({no['total']}): "
            f"EM {_figure(no['exact'])}  F1 {_figure(no['f1'])}   at --null-threshold {summary.null_threshold:g}"
        )
        lines.append(
            f"best threshold: EM {_figure(summary.best_exact)} at {_figure(summary.best_exact_threshold, 3)}, "
            f"F1 {_figure(summary.best_f1)} at {_figure(summary.best_f1_threshold, 3)}"
        )
    if summary.ig_unconverged:
        lines.append(f"{summary.ig_unconverged} row(s) whose integrated gradients did not converge (ig_converged)")
    return lines


def _one_line(error: BaseException) -> str:
    known = (ValueError, FileNotFoundError)
    from core.models import ModelLoadError

    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, (*known, ModelLoadError)):
        return text
    if isinstance(error, OSError | TimeoutError):
        return f"{type(error).__name__}: {text}"
    return f"{type(error).__name__}: {text} (finished partitions are kept; rerun the same command to resume)"
