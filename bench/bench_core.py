"""Benchmark core's integrated gradients against captum's BERT SQuAD tutorial recipe, side by side in one run.

Why this shape: a speed-up means nothing without the accuracy it buys, and on a shared 2-core machine absolute
seconds swing 2-3x from minute to minute. So each input is timed interleaved in one process (ours, recipe, ours; the
speed-up is the median over rounds of recipe / mean(ours)), and each side's per-token map (attribution summed over
the hidden dimension) is compared with ITS OWN converged reference (256 steps of the same definition).

(a) Integrated gradients for the answer's start and end. Ours: ``core.add_saliency(e, ("integrated_gradients",))``
    on an explanation computed without it (nested trapezoid nodes with Gregory corrections, both targets per forward
    pass, stopping on an estimate of the map's error; ``core.saliency``). Its reference: the same definition at 257
    nodes (``integrated_gradients_both(..., n_steps=257, max_steps=257)``), checked against captum's
    ``IntegratedGradients`` on the word embeddings at 256 Gauss-Legendre steps. The recipe: captum's "Interpreting
    BERT Models" SQuAD tutorial, ``LayerIntegratedGradients`` on ``model.<base>.embeddings``, ``n_steps=50``, captum's
    default method, one ``attribute`` call per target, baseline [PAD] for question and context tokens, on the model
    loaded the tutorial's way (``from_pretrained``); its reference: the same LIG at 256 steps.
(b) Time to a first explanation without integrated gradients (answer, all attentions, gradient and gradient x input
    for both targets) as a ratio to one plain forward pass of the same one-window input.

Both sides run with one torch thread by default: on this shared 2-core machine (load average 5-9 from other jobs)
two threads made both sides about 2x slower in wall time and penalised ours, with its smaller batches, more (paired
ratios 2.3x at 2 threads against 3.0x at 1 in one interleaved run); ``--threads 0`` keeps torch's default.

Models (no model hub here): ``probe`` (default, the headline) is ``core.fixtures.build_minilm_probe``, real MiniLM-L6
weights with a QA head fitted to the bundled examples (32/32 exact); ``random`` is a random-weight
distilbert-base-size model (a secondary figure: its integrand is smooth, so it says little about trained weights); a
directory is any local QA checkpoint (e.g. the fine-tuned ``~/.cache/qa-lens/models/minilm-l6-squad``).

    .venv/bin/python bench/bench_core.py                          # the probe: vellmoor-01, quillon-03, hrc-03
    .venv/bin/python bench/bench_core.py --model random           # random weights, distilbert-base size, 384 tokens
    .venv/bin/python bench/bench_core.py --model ~/.cache/qa-lens/models/minilm-l6-squad
    .venv/bin/python bench/bench_core.py --quick                  # smoke run: one input, 1 round, 64-step references
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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from captum.attr import IntegratedGradients, LayerIntegratedGradients  # noqa: E402
from transformers import AutoModelForQuestionAnswering, DistilBertConfig, PreTrainedModel  # noqa: E402

import core  # noqa: E402
from core import Window, answer_window, attribution, fast_attention, find_example, input_embeddings  # noqa: E402
from core.fixtures import (  # noqa: E402
    build_minilm_probe,  # noqa: E402
    minilm_qa_model,
    minilm_tokenizer,
)
from core.types import TARGETS, Target  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")

RECIPE_STEPS = 50
REFERENCE_STEPS = 256
REFERENCE_BATCH = 16
"""Path points per forward pass of the 256-step references (memory; it does not change their values)."""
MAP_TOLERANCE = 0.01
REQUIRED_SPEEDUP, AIMED_SPEEDUP = 5.0, 10.0
FORWARDS_PER_SAMPLE = 3
WINDOW_TOKENS = 384

EXAMPLE_INPUTS = ("vellmoor-01", "quillon-03", "hrc-03")
"""The research's three inputs: a full 384-token window, a short one-window context, a long (8-token) answer."""
ONE_WINDOW = "vellmoor-01"
"""Its context is cut to fill exactly one 384-token window (the same tokens as its answer window of the full text)."""

QUESTION = "Which river flows past the old harbour town in the north of the country?"
FILLER_TEXT = (
    "the old harbour town stands on the bank of a wide river that flows north toward the sea and many boats "
    "travel along it every day carrying wool grain and people from one market to the next while children "
    "watch from the stone bridge near the church"
)
FILLER = FILLER_TEXT.split()


@dataclass
class Case:
    """One benchmark input: the explanation without integrated gradients, its answer window and the gold answer."""

    label: str
    question: str
    context: str
    gold: str | None
    explanation: core.Explanation
    window: Window

    @property
    def start(self) -> int:
        return self.explanation.answer.start_token

    @property
    def end(self) -> int:
        return self.explanation.answer.end_token


@dataclass
class Outcome:
    """What one input measured, for the summary table."""

    label: str
    tokens: int
    ratio: float
    rounds: list[float]
    cpu_ratio: float
    ours_s: float
    recipe_s: float
    evaluations: int
    ours_error: dict[Target, float]
    estimated: dict[Target, float | None]
    converged: dict[Target, bool]
    recipe_error: dict[Target, float]
    reference_check: dict[Target, float] = field(default_factory=dict)

    @property
    def accurate(self) -> bool:
        return all(error <= MAP_TOLERANCE for error in self.ours_error.values())


def build_random_model(directory: Path, quick: bool) -> str:
    """Save a random-weight DistilBERT QA checkpoint (base size unless ``quick``) with the MiniLM tokenizer."""
    tokenizer = minilm_tokenizer()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        small = {"n_layers": 2, "n_heads": 4, "dim": 256, "hidden_dim": 1024} if quick else {}
        config = DistilBertConfig(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, **small)
        model = AutoModelForQuestionAnswering.from_config(config)
    model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return str(directory)


def build_model(directory: Path, kind: str, quick: bool) -> str:
    """A QA checkpoint by kind: ``random`` (as above) or ``minilm`` (MiniLM-L6 weights with a seeded, untrained head).

    Kept for bench_faithfulness's ``--model random``; bench_core uses the probe by default.
    """
    if kind == "minilm":
        tokenizer = minilm_tokenizer()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            model = minilm_qa_model(seed=0)
        model.save_pretrained(str(directory))
        tokenizer.save_pretrained(str(directory))
        return str(directory)
    return build_random_model(directory, quick)


def build_context(tokenizer: transformers.PreTrainedTokenizerBase, length: int) -> str:
    """A filler context that, with QUESTION, tokenizes to exactly ``length`` tokens (specials included)."""
    words: list[str] = []
    index = 0
    while True:
        candidate = [*words, FILLER[index % len(FILLER)]]
        index += 1
        count = len(tokenizer(QUESTION, " ".join(candidate))["input_ids"])
        if count <= length:
            words = candidate
        if count == length:
            return " ".join(words)


def one_window_context(
    tokenizer: transformers.PreTrainedTokenizerBase, question: str, context: str, length: int
) -> str:
    """``context`` cut at a token boundary so that question + context fill exactly one ``length``-token window."""
    question_tokens = len(tokenizer(question, add_special_tokens=False)["input_ids"])
    room = length - question_tokens - tokenizer.num_special_tokens_to_add(pair=True)
    offsets = tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return context if len(offsets) <= room else context[: offsets[room - 1][1]]


def make_case(loaded: core.LoadedModel, label: str, question: str, context: str, gold: str | None) -> Case:
    explanation = core.explain(question, context, loaded, methods=(), use_cache=False)
    return Case(label, question, context, gold, explanation, answer_window(loaded, explanation))


def example_cases(loaded: core.LoadedModel, names: list[str]) -> list[Case]:
    """The bundled examples; ``ONE_WINDOW``'s context cut to one full window (checked: same tokens as its window)."""
    cases = []
    for name in names:
        example = find_example(name)
        context = example.context
        label = name
        if name == ONE_WINDOW:
            full = core.explain(example.question, context, loaded, methods=(), use_cache=False)
            context = one_window_context(loaded.tokenizer, example.question, context, WINDOW_TOKENS)
            label = f"{name} (cut to 1 window)"
        case = make_case(loaded, label, example.question, context, example.answer_text)
        if name == ONE_WINDOW and full.window_index == 0:
            assert case.explanation.tokens == full.tokens, "the cut context does not give the answer window's tokens"
        cases.append(case)
    return cases


def timed(function: Callable[[], object]) -> float:
    began = time.perf_counter()
    function()
    return time.perf_counter() - began


@dataclass(frozen=True)
class Seconds:
    """Wall-clock and CPU seconds of one run.

    CPU time is this process's own (``time.process_time``): with one torch thread it is the work done, whatever share
    of a core the scheduler gave the process, so its ratios are a steadier check on the wall-clock ones on a shared
    machine (with more threads it also counts threads spinning at barriers).
    """

    wall: float
    cpu: float

    def __add__(self, other: Seconds) -> Seconds:
        return Seconds(self.wall + other.wall, self.cpu + other.cpu)


class Clock:
    """Starts on creation; ``read()`` gives the ``Seconds`` since."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def read(self) -> Seconds:
        return Seconds(time.perf_counter() - self.wall, time.process_time() - self.cpu)


def relative_l2(estimate: np.ndarray, reference: np.ndarray) -> float:
    """``|estimate - reference| / |reference|`` (L2 over tokens): the map error the issue's 1% is about."""
    return float(np.linalg.norm(np.asarray(estimate, np.float64) - reference) / np.linalg.norm(reference))


@dataclass
class RecipeInputs:
    """The input as the tutorial builds it: ids, [PAD] reference ids, the other model inputs, target positions."""

    ids: torch.Tensor
    ref_ids: torch.Tensor
    extra: dict[str, torch.Tensor]
    positions: dict[Target, int]


def recipe_inputs(loaded: core.LoadedModel, case: Case) -> RecipeInputs:
    ids = torch.tensor([case.window.input_ids])
    ref = torch.tensor([attribution.baseline_ids(loaded, case.window)])
    extra = {"attention_mask": torch.ones_like(ids)}
    if case.window.token_type_ids is not None:
        extra["token_type_ids"] = torch.tensor([case.window.token_type_ids])
    return RecipeInputs(ids, ref, extra, {"start": case.start, "end": case.end - 1})


def recipe_attribute(
    model: PreTrainedModel, inputs: RecipeInputs, target: Target, n_steps: int, internal_batch_size: int | None = None
) -> tuple[Seconds, np.ndarray, float]:
    """captum's tutorial recipe for one target: LayerIntegratedGradients on the embeddings layer.

    Returns the (wall, CPU) seconds, the per-token map (summed over the hidden dimension) and the convergence delta.
    """
    column = "start_logits" if target == "start" else "end_logits"
    names = list(inputs.extra)

    def forward_func(input_ids: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        return getattr(model(input_ids, **dict(zip(names, extra, strict=True))), column)

    lig = LayerIntegratedGradients(forward_func, getattr(model, model.base_model_prefix).embeddings)
    clock = Clock()
    attributions, delta = lig.attribute(
        inputs=inputs.ids,
        baselines=inputs.ref_ids,
        target=inputs.positions[target],
        additional_forward_args=tuple(inputs.extra.values()),
        n_steps=n_steps,
        internal_batch_size=internal_batch_size,
        return_convergence_delta=True,
    )
    return clock.read(), attributions.detach().sum(-1)[0].double().numpy(), float(delta.reshape(-1)[0])


def our_reference(loaded: core.LoadedModel, case: Case, steps: int) -> dict[Target, np.ndarray]:
    """Our definition converged: core's rule as one fixed level of ``steps + 1`` nodes."""
    results = attribution.integrated_gradients_both(
        loaded, case.window, case.start, case.end, n_steps=steps + 1, max_steps=steps + 1
    )
    return {target: results[target].scores.astype(np.float64) for target in TARGETS}


def captum_reference(loaded: core.LoadedModel, case: Case, steps: int) -> dict[Target, np.ndarray]:
    """The same definition through captum: ``IntegratedGradients`` on the word embeddings, Gauss-Legendre."""
    embeddings = input_embeddings(loaded, case.window.input_ids)
    baseline = input_embeddings(loaded, attribution.baseline_ids(loaded, case.window))
    forward = core.EmbeddingForward(loaded, case.window)
    maps = {}
    with fast_attention(loaded):
        for target in TARGETS:
            column = attribution.target_index(case.window, target, case.start, case.end)
            attributions = IntegratedGradients(forward).attribute(
                embeddings.clone().requires_grad_(),
                baselines=baseline,
                target=column,
                n_steps=steps,
                method="gausslegendre",
                internal_batch_size=REFERENCE_BATCH,
            )
            maps[target] = attributions.detach().sum(-1)[0].double().numpy()
    return maps


def compare_integrated_gradients(
    loaded: core.LoadedModel,
    recipe_model: PreTrainedModel,
    case: Case,
    rounds: int,
    reference_steps: int,
    check_reference: bool,
) -> Outcome:
    """(a) for one input: interleaved timing, then each side's map error against its own reference."""
    tokens = case.window.length
    answer = case.explanation.answer
    verdict = (
        "" if case.gold is None else ("  (gold answer)" if answer.text == case.gold else f"  (gold: {case.gold!r})")
    )
    print(
        f"\n== {case.label}: {tokens} tokens (window {case.explanation.window_index + 1} of "
        f"{case.explanation.num_windows}), answer tokens {case.start}-{case.end} {answer.text!r}{verdict}"
    )
    inputs = recipe_inputs(loaded, case)
    ours_times: list[Seconds] = []
    recipe_times: list[Seconds] = []
    ratios: list[float] = []
    cpu_ratios: list[float] = []
    recipe_maps: dict[Target, np.ndarray] = {}
    recipe_deltas: dict[Target, float] = {}
    result: core.Explanation | None = None

    def run_ours() -> Seconds:
        nonlocal result
        clock = Clock()
        result = core.add_saliency(case.explanation, ("integrated_gradients",), model=loaded, use_cache=False)
        ours_times.append(clock.read())
        return ours_times[-1]

    for _ in range(rounds):
        before = run_ours()
        total = Seconds(0.0, 0.0)
        for target in TARGETS:
            elapsed, recipe_maps[target], recipe_deltas[target] = recipe_attribute(
                recipe_model, inputs, target, RECIPE_STEPS
            )
            total += elapsed
        recipe_times.append(total)
        after = run_ours()
        ratios.append(total.wall / ((before.wall + after.wall) / 2))
        cpu_ratios.append(total.cpu / ((before.cpu + after.cpu) / 2))
    assert result is not None
    ratio, cpu_ratio = statistics.median(ratios), statistics.median(cpu_ratios)
    evaluations = int(result.ig_steps["evaluations"])
    ours_s = statistics.median(t.wall for t in ours_times)
    recipe_s = statistics.median(t.wall for t in recipe_times)
    print(
        f"  wall seconds, {rounds} interleaved rounds (ours, recipe, ours): ours {_fmt([t.wall for t in ours_times])}; "
        f"recipe {_fmt([t.wall for t in recipe_times])}"
    )
    print(
        f"  speed-up recipe / ours, wall clock: median of per-round ratios {ratio:.2f}x (rounds {_fmt(ratios)}); "
        f"CPU time: {cpu_ratio:.2f}x (rounds {_fmt(cpu_ratios)})"
    )
    print(
        f"  evaluations: ours {evaluations} nodes = {evaluations} forward passes, each with 2 backward gradients "
        f"({2 * evaluations} in all); recipe {len(TARGETS)} calls x {RECIPE_STEPS} steps = "
        f"{len(TARGETS) * RECIPE_STEPS} forward+backward (plus captum's 2 forwards per call for its delta)"
    )

    began = time.perf_counter()
    ours_reference = our_reference(loaded, case, reference_steps)
    recipe_reference = {
        target: recipe_attribute(recipe_model, inputs, target, reference_steps, REFERENCE_BATCH)[1]
        for target in TARGETS
    }
    check = captum_reference(loaded, case, reference_steps) if check_reference else {}
    print(f"  references: {reference_steps} steps of each definition ({time.perf_counter() - began:.0f} s)")
    ours_error = {t: relative_l2(result.saliency["integrated_gradients"][t], ours_reference[t]) for t in TARGETS}
    recipe_error = {t: relative_l2(recipe_maps[t], recipe_reference[t]) for t in TARGETS}
    reference_check = {t: relative_l2(check[t], ours_reference[t]) for t in check}
    for target in TARGETS:
        delta = result.convergence_delta[target]
        scale = abs(float(result.saliency["integrated_gradients"][target].sum()) - delta)  # |F(x) - F(x')|
        line = (
            f"  {target:5s} map error vs own converged reference: ours {ours_error[target]:.1e} "
            f"(its own estimate {_sci(result.ig_error.get(target))}, converged {result.ig_converged.get(target)}; "
            f"delta {delta / scale:+.1e} of |F(x)-F(x')| = {scale:.3g}), "
            f"recipe {recipe_error[target]:.1e} (delta {recipe_deltas[target] / scale:+.1e})"
        )
        if target in reference_check:
            line += f"; our {reference_steps + 1}-node reference vs captum IG GL-{reference_steps}: "
            line += f"{reference_check[target]:.1e}"
        print(line)
    outcome = Outcome(
        case.label,
        tokens,
        ratio,
        ratios,
        cpu_ratio,
        ours_s,
        recipe_s,
        evaluations,
        ours_error,
        dict(result.ig_error),
        dict(result.ig_converged),
        recipe_error,
        reference_check,
    )
    print(f"  verdict: {_verdict(outcome)}")
    return outcome


def first_explanation_ratio(loaded: core.LoadedModel, case: Case, rounds: int) -> None:
    """(b): ``core.explain`` without integrated gradients against one plain forward pass of the same window."""
    inputs = recipe_inputs(loaded, case)

    def plain_forward() -> object:
        with torch.no_grad():
            return loaded.model(input_ids=inputs.ids, **inputs.extra)

    def first_explanation() -> core.Explanation:
        return core.explain(
            case.question, case.context, loaded, methods=("gradient", "gradient_x_input"), use_cache=False
        )

    plain_forward()
    first_explanation()  # warm-up: lazy initialisation in torch and captum
    forwards, firsts = [], []
    for _ in range(rounds):
        forwards.append(statistics.median(timed(plain_forward) for _ in range(FORWARDS_PER_SAMPLE)))
        firsts.append(timed(first_explanation))
        forwards.append(statistics.median(timed(plain_forward) for _ in range(FORWARDS_PER_SAMPLE)))
    forward_s, first_s = statistics.median(forwards), statistics.median(firsts)
    print(
        f"\n(b) first explanation without integrated gradients, {case.label}, {case.window.length} tokens "
        f"({rounds} interleaved rounds, medians)"
    )
    print(f"  plain forward, torch.no_grad ({loaded.model.config._attn_implementation})  {forward_s:8.3f} s")
    print(f"  core.explain(methods=(gradient, gradient_x_input))  {first_s:8.3f} s   runs {_fmt(firsts)}")
    print(f"  ratio first explanation / forward                   {first_s / forward_s:8.2f}x  (aim <= 4)")


def _verdict(outcome: Outcome) -> str:
    accurate = "within" if outcome.accurate else "NOT within"
    fast = outcome.ratio >= REQUIRED_SPEEDUP
    return (
        f"map {accurate} {MAP_TOLERANCE:.0%} of converged (both targets); {outcome.ratio:.2f}x is "
        f"{'at least' if fast else 'LESS than'} {REQUIRED_SPEEDUP:g}x (aim {AIMED_SPEEDUP:g}x): target "
        f"{'MET' if outcome.accurate and fast else 'NOT met'}"
    )


def _sci(value: float | None) -> str:
    return "-" if value is None else f"{value:.1e}"


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{value:.2f}" for value in values)


def summary(model_label: str, outcomes: list[Outcome], reference_steps: int) -> None:
    print(
        f"\nsummary ({model_label}); map errors start / end, against each side's own {reference_steps}-step reference"
    )
    print(
        "| input | tokens | speed-up, wall (per round) | speed-up, CPU time | ours s / recipe s (wall) | ours nodes | "
        "ours map error | ours estimate | recipe map error |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for o in outcomes:
        print(
            f"| {o.label} | {o.tokens} | {o.ratio:.2f}x ({_fmt(o.rounds)}) | {o.cpu_ratio:.2f}x | "
            f"{o.ours_s:.1f} / {o.recipe_s:.1f} | "
            f"{o.evaluations} | {o.ours_error['start']:.1e} / {o.ours_error['end']:.1e} | "
            f"{_sci(o.estimated.get('start'))} / {_sci(o.estimated.get('end'))} | "
            f"{o.recipe_error['start']:.1e} / {o.recipe_error['end']:.1e} |"
        )
    met = sum(o.accurate and o.ratio >= REQUIRED_SPEEDUP for o in outcomes)
    print(
        f"verdict ({model_label}): the target (map within {MAP_TOLERANCE:.0%} of converged and at least "
        f"{REQUIRED_SPEEDUP:g}x faster than the recipe) is met on {met} of {len(outcomes)} inputs; speed-ups "
        f"{min(o.ratio for o in outcomes):.2f}x to {max(o.ratio for o in outcomes):.2f}x; maps within "
        f"{MAP_TOLERANCE:.0%}: {sum(o.accurate for o in outcomes)} of {len(outcomes)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="probe", help="probe (default), random, or a QA checkpoint directory")
    parser.add_argument("--inputs", nargs="+", default=None, help=f"bundled example ids (default {EXAMPLE_INPUTS})")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds per input (default 3, quick 1)")
    parser.add_argument("--reference-steps", type=int, default=None, help=f"default {REFERENCE_STEPS} (quick 64)")
    parser.add_argument("--no-reference-check", action="store_true", help="skip captum IG GL-256 on our definition")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch threads for both sides (default 1; 0: torch's default)"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: first input, 1 round, 64-step references")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rounds = args.rounds or (1 if args.quick else 3)
    reference_steps = args.reference_steps or (64 if args.quick else REFERENCE_STEPS)
    names = args.inputs or list(EXAMPLE_INPUTS[:1] if args.quick else EXAMPLE_INPUTS)
    print(
        f"bench_core: torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{torch.get_num_threads()} threads, {os.cpu_count()} CPUs, {platform.machine()}; load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} (shared machine: expect noise)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-core-") as scratch:
        began = time.perf_counter()
        if args.model == "probe":
            directory = build_minilm_probe(Path(scratch) / "probe")
            model_label = "trained probe: MiniLM-L6 weights + QA head fitted to data/examples.json"
        elif args.model == "random":
            directory = build_random_model(Path(scratch) / "random", args.quick)
            model_label = "random weights, distilbert-base size" if not args.quick else "random weights, small"
        else:
            directory = str(Path(args.model).expanduser())
            model_label = directory
        loaded = core.load_model(directory)
        # The tutorial loads the model the default way (transformers' default attention); same weights from disk.
        recipe_model = AutoModelForQuestionAnswering.from_pretrained(directory).eval()
        config = loaded.model.config
        parameters = sum(p.numel() for p in loaded.model.parameters()) / 1e6
        print(
            f"model: {model_label} ({config.model_type}, {loaded.num_layers} layers x {loaded.num_heads} heads, "
            f"{parameters:.1f} M parameters; ready in {time.perf_counter() - began:.0f} s); core runs gradient "
            f"passes with sdpa attention, the recipe's model loads with {recipe_model.config._attn_implementation}"
        )
        if args.model == "random":
            length = 128 if args.quick else WINDOW_TOKENS
            cases = [
                make_case(loaded, f"filler, {length} tokens", QUESTION, build_context(loaded.tokenizer, length), None)
            ]
        else:
            cases = example_cases(loaded, names)
        outcomes = [
            compare_integrated_gradients(
                loaded, recipe_model, case, rounds, reference_steps, not args.no_reference_check
            )
            for case in cases
        ]
        first_explanation_ratio(loaded, cases[0], rounds)
    summary(model_label, outcomes, reference_steps)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
