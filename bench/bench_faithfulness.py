"""Benchmark ``core.trust.faithfulness`` in float32 and in bfloat16, interleaved, on the trained probe.

Why: the dashboard's Trust tab may run the report under bfloat16 autocast by default only if its curves stay within
1% of float32's. On random weights bfloat16 looks exact (logits are tiny and flat); trained-size logits (the probe's
best start logit is about 16) are where bfloat16's 8-bit mantissa shows. So this runs on
``core.fixtures.build_minilm_probe`` (real MiniLM-L6 weights, a QA head fitted to the bundled examples) by default.

The full report: every saliency method and attention variant (6 explainers) plus the random baseline
(``RANDOM_ORDERS`` permutations), deletion and insertion curves at 11 points (0, 0.1, ..., 1) and ERASER
comprehensiveness/sufficiency at 1, 5, 10, 20, 50 %. Per input, measured side by side in one process:

- the report in float32 and in bfloat16, alternating which goes first each round; the speed-up is the median of the
  per-round ratios float32 / bfloat16 (wall clock, and this process's CPU time as a steadier check);
- the largest relative difference between the two reports' curve points (every explainer's deletion and insertion
  probabilities, ``|p_bf16 - p_f32| / p_f32``), where it is, and whether the method ranking is the same;
- one forward pass of the same window (median of single passes before and after), so the report's time reads as a
  number of forward passes; and the forward passes run against those requested (de-duplication).

    .venv/bin/python bench/bench_faithfulness.py                 # the probe: vellmoor-01 (1 window), quillon-03, hrc-03
    .venv/bin/python bench/bench_faithfulness.py --model random  # random weights, distilbert-base size, 384 tokens
    .venv/bin/python bench/bench_faithfulness.py --quick         # one input, one round
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from bench_core import (  # noqa: E402  (the same models, inputs and clock as bench_core)
    EXAMPLE_INPUTS,
    QUESTION,
    WINDOW_TOKENS,
    Case,
    Clock,
    Seconds,
    build_context,
    build_random_model,
    example_cases,
    make_case,
)

import core  # noqa: E402
from core import bfloat16_is_fast, fast_attention  # noqa: E402
from core.fixtures import build_minilm_probe  # noqa: E402
from core.trust import FAITHFULNESS_BATCH_SIZE, RANDOM_ORDERS  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")

CURVE_TOLERANCE = 0.01
"""The dashboard uses bfloat16 by default only if every curve point stays within this of float32's (relative)."""
PRECISIONS = ("float32", "bfloat16")


@dataclass
class Outcome:
    label: str
    tokens: int
    speedup: float
    cpu_speedup: float
    float32_s: float
    bfloat16_s: float
    forward_s: float
    deviation: float
    where: str
    absolute: float
    same_ranking: bool
    forward_passes: int
    inputs_requested: int


def forward_times(loaded: core.LoadedModel, case: Case, repeats: int) -> list[Seconds]:
    """Wall and CPU seconds of ``repeats`` single forward passes of the window (SDPA attention, inference mode)."""
    ids = torch.tensor([case.window.input_ids])
    extra = {"attention_mask": torch.ones_like(ids)}
    if case.window.token_type_ids is not None:
        extra["token_type_ids"] = torch.tensor([case.window.token_type_ids])
    times = []
    with fast_attention(loaded), torch.inference_mode():
        loaded.model(input_ids=ids, **extra)  # warm-up
        for _ in range(repeats):
            clock = Clock()
            loaded.model(input_ids=ids, **extra)
            times.append(clock.read())
    return times


def curve_deviation(
    reference: core.FaithfulnessReport, other: core.FaithfulnessReport
) -> tuple[float, str, float, float]:
    """Largest ``|p_other - p_ref| / p_ref`` over every explainer's deletion and insertion points, and where it is.

    For scale, also the largest absolute difference in units of the original answer's probability, and the largest
    relative difference among points above 1% of it (tiny probabilities make large relative differences).
    """
    worst, where, absolute, large = 0.0, "", 0.0, 0.0
    for name, item in reference.explainers.items():
        for curve in ("deletion", "insertion"):
            ours = np.asarray(getattr(item, curve), dtype=np.float64)
            theirs = np.asarray(getattr(other.explainers[name], curve), dtype=np.float64)
            relative = np.abs(theirs - ours) / np.maximum(np.abs(ours), 1e-300)
            index = int(np.argmax(relative))
            absolute = max(absolute, float(np.max(np.abs(theirs - ours))) / reference.original_probability)
            visible = np.abs(ours) >= 0.01 * reference.original_probability
            if visible.any():
                large = max(large, float(np.max(relative[visible])))
            if relative[index] > worst:
                worst = float(relative[index])
                where = (
                    f"{name} {curve} at {reference.fractions[index]:.0%}: float32 {ours[index]:.4g}, "
                    f"bfloat16 {theirs[index]:.4g}"
                )
    return worst, where, absolute, large


def measure(loaded: core.LoadedModel, case: Case, args: argparse.Namespace) -> Outcome:
    began = time.perf_counter()
    explanation = core.explain(case.question, case.context, loaded, use_cache=False)
    explain_s = time.perf_counter() - began
    answer = explanation.answer
    print(
        f"\n== {case.label}: {case.window.length} tokens, answer {answer.text!r} (p = {answer.score:.3g}); "
        f"explanation with all 3 saliency methods {explain_s:.1f} s (not part of any ratio)"
    )
    before = forward_times(loaded, case, args.forwards)
    times: dict[str, list[Seconds]] = {precision: [] for precision in PRECISIONS}
    reports: dict[str, core.FaithfulnessReport] = {}
    ratios, cpu_ratios = [], []
    for index in range(args.rounds):
        order = PRECISIONS if index % 2 == 0 else PRECISIONS[::-1]  # alternate which one runs first
        for precision in order:
            clock = Clock()
            reports[precision] = core.trust.faithfulness(
                explanation, loaded, batch_size=args.batch_size, random_orders=args.random_orders, precision=precision
            )
            times[precision].append(clock.read())
        ratios.append(times["float32"][-1].wall / times["bfloat16"][-1].wall)
        cpu_ratios.append(times["float32"][-1].cpu / times["bfloat16"][-1].cpu)
    after = forward_times(loaded, case, args.forwards)
    forward = statistics.median(t.wall for t in before + after)
    forward_cpu = statistics.median(t.cpu for t in before + after)
    report, fast = reports["float32"], reports["bfloat16"]
    float32_s = statistics.median(t.wall for t in times["float32"])
    bfloat16_s = statistics.median(t.wall for t in times["bfloat16"])
    float32_cpu = statistics.median(t.cpu for t in times["float32"])
    print(
        f"  one forward pass: {forward * 1000:.1f} ms wall, {forward_cpu * 1000:.1f} ms CPU (median of "
        f"{len(before) + len(after)}, before and after the reports)"
    )
    print(
        f"  report, float32: median {float32_s:.2f} s (runs {_fmt([t.wall for t in times['float32']])}) = "
        f"{float32_s / forward:.0f} forward passes' time in wall clock, {float32_cpu / forward_cpu:.0f} in CPU time; "
        f"{report.forward_passes} passes run of "
        f"{report.inputs_requested} requested, {report.batches} batches of <= {args.batch_size}"
    )
    print(f"  report, bfloat16 autocast: median {bfloat16_s:.2f} s (runs {_fmt([t.wall for t in times['bfloat16']])})")
    speedup, cpu_speedup = statistics.median(ratios), statistics.median(cpu_ratios)
    print(
        f"  bfloat16 speed-up, median of per-round ratios: wall {speedup:.2f}x (rounds {_fmt(ratios)}), CPU time "
        f"{cpu_speedup:.2f}x (rounds {_fmt(cpu_ratios)})"
    )
    deviation, where, absolute, large = curve_deviation(report, fast)
    same = [row["name"] for row in report.ranking()] == [row["name"] for row in fast.ranking()]
    print(
        f"  curves: largest relative difference {deviation:.2%} ({where}); within {CURVE_TOLERANCE:.0%}: "
        f"{deviation <= CURVE_TOLERANCE}; same ranking: {same}"
    )
    print(
        f"    for scale: largest absolute difference {absolute:.2%} of p_orig; largest relative difference of points "
        f"above 1% of p_orig {large:.2%}"
    )
    if not same:
        print(f"    float32 ranking  {[row['name'] for row in report.ranking()]}")
        print(f"    bfloat16 ranking {[row['name'] for row in fast.ranking()]}")
    return Outcome(
        case.label,
        case.window.length,
        speedup,
        cpu_speedup,
        float32_s,
        bfloat16_s,
        forward,
        deviation,
        where,
        absolute,
        same,
        report.forward_passes,
        report.inputs_requested,
    )


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="probe", help="probe (default), random, or a QA checkpoint directory")
    parser.add_argument("--inputs", nargs="+", default=None, help=f"bundled example ids (default {EXAMPLE_INPUTS})")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved float32/bfloat16 rounds (default 3)")
    parser.add_argument("--forwards", type=int, default=5, help="single forward passes timed before and after")
    parser.add_argument("--batch-size", type=int, default=FAITHFULNESS_BATCH_SIZE, help="sequences per forward call")
    parser.add_argument("--random-orders", type=int, default=RANDOM_ORDERS, help="random permutations averaged")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1 as bench_core; 0: torch's)")
    parser.add_argument("--quick", action="store_true", help="first input, one round")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.rounds = args.rounds or (1 if args.quick else 3)
    names = args.inputs or list(EXAMPLE_INPUTS[:1] if args.quick else EXAMPLE_INPUTS)
    print(
        f"bench_faithfulness: python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
        f"(shared machine: expect noise); core.bfloat16_is_fast() = {bfloat16_is_fast()}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-faithfulness-") as scratch:
        if args.model == "probe":
            directory = build_minilm_probe(Path(scratch) / "probe")
            label = "trained probe: MiniLM-L6 weights + QA head fitted to data/examples.json"
        elif args.model == "random":
            directory = build_random_model(Path(scratch) / "random", quick=False)
            label = "random weights, distilbert-base size"
        else:
            directory = str(Path(args.model).expanduser())
            label = directory
        loaded = core.load_model(directory)
        print(f"model: {label} ({loaded.num_layers} layers x {loaded.num_heads} heads)")
        if args.model == "random":
            context = build_context(loaded.tokenizer, WINDOW_TOKENS)
            cases = [make_case(loaded, f"filler, {WINDOW_TOKENS} tokens", QUESTION, context, None)]
        else:
            cases = example_cases(loaded, names)
        outcomes = [measure(loaded, case, args) for case in cases]
    print(f"\nsummary ({label}); speed-ups are medians of {args.rounds} interleaved float32/bfloat16 rounds")
    print(
        "| input | tokens | float32 s (forward passes' time) | bfloat16 s | speed-up wall / CPU | "
        "largest relative curve difference | same ranking |"
    )
    print("|---|---|---|---|---|---|---|")
    for o in outcomes:
        print(
            f"| {o.label} | {o.tokens} | {o.float32_s:.1f} ({o.float32_s / o.forward_s:.0f}) | {o.bfloat16_s:.1f} | "
            f"{o.speedup:.2f}x / {o.cpu_speedup:.2f}x | {o.deviation:.2%} | {o.same_ranking} |"
        )
    within = all(o.deviation <= CURVE_TOLERANCE for o in outcomes)
    print(
        f"verdict: bfloat16 curves {'stay' if within else 'do NOT stay'} within {CURVE_TOLERANCE:.0%} of float32's "
        f"(largest {max(o.deviation for o in outcomes):.2%}); same ranking on {sum(o.same_ranking for o in outcomes)} "
        f"of {len(outcomes)} inputs; bfloat16_is_fast() = {bfloat16_is_fast()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
