"""How few nodes could bring integrated gradients within 1% on trained weights, and what speed-up that allows.

```bash
.venv/bin/python bench/bench_ig_bound.py [--model probe|DIR] [--inputs ID ...] [--rounds 2]
```

Why: issue 8 asks for 5x captum's tutorial recipe at 1% map error. bench_core.py measures the rule core
uses; this bench asks whether any rule of the kinds tried could reach the target, by looking at the
integrand itself. For each input:

1. The integrand (per-token maps of the start and end targets, ``core.saliency.path_integrand``) on 257
   evenly spaced nodes; core's rule on them (``bench_core.our_reference``'s definition) is the converged
   reference. A cubic spline through the samples stands in for the integrand between them, checked
   against the true integrand at extra nodes (printed; it must be far below 1%).
2. Fixed rules at 6 to 24 nodes: Gauss-Legendre (captum's default), Clenshaw-Curtis, and evenly spaced
   nodes with Gregory corrections (core's rule): the true error of each.
3. A greedy adaptive rule with an oracle stop: from 6 even nodes, each new node goes to the midpoint of
   the interval where a spline through the nodes so far departs most from a straight line, and the
   estimate is that spline's integral. It stops at the first node count whose TRUE error is within 1%
   for both targets: a real rule cannot know that and must spend nodes to estimate it, so this count is
   optimistic.
4. A real adaptive rule, with no oracle: global adaptive Simpson (every panel's error estimated by
   Richardson from its two halves, ``(S_halves - S_whole) / 15``; the panel with the largest estimate is
   halved next; the estimate is the halves' sum plus every panel's correction; it stops when the norm of the
   summed corrections is within the tolerance, times ``SIMPSON_SAFETY``). Printed: where it stopped, its
   true error there, and its estimate.
5. The cost of one of our nodes (one forward pass, both targets' gradients: core's 21-node rule timed,
   divided by 21) and of one recipe step (captum ``LayerIntegratedGradients``, 50 steps, per target),
   interleaved in the same run, one torch thread. The recipe's time over (fewest nodes x node cost) is
   the largest speed-up a rule needing that many nodes could give ("fewest": the least over every rule above,
   each judged by its true error).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import CubicSpline

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_core import (  # noqa: E402
    EXAMPLE_INPUTS,
    RECIPE_STEPS,
    Case,
    Clock,
    example_cases,
    recipe_attribute,
    recipe_inputs,
    relative_l2,
)
from transformers import AutoModelForQuestionAnswering  # noqa: E402

import core  # noqa: E402
from core import attribution  # noqa: E402
from core.fixtures import build_minilm_probe  # noqa: E402
from core.types import TARGETS  # noqa: E402

DENSE_INTERVALS = 256
CHECK_NODES = 12
START_NODES = 6
MOST_NODES = 24
TIMED_NODES = 21
SIMPSON_SAFETY = 2.0
"""Margin on adaptive Simpson's summed Richardson corrections (with none it stopped at true errors of 1.1-4.4%)."""
SIMPSON_MOST_NODES = 81


def clenshaw_curtis(intervals: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the Clenshaw-Curtis rule with ``intervals + 1`` nodes on [0, 1]."""
    theta = np.pi * np.arange(intervals + 1) / intervals
    weights = np.empty(intervals + 1)
    for k in range(intervals + 1):
        total = 0.0
        for j in range(1, intervals // 2 + 1):
            factor = 1.0 if 2 * j == intervals else 2.0
            total += factor / (4 * j * j - 1) * np.cos(2 * j * theta[k])
        weights[k] = (1.0 if k in (0, intervals) else 2.0) / intervals * (1 - total)
    return (1 - np.cos(theta)) / 2, weights / 2


def gauss_legendre(count: int) -> tuple[np.ndarray, np.ndarray]:
    """Nodes and weights of the ``count``-node Gauss-Legendre rule on [0, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(count)
    return (nodes + 1) / 2, weights / 2


def worst_error(estimate: np.ndarray, reference: np.ndarray) -> float:
    """The larger of the two targets' relative L2 errors (``[targets, tokens]`` each)."""
    return max(relative_l2(estimate[i], reference[i]) for i in range(len(reference)))


def greedy_oracle(integrand: CubicSpline, reference: np.ndarray, tolerance: float) -> tuple[int | None, list[str]]:
    """The greedy adaptive rule of the module docstring: node count first within ``tolerance``, and its trace."""
    nodes = list(np.linspace(0.0, 1.0, START_NODES))
    values = {x: integrand(x) for x in nodes}
    trace: list[str] = []
    while len(nodes) <= MOST_NODES:
        xs = np.array(sorted(nodes))
        samples = np.array([values[x] for x in xs])
        spline = CubicSpline(xs, samples, axis=0)
        error = worst_error(spline.integrate(0.0, 1.0), reference)
        trace.append(f"{len(xs)}:{error:.1e}")
        if error <= tolerance:
            return len(xs), trace
        departures = [
            (xs[i + 1] - xs[i]) * np.linalg.norm(spline((xs[i] + xs[i + 1]) / 2) - (samples[i] + samples[i + 1]) / 2)
            for i in range(len(xs) - 1)
        ]
        widest = int(np.argmax(departures))
        middle = (xs[widest] + xs[widest + 1]) / 2
        nodes.append(middle)
        values[middle] = integrand(middle)
    return None, trace


def adaptive_simpson(integrand: CubicSpline, reference: np.ndarray, tolerance: float) -> tuple[int, float, float]:
    """Global adaptive Simpson from one panel (module docstring): nodes spent, true error, and estimate at the stop."""
    values: dict[float, np.ndarray] = {}

    def at(x: float) -> np.ndarray:
        if x not in values:
            values[x] = integrand(x)
        return values[x]

    def panel(a: float, b: float) -> tuple[float, float, np.ndarray, np.ndarray]:
        middle, left, right = (a + b) / 2, (3 * a + b) / 4, (a + 3 * b) / 4
        whole = (b - a) / 6 * (at(a) + 4 * at(middle) + at(b))
        halves = (b - a) / 12 * (at(a) + 4 * at(left) + 2 * at(middle) + 4 * at(right) + at(b))
        return a, b, halves, (halves - whole) / 15

    panels = [panel(0.0, 1.0)]
    while True:
        total = sum(p[2] + p[3] for p in panels)
        scale = np.linalg.norm(total, axis=-1)
        estimate = float((np.linalg.norm(sum(p[3] for p in panels), axis=-1) / scale).max())
        if SIMPSON_SAFETY * estimate <= tolerance or len(values) >= SIMPSON_MOST_NODES:
            return len(values), worst_error(total, reference), SIMPSON_SAFETY * estimate
        worst = max(range(len(panels)), key=lambda i: float((np.linalg.norm(panels[i][3], axis=-1) / scale).max()))
        a, b, _, _ = panels.pop(worst)
        panels += [panel(a, (a + b) / 2), panel((a + b) / 2, b)]


def study(loaded: core.LoadedModel, case: Case, tolerance: float) -> int | None:
    """Print the rules' errors on this input's integrand; return the fewest nodes any of them needed (oracle stop)."""
    outputs = attribution.answer_outputs(case.window, case.start, case.end)
    grid = np.linspace(0.0, 1.0, DENSE_INTERVALS + 1)
    rng = np.random.default_rng(0)
    extra = np.sort(rng.uniform(0.0, 1.0, CHECK_NODES))
    maps, _ = attribution.path_integrand(loaded, case.window, outputs, np.concatenate([grid, extra]))
    dense, checks = maps[: len(grid)], maps[len(grid) :]
    reference = np.tensordot(attribution.gregory_weights(DENSE_INTERVALS), dense, axes=(0, 0))
    integrand = CubicSpline(grid, dense, axis=0)
    spline_error = float(np.linalg.norm(integrand(extra) - checks) / np.linalg.norm(checks))
    size = np.linalg.norm(dense, axis=2) / np.linalg.norm(reference, axis=1)
    peak = int(np.argmax(size.max(axis=1)))
    print(f"\n== {case.label}: {case.window.length} tokens")
    print(
        f"  spline between the {len(grid)} samples vs the true integrand at {CHECK_NODES} other nodes: "
        f"{spline_error:.1e} relative"
    )
    print(
        f"  integrand size / final map size: largest {size.max():.1f} at alpha {grid[peak]:.2f}; "
        f"at 0, 1/4, 1/2, 3/4, 1: {', '.join(f'{size[i].max():.1f}' for i in range(0, len(grid), 64))}"
    )
    print(f"  true map error (worse target) by node count:  {'GL':>8} {'CC':>8} {'even+Gregory':>13}")
    first_within: dict[str, int] = {}
    for count in range(START_NODES, MOST_NODES + 1):
        gl_nodes, gl_weights = gauss_legendre(count)
        cells = [worst_error(np.tensordot(gl_weights, integrand(gl_nodes), axes=(0, 0)), reference)]
        if (count - 1) % 4 == 0 and count > 1:
            cc_nodes, cc_weights = clenshaw_curtis(count - 1)
            cells.append(worst_error(np.tensordot(cc_weights, integrand(cc_nodes), axes=(0, 0)), reference))
        else:
            cells.append(float("nan"))
        even = np.linspace(0.0, 1.0, count)
        weights = attribution.gregory_weights(count - 1)
        cells.append(worst_error(np.tensordot(weights, integrand(even), axes=(0, 0)), reference))
        for rule, error in zip(("Gauss-Legendre", "Clenshaw-Curtis", "even+Gregory"), cells, strict=True):
            if error <= tolerance:
                first_within.setdefault(rule, count)
        print(f"  {count:>3} nodes {'':33} " + " ".join(f"{c:>8.1e}" if c == c else f"{'-':>8}" for c in cells))
    greedy, trace = greedy_oracle(integrand, reference, tolerance)
    print(f"  greedy adaptive spline, true error by node count: {' '.join(trace)}")
    if greedy is not None:
        first_within["greedy adaptive"] = greedy
    nodes, true, estimate = adaptive_simpson(integrand, reference, tolerance)
    print(f"  adaptive Simpson, no oracle: stopped at {nodes} nodes, true error {true:.1e}, estimate {estimate:.1e}")
    if not first_within:
        print(f"  no rule within {tolerance:.0%} at {MOST_NODES} nodes or fewer")
        return None
    print(
        f"  first node count within {tolerance:.0%} (oracle stop): "
        + ", ".join(f"{rule} {count}" for rule, count in first_within.items())
    )
    return min(first_within.values())


def node_costs(loaded: core.LoadedModel, recipe_model: torch.nn.Module, case: Case, rounds: int) -> tuple[float, float]:
    """Seconds per node of ours and per step (per target) of the recipe, interleaved, medians over rounds."""
    inputs = recipe_inputs(loaded, case)
    ours: list[float] = []
    recipe: list[float] = []
    for _ in range(rounds):
        clock = Clock()
        attribution.integrated_gradients_both(
            loaded, case.window, case.start, case.end, n_steps=TIMED_NODES, max_steps=TIMED_NODES
        )
        ours.append(clock.read().wall / TIMED_NODES)
        total = sum(recipe_attribute(recipe_model, inputs, target, RECIPE_STEPS)[0].wall for target in TARGETS)
        recipe.append(total / (RECIPE_STEPS * len(TARGETS)))
    return statistics.median(ours), statistics.median(recipe)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="probe", help="probe (default) or a QA checkpoint directory")
    parser.add_argument("--inputs", nargs="+", default=list(EXAMPLE_INPUTS), help="bundled example ids")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved timing rounds per input")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    tolerance = attribution.IG_TOLERANCE
    with tempfile.TemporaryDirectory(prefix="bench-ig-bound-") as scratch:
        model = build_minilm_probe(Path(scratch) / "probe") if args.model == "probe" else args.model
        loaded = core.load_model(model)
        recipe_model = AutoModelForQuestionAnswering.from_pretrained(model).eval()
        print(f"bench_ig_bound: {model}; tolerance {tolerance:g}; 1 torch thread")
        rows = []
        for case in example_cases(loaded, args.inputs):
            fewest = study(loaded, case, tolerance)
            node, step = node_costs(loaded, recipe_model, case, args.rounds)
            recipe = step * RECIPE_STEPS * len(TARGETS)
            rows.append((case.label, case.window.length, node, step, recipe, fewest))
    headings = ("tokens", "our node s", "recipe step s", "node/step", "at 21 nodes", "fewest", "at fewest")
    print(f"\n{'input':30} " + " ".join(f"{heading:>{max(len(heading), 6)}}" for heading in headings))
    for label, tokens, node, step, recipe, fewest in rows:
        best = f"{recipe / (fewest * node):8.2f}x" if fewest else f"{'-':>9}"
        print(
            f"{label:30} {tokens:6d} {node:10.3f} {step:13.3f} {node / step:9.2f} "
            f"{recipe / (TIMED_NODES * node):10.2f}x {fewest or '>' + str(MOST_NODES):>6} {best}"
        )
    print(
        "at fewest: the recipe's time over (fewest nodes x our node's cost), the most a rule needing that many "
        "nodes could give; the oracle stop makes it optimistic"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
