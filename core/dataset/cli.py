"""``python -m core dataset run DATA --model M --out DIR``: a whole dataset into a run directory.

Any failure prints one line and exits with code 2 (an interrupted run exits 130 and keeps its finished
partitions); rerunning the same command resumes.
"""

from __future__ import annotations

import argparse
import sys

from core.types import METHODS


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
    run.add_argument("--partition-size", type=int, help="records per partition file (default 32)")
    run.add_argument("--top-k", type=int, default=5, help="runner-up spans kept per example")
    run.add_argument("--faithfulness", action="store_true", help="add light faithfulness scores per example (slower)")
    run.add_argument(
        "--keep", nargs="+", action="extend", default=[], metavar="ID", help="save these ids' Explanations"
    )
    run.add_argument("--max-length", type=int, help="tokens per window (default 384, or the model's limit)")
    run.add_argument("--stride", type=int, help="overlap between windows in tokens (default 128)")
    run.add_argument("--overwrite", action="store_true", help="replace a different run already in --out")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_dataset_command(args: argparse.Namespace) -> int:
    """Run ``dataset run``; one line on stderr and exit code 2 for any failure."""
    from core.dataset.run import DEFAULT_PARTITION_SIZE, explain_dataset  # the run loads Dask: only when asked

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
            partition_size=args.partition_size or DEFAULT_PARTITION_SIZE,
            keep_ids=args.keep,
            faithfulness=args.faithfulness,
            progress=not args.no_progress,
            overwrite=args.overwrite,
            **options,
        )
    except KeyboardInterrupt:
        print("interrupted: finished partitions are kept; rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the command promises one line, never a traceback
        print(f"error: {_one_line(error)}", file=sys.stderr)
        return 2
    em = "-" if summary.em is None else f"{summary.em:.2f}"
    f1 = "-" if summary.f1 is None else f"{summary.f1:.2f}"
    speed = "-" if summary.examples_per_second is None else f"{summary.examples_per_second:.2f}"
    print(
        f"{summary.n} examples: EM {em}  F1 {f1}  answered {summary.answered}  failures {summary.failures}  "
        f"{speed} examples/s"
    )
    print(f"wrote {args.out}")
    return 0


def _one_line(error: BaseException) -> str:
    known = (ValueError, FileNotFoundError)
    from core.models import ModelLoadError

    text = " ".join(str(error).split()) or type(error).__name__
    if isinstance(error, (*known, ModelLoadError)):
        return text
    if isinstance(error, OSError | TimeoutError):
        return f"{type(error).__name__}: {text}"
    return f"{type(error).__name__}: {text} (finished partitions are kept; rerun the same command to resume)"
