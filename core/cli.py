"""Command line: ``python -m core explain ...`` answers, explains and writes the Explanation;
``python -m core report ...`` writes the trust report (faithfulness, sanity, layers, models side by side)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from core.dataset.cli import add_dataset_parser
from core.dataset.cli import main as dataset_main
from core.explain import explain
from core.models import ModelLoadError
from core.saliency import IG_MAX_STEPS, IG_START_STEPS
from core.trust.faithfulness import PRECISIONS, RANDOM_ORDERS
from core.trust.importance import EXPLAINERS
from core.trust.report import build_report
from core.trust.sanity import SANITY_IG_STEPS
from core.types import DEFAULT_MODEL, METHODS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    explain_parser = commands.add_parser("explain", help="answer a question and write its Explanation")
    explain_parser.add_argument("--model", default=DEFAULT_MODEL, help="hub id or local checkpoint directory")
    explain_parser.add_argument("--question", help="the question (or use --example)")
    explain_parser.add_argument("--context", help="the context text, or @FILE to read it from a file")
    explain_parser.add_argument(
        "--example", help="id of a question in data/examples.json to use instead of --question/--context"
    )
    explain_parser.add_argument("--out", required=True, help="where to write the Explanation (.json or .npz)")
    explain_parser.add_argument(
        "--methods", default=",".join(METHODS), help=f"comma-separated subset of {', '.join(METHODS)}"
    )
    explain_parser.add_argument("--top-k", type=int, default=5)
    _add_report_parser(commands)
    add_dataset_parser(commands)
    return parser


def _add_report_parser(commands: argparse._SubParsersAction) -> None:
    report_parser = commands.add_parser(
        "report",
        help="faithfulness, sanity check, layer-wise answers and (with 2+ models) agreement, as JSON",
        description="Write the trust report (JSON shape: see core.trust.report).",
    )
    report_parser.add_argument(
        "--model", action="append", help="hub id or local checkpoint directory; repeat to compare models"
    )
    report_parser.add_argument("--question", help="the question (or use --example)")
    report_parser.add_argument("--context", help="the context text, or @FILE to read it from a file")
    report_parser.add_argument("--example", help="id of a question in data/examples.json")
    report_parser.add_argument("--out", required=True, help="where to write the report (.json)")
    report_parser.add_argument(
        "--explainers", default=",".join(EXPLAINERS), help=f"comma-separated subset of {', '.join(EXPLAINERS)}"
    )
    report_parser.add_argument("--no-sanity", action="store_true", help="skip the randomisation sanity check")
    report_parser.add_argument("--random-orders", type=int, default=RANDOM_ORDERS, help="random permutations averaged")
    report_parser.add_argument(
        "--sanity-ig-steps", type=int, default=SANITY_IG_STEPS, help="integrated-gradients steps per sanity step"
    )
    report_parser.add_argument(
        "--ig-max-steps",
        type=int,
        default=IG_MAX_STEPS,
        help="step cap of the explanation's adaptive integrated gradients (fewer: faster, less converged)",
    )
    report_parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="faithfulness passes in float32 (exact) or bfloat16 (about 2x faster on CPUs with native bfloat16)",
    )
    report_parser.add_argument("--seed", type=int, default=0)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "explain":
            return _explain(args)
        if args.command == "report":
            return _report(args)
        if args.command == "dataset":
            return dataset_main(args)
    except (ValueError, ModelLoadError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command}")
    return 2


def _explain(args: argparse.Namespace) -> int:
    question, context = _question_and_context(args)
    methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    explanation = explain(question, context, model=args.model, methods=methods, top_k=args.top_k)
    path = explanation.save(args.out)
    answer = explanation.answer
    print(f"answer: {answer.text!r}  score: {answer.score:.4f}  chars: {answer.start_char}-{answer.end_char}")
    for rank, span in enumerate(explanation.top_k[1:], start=2):
        print(f"  #{rank}: {span.text!r}  score: {span.score:.4f}")
    if explanation.convergence_delta:
        deltas = ", ".join(f"{target} {delta:+.2e}" for target, delta in explanation.convergence_delta.items())
        print(f"integrated gradients convergence delta: {deltas}")
    print("timings (s): " + json.dumps({k: round(v, 3) for k, v in explanation.timings.items()}))
    print(f"wrote {path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    question, context = _question_and_context(args)
    explainers = [name.strip() for name in args.explainers.split(",") if name.strip()]
    report = build_report(
        question,
        context,
        args.model or [DEFAULT_MODEL],
        explainers=explainers,
        sanity=not args.no_sanity,
        random_orders=args.random_orders,
        precision=args.precision,
        sanity_ig_steps=args.sanity_ig_steps,
        seed=args.seed,
        ig_steps=min(IG_START_STEPS, args.ig_max_steps),
        ig_max_steps=args.ig_max_steps,
    )
    path = report.save(args.out)
    for name, model_report in report.models.items():
        answer = model_report.explanation.answer
        best = model_report.faithfulness.ranking()[0]
        print(f"{name}: answer {answer.text!r} (score {answer.score:.4f}); most faithful: {best['name']}")
        if model_report.sanity is not None and model_report.sanity.flagged:
            print(f"  flagged by the randomisation check: {', '.join(model_report.sanity.flagged)}")
    if report.comparison is not None:
        for explainer, pairs in report.comparison.agreement.items():
            for pair in pairs:
                print(f"agreement {explainer}: {pair.a} vs {pair.b}: spearman {pair.spearman:.3f} ({pair.words} words)")
    print(f"wrote {path}")
    return 0


def _question_and_context(args: argparse.Namespace) -> tuple[str, str]:
    if args.example:
        from core.examples import find_example

        example = find_example(args.example)
        return example.question, example.context
    if args.question is None or args.context is None:
        raise ValueError("Give --question and --context, or --example ID.")
    context = args.context
    if context.startswith("@"):
        context = Path(context[1:]).read_text(encoding="utf-8")
    return args.question, context
