"""Benchmark ``core.trust.head_importance`` on the MiniLM-L6 probe (6 x 12 heads) at 384 tokens.

Measured side by side in one run, on the bundled example ``vellmoor-01`` (its answer window is a full
384-token window), with the probe (``core.fixtures.build_minilm_probe``: real MiniLM-L6 weights, a QA head
fitted to the bundled examples):

- one forward pass of the window (SDPA attention, ``torch.inference_mode``; median of the passes timed
  before and after);
- ``head_importance`` (73 ablation masks in batches, each batch running the layers before its first masked
  layer once; then one forward and backward pass for the gradients);
- the same with ``batch_size=1``: one forward pass of the whole model per mask, the obvious way;

interleaved (batched, one per mask, batched, ...) so both see the same machine load.

Absolute times on a shared 2-core machine are noisy; the ratio is what matters.

    .venv/bin/python bench/bench_heads.py                     # builds the probe in a temporary folder (~1 min)
    .venv/bin/python bench/bench_heads.py --probe DIR         # reuses a probe saved earlier in DIR
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402
import transformers  # noqa: E402

import core  # noqa: E402
from core import answer_window, fast_attention, load_examples, window_tensors  # noqa: E402
from core.fixtures import build_minilm_probe  # noqa: E402
from core.trust import HEAD_BATCH_SIZE, head_importance  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()

EXAMPLE = "vellmoor-01"


def forward_times(loaded: core.LoadedModel, explanation: core.Explanation, repeats: int) -> list[float]:
    """Seconds of ``repeats`` single forward passes of the answer's window (SDPA attention, inference mode)."""
    tensors = window_tensors(loaded, answer_window(loaded, explanation))
    inputs = {"input_ids": tensors.input_ids, **tensors.extra(1)}
    times = []
    with fast_attention(loaded), torch.inference_mode():
        loaded.model(**inputs)  # warm-up
        for _ in range(repeats):
            began = time.perf_counter()
            loaded.model(**inputs)
            times.append(time.perf_counter() - began)
    return times


def run(probe: str, args: argparse.Namespace) -> None:
    example = next(e for e in load_examples() if e.id == EXAMPLE)
    loaded = core.load_model(probe, device="cpu")
    explanation = core.explain(example.question, example.context, loaded, methods=(), max_length=384)
    layers, heads = explanation.num_layers, explanation.num_heads
    print(
        f"model: MiniLM-L6 probe, {layers} layers x {heads} heads; example {EXAMPLE}: answer "
        f"{explanation.answer.text!r} (p = {explanation.answer.score:.3f}), window {explanation.window_index} of "
        f"{explanation.num_windows}, {explanation.num_tokens} tokens"
    )
    before = forward_times(loaded, explanation, args.repeats)
    batched, single = [], []
    for _ in range(args.importance_repeats):
        batched.append(head_importance(explanation, loaded, batch_size=args.batch_size))
        single.append(head_importance(explanation, loaded, batch_size=1))
    after = forward_times(loaded, explanation, args.repeats)
    forward = statistics.median(before + after)
    rows = 1 + layers * heads
    print(
        f"one forward pass at {explanation.num_tokens} tokens: {forward * 1000:.0f} ms (median of "
        f"{len(before) + len(after)}; before {statistics.median(before) * 1000:.0f}, after "
        f"{statistics.median(after) * 1000:.0f})"
    )
    for label, results in (("batched", batched), ("one pass per mask", single)):
        total = statistics.median(result.seconds["total"] for result in results)
        ablation = statistics.median(result.seconds["ablation"] for result in results)
        gradient = statistics.median(result.seconds["gradient"] for result in results)
        print(
            f"head_importance, {label} (batch_size={results[0].settings['batch_size']}, median of {len(results)}): "
            f"{total:.2f} s = {total / forward:.1f} forward passes' time; ablation {ablation:.2f} s ({rows} masks), "
            f"gradient {gradient:.2f} s"
        )
    ratios = [one.seconds["total"] / many.seconds["total"] for many, one in zip(batched, single, strict=True)]
    print(f"batched is {statistics.median(ratios):.2f}x faster than one pass per mask (per-pair ratios {ratios})")
    result = batched[-1]
    print(
        f"top heads by ablation {result.top_heads(3)}; by gradient {result.top_heads(3, by='gradient')}; "
        f"Spearman(|ablation|, gradient) = {result.spearman:.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probe", help="a probe folder saved earlier (built into a temporary folder if absent)")
    parser.add_argument("--repeats", type=int, default=5, help="single forward passes timed before and after")
    parser.add_argument("--importance-repeats", type=int, default=3, help="head_importance pairs timed (median)")
    parser.add_argument("--batch-size", type=int, default=HEAD_BATCH_SIZE, help="masks per forward pass")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"python {platform.python_version()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    if args.probe and (Path(args.probe) / "config.json").is_file():
        run(args.probe, args)
        return 0
    with tempfile.TemporaryDirectory() as folder:
        target = Path(args.probe) if args.probe else Path(folder) / "probe"
        run(build_minilm_probe(target), args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
