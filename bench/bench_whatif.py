"""Benchmark the what-if re-answer: ``core.whatif.reanswer`` on the fast attention path against eager attention.

A re-answer needs only the answer's logits, never attention weights, so it runs on ``core.passes.answer_logits``
(PyTorch's fused SDPA kernel). The obvious alternative, and what the project did before, runs the same windows
through the model as loaded, with eager attention (the implementation that returns attention weights). Both
are measured in this process, interleaved round by round, on the same edited contexts:

- ``reanswer``: the whole call (encode the edited context, the answer pass over every window, spans, the
  mapping of the old top-k into the new text, the diff);
- eager: the same encode, the same padded length-sorted batches through the model in eager attention, the same
  span rule; only the attention implementation differs.

Each input is a bundled example answered once with ``core.explain``, then a word outside its answer masked
(a real edit: an unchanged context is answered from the explanation without any pass). The answers of both
paths are checked to be the same span. Default model: the fine-tuned MiniLM-L6 that ``scripts/finetune_qa.py``
builds (trained weights); without it, the MiniLM-L6 probe.

    .venv/bin/python bench/bench_whatif.py                       # the fine-tuned model, 4 inputs, 5 rounds
    .venv/bin/python bench/bench_whatif.py --model DIR --rounds 9
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
from core.fixtures import build_minilm_probe  # noqa: E402
from core.whatif import mask, reanswer  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()

FINE_TUNED = Path.home() / ".cache" / "qa-lens" / "models" / "minilm-l6-squad"
EXAMPLES = ("vellmoor-01", "hrc-01", "comet-01", "varga-01")
"""Bundled examples from the longest context (7,212 characters, several 384-token windows) to one of a single window."""


def eager_answer(loaded: core.LoadedModel, explanation: core.Explanation, context: str) -> core.Span:
    """The re-answer's pass the obvious way: the model as loaded (eager attention), the same batches and rule."""
    settings = explanation.settings
    encoding = core.encode(
        loaded.tokenizer, explanation.question, context, max_length=settings["max_length"], stride=settings["stride"]
    )
    starts: list = [None] * len(encoding.windows)
    ends: list = [None] * len(encoding.windows)
    with loaded.lock, torch.inference_mode():
        for batch in core.length_batches([window.length for window in encoding.windows], 2048):
            windows = [encoding.windows[index] for index in batch]
            output = loaded.model(**core.batch_inputs(loaded, windows))
            for row, (index, window) in enumerate(zip(batch, windows, strict=True)):
                starts[index] = output.start_logits[row, : window.length].float().numpy()
                ends[index] = output.end_logits[row, : window.length].float().numpy()
    spans = core.best_spans(
        encoding, starts, ends, max_answer_tokens=settings["max_answer_tokens"], top_k=settings["top_k"]
    )
    return spans[0]


def masked_word(explanation: core.Explanation) -> tuple[int, int]:
    """Characters of a context word well before (or after) the answer, to mask."""
    answer = explanation.answer
    context = explanation.context
    for start in range(0, len(context)):
        end = start
        while end < len(context) and context[end].isalpha():
            end += 1
        if end - start >= 4 and (end <= answer.start_char - 20 or start >= answer.end_char + 20):
            return start, end
    raise ValueError("no word to mask outside the answer")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="checkpoint directory (default: the fine-tuned model, else the probe)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1, as the other benches)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.model:
        model, weights = args.model, f"{args.model}"
    elif FINE_TUNED.is_dir():
        model, weights = str(FINE_TUNED), "the fine-tuned MiniLM-L6 SQuAD model (trained weights)"
    else:
        model = build_minilm_probe(tempfile.mkdtemp(prefix="qa-lens-probe-"))
        weights = f"the MiniLM-L6 probe (no fine-tuned model at {FINE_TUNED})"
    loaded = core.load_model(model)
    print(f"model: {weights}; torch {torch.__version__}, {args.threads} thread(s), {platform.processor() or 'cpu'}")
    examples = {example.id: example for example in core.load_examples()}
    print(f"{'input':<14} {'windows':>7} {'reanswer (SDPA) ms':>19} {'eager ms':>9} {'speed-up':>9}  same answer")
    ratios = []
    for example_id in EXAMPLES:
        example = examples[example_id]
        explanation = core.explain(example.question, example.context, loaded, methods=(), use_cache=False)
        start, end = masked_word(explanation)
        edit = mask(start, end)
        edited = reanswer(explanation, edit, model=loaded)
        reference = eager_answer(loaded, explanation, edited.context)
        same = (reference.start_char, reference.end_char) == (edited.answer.start_char, edited.answer.end_char)
        fast_times, eager_times = [], []
        for _round in range(args.rounds):
            began = time.perf_counter()
            reanswer(explanation, edit, model=loaded)
            fast_times.append(time.perf_counter() - began)
            began = time.perf_counter()
            eager_answer(loaded, explanation, edited.context)
            eager_times.append(time.perf_counter() - began)
        fast, eager = statistics.median(fast_times), statistics.median(eager_times)
        ratios.append(eager / fast)
        print(
            f"{example_id:<14} {edited.num_windows:>7} {1000 * fast:>19.0f} {1000 * eager:>9.0f} "
            f"{eager / fast:>8.2f}x  {'yes' if same else 'NO'}"
        )
    print(f"re-answer on the fast attention path: {min(ratios):.2f}x to {max(ratios):.2f}x faster than eager")
    return 0


if __name__ == "__main__":
    sys.exit(main())
