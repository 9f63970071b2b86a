"""Command line: ``python -m core explain ...`` answers, explains and writes the Explanation;
``python -m core report ...`` writes the trust report (faithfulness, sanity, layers, models side by side).

Any problem with the input, the model or the output file exits with code 2 and one line on stderr that
names the problem and the fix; ``--out`` is checked before the model runs, and is written whole or not at all.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from core.attribution import IG_MAX_STEPS, IG_START_STEPS
from core.dataset import add_dataset_parser, run_dataset_command
from core.explain import explain
from core.explanation import Explanation
from core.models import ModelLoadError
from core.trust import (
    DEFAULT_EXPLAINERS,
    EXPLAINERS,
    PRECISIONS,
    RANDOM_ORDERS,
    SANITY_IG_STEPS,
    Report,
    build_report,
)
from core.types import DEFAULT_METHODS, DEFAULT_MODEL, EXPLAINABLE_TARGETS, IG_BASELINES, METHODS, TARGETS


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
        "--methods", default=",".join(DEFAULT_METHODS), help=f"comma-separated subset of {', '.join(METHODS)}"
    )
    explain_parser.add_argument(
        "--targets",
        default=",".join(TARGETS),
        help=f"comma-separated subset of {', '.join(EXPLAINABLE_TARGETS)} (start and end always)",
    )
    explain_parser.add_argument(
        "--ig-baseline", default="pad", choices=IG_BASELINES, help="integrated gradients' baseline"
    )
    explain_parser.add_argument("--top-k", type=int, default=5)
    explain_parser.add_argument(
        "--ig-max-steps",
        type=int,
        default=IG_MAX_STEPS,
        help="most path points integrated gradients may spend refining (fewer: faster, maybe not converged)",
    )
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
        "--explainers",
        default=",".join(DEFAULT_EXPLAINERS),
        help=f"comma-separated subset of {', '.join(EXPLAINERS)}",
    )
    report_parser.add_argument("--no-sanity", action="store_true", help="skip the randomisation sanity check")
    report_parser.add_argument(
        "--heads", action="store_true", help="add head importance (every head masked in turn, and its gradient)"
    )
    report_parser.add_argument("--random-orders", type=int, default=RANDOM_ORDERS, help="random permutations averaged")
    report_parser.add_argument(
        "--sanity-ig-steps", type=int, default=SANITY_IG_STEPS, help="integrated-gradients steps per sanity step"
    )
    report_parser.add_argument(
        "--ig-max-steps",
        type=int,
        default=IG_MAX_STEPS,
        help="most path points the explanation's integrated gradients may spend (fewer: faster, maybe not converged)",
    )
    report_parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="float32",
        help="faithfulness passes in float32 (exact) or bfloat16 (about 2x faster on CPUs with native bfloat16)",
    )
    report_parser.add_argument("--seed", type=int, default=0)


class CommandLineError(Exception):
    """A problem with the command's arguments or files; the message names it and the fix."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "explain":
            return _explain(args)
        if args.command == "report":
            return _report(args)
        if args.command == "dataset":
            return run_dataset_command(args)
    except (CommandLineError, ValueError, ModelLoadError, FileNotFoundError) as error:
        print(f"error: {_one_line(str(error))}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command}")
    return 2


def _one_line(message: str) -> str:
    """Messages from transformers can span lines; the CLI promises one."""
    return re.sub(r"\s*\n\s*", " ", message.strip())


def _explain(args: argparse.Namespace) -> int:
    question, context = _question_and_context(args)
    out = _writable_out(args.out, "answer.json")
    methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    targets = [name.strip() for name in args.targets.split(",") if name.strip()]
    explanation = explain(
        question,
        context,
        model=args.model,
        methods=methods,
        targets=targets,
        ig_baseline=args.ig_baseline,
        top_k=args.top_k,
        ig_steps=min(IG_START_STEPS, args.ig_max_steps),
        ig_max_steps=args.ig_max_steps,
    )
    path = _save(explanation, out)
    answer = explanation.answer
    print(f"answer: {answer.text!r}  score: {answer.score:.4f}  chars: {answer.start_char}-{answer.end_char}")
    for rank, span in enumerate(explanation.top_k[1:], start=2):
        print(f"  #{rank}: {span.text!r}  score: {span.score:.4f}")
    if explanation.convergence_delta:
        deltas = ", ".join(f"{target} {delta:+.2e}" for target, delta in explanation.convergence_delta.items())
        points = explanation.ig_steps.get("evaluations")
        print(f"integrated gradients: {points} path points (each a forward pass for every target)")
        for target, done in explanation.ig_converged.items():
            if not done:
                error = explanation.ig_error.get(target)
                estimate = "not estimable" if error is None else f"estimated map error {error:.1%}"
                print(
                    f"warning: integrated gradients for the answer {target} did not converge ({estimate}); "
                    "raise --ig-max-steps for a closer map"
                )
        print(f"integrated gradients convergence delta: {deltas}")
    print("timings (s): " + json.dumps({k: round(v, 3) for k, v in explanation.timings.items()}))
    print(f"wrote {path}")
    return 0


def _report(args: argparse.Namespace) -> int:
    question, context = _question_and_context(args)
    out = _writable_out(args.out, "report.json")
    explainers = [name.strip() for name in args.explainers.split(",") if name.strip()]
    report = build_report(
        question,
        context,
        args.model or [DEFAULT_MODEL],
        explainers=explainers,
        sanity=not args.no_sanity,
        heads=args.heads,
        random_orders=args.random_orders,
        precision=args.precision,
        sanity_ig_steps=args.sanity_ig_steps,
        seed=args.seed,
        ig_steps=min(IG_START_STEPS, args.ig_max_steps),
        ig_max_steps=args.ig_max_steps,
    )
    path = _save(report, out)
    for name, model_report in report.models.items():
        answer = model_report.explanation.answer
        best = model_report.faithfulness.ranking()[0]
        print(f"{name}: answer {answer.text!r} (score {answer.score:.4f}); most faithful: {best['name']}")
        if model_report.sanity is not None and model_report.sanity.flagged:
            print(f"  flagged by the randomisation check: {', '.join(model_report.sanity.flagged)}")
        unconverged = [t for t, done in model_report.explanation.ig_converged.items() if not done]
        if unconverged:
            print(f"  warning: integrated gradients did not converge for the answer {' and '.join(unconverged)}")
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
    question = _decodable("--question", args.question)
    if args.context.startswith("@"):
        return question, _read_context_file(args.context[1:])
    return question, _decodable("--context", args.context)


def _decodable(option: str, text: str) -> str:
    """Refuse an argument holding bytes that are not UTF-8, rather than replacing them.

    Python passes such bytes on as lone surrogates (U+DC80..U+DCFF, ``surrogateescape``); replacing them
    with U+FFFD would explain a question the user did not ask.
    """
    for index, char in enumerate(text):
        if "\udc80" <= char <= "\udcff":
            file_hint = ", or pass a UTF-8 file as --context @FILE" if option == "--context" else ""
            raise CommandLineError(
                f"{option} is not valid UTF-8 (byte 0x{ord(char) - 0xDC00:02x} at character {index}); it is "
                f"rejected, not repaired. Use a UTF-8 terminal or locale (e.g. LANG=C.UTF-8){file_hint}."
            )
    return text


def _read_context_file(name: str) -> str:
    """The text of ``--context @FILE``, or a message that says what is wrong with the file."""
    where = f"--context @{name}"
    try:
        data = Path(name).read_bytes()
    except FileNotFoundError as error:
        raise CommandLineError(
            f"{where}: no such file. Check the path, or pass the text itself without the @."
        ) from error
    except IsADirectoryError as error:
        raise CommandLineError(f"{where} is a directory; put a text file after the @.") from error
    except PermissionError as error:
        raise CommandLineError(
            f"{where}: permission denied. Make the file readable (chmod u+r) or copy it somewhere readable."
        ) from error
    except OSError as error:
        raise CommandLineError(f"{where}: cannot read it ({error.strerror or error}).") from error
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CommandLineError(
            f"{where} is not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}). Convert it, "
            f"e.g. `iconv -f latin1 -t utf-8 {name} > context-utf8.txt`."
        ) from error
    return text.replace("\r\n", "\n").replace("\r", "\n")  # newlines as text mode reads them


def _writable_out(out: str, example_name: str) -> Path:
    """``--out`` as a path, refused now if it cannot be written rather than after minutes of computing.

    Missing parent directories are fine (saving creates them); a directory, a file in the way, or a folder
    without write permission are not.
    """
    path = Path(out)
    if path.is_dir():
        raise CommandLineError(f"--out {out} is a directory; give a file path such as {path / example_name}.")
    nearest = next(folder for folder in path.absolute().parents if folder.exists())
    if not nearest.is_dir():
        raise CommandLineError(f"--out {out}: {nearest} is a file, not a directory. Choose another --out.")
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise CommandLineError(
            f"--out {out}: cannot write in {nearest} (permission denied). Choose a --out in a directory you can "
            "write to."
        )
    return path


def _save(result: Explanation | Report, out: Path) -> Path:
    """Save ``result`` whole or not at all; an OS error becomes a message naming the cause and the fix."""
    try:
        return result.save(out)
    except OSError as error:
        raise CommandLineError(
            f"Could not write --out {out}: {_why_not_written(error)} Nothing was written."
        ) from error


def _why_not_written(error: OSError) -> str:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return "the disk is full. Free some space, or choose a --out on another disk."
    if error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return "permission denied. Choose a --out in a directory you can write to."
    if error.errno == errno.EISDIR:
        return "it is a directory. Give a file path."
    if error.errno in (errno.ENOTDIR, errno.EEXIST):
        return "part of the path is a file, not a directory. Choose another --out."
    return f"{error.strerror or error}. Choose another --out."
