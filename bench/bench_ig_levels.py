"""Integrated gradients level by level: each level's true map error against core's estimate of it.

```bash
.venv/bin/python bench/bench_ig_levels.py [--model probe|DIR] [--inputs ID ...] [--squad N]
```

For each input, ``core.attribution.integrated_gradients_both`` refines through every level (6, 11, 21, 41,
81 nodes, an impossible tolerance so none stops early) and prints per target and level: the true
relative L2 error against the converged reference of the same definition (257 nodes,
``bench_core.our_reference``), the error core estimates (``level_error``: level 2 its change, later
levels Richardson with a margin), and the completeness delta relative to ``|F(x) - F(x')|``. The
stopping rule is sound when every level at which it would stop (estimate and completeness within the
tolerance) has a true error within the tolerance too; far below the tolerance (errors of 1e-4 and less)
an estimate may fall under its true error without changing any decision, and the printout says where.
``--squad N`` adds the first N questions of SQuAD v1.1 dev (``scripts/fetch_squad.py`` must have cached it), so
the rule is checked on real questions and contexts, not only on the bundled examples.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_core import EXAMPLE_INPUTS, Case, example_cases, make_case, our_reference, relative_l2  # noqa: E402
from bench_dataset import squad_dev  # noqa: E402

import core  # noqa: E402
from core import attribution  # noqa: E402
from core.fixtures import build_minilm_probe  # noqa: E402


def squad_cases(loaded: core.LoadedModel, count: int) -> list[Case]:
    """The first ``count`` SQuAD v1.1 dev questions, each explained in its answer window."""
    if count <= 0:
        return []
    from core.dataset import read_dataset

    examples = read_dataset(squad_dev()).examples[:count]
    return [make_case(loaded, f"squad {e.id}", e.question, e.context, e.answers[0]) for e in examples]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="probe", help="probe (default) or a QA checkpoint directory")
    parser.add_argument("--inputs", nargs="+", default=list(EXAMPLE_INPUTS), help="bundled example ids")
    parser.add_argument("--squad", type=int, default=0, help="also the first N SQuAD v1.1 dev questions")
    parser.add_argument("--reference-steps", type=int, default=256)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="bench-ig-levels-") as scratch:
        model = build_minilm_probe(Path(scratch) / "probe") if args.model == "probe" else args.model
        loaded = core.load_model(model)
        print(f"bench_ig_levels: {model}; tolerance {attribution.IG_TOLERANCE:g}")
        worst = worst_decisive = 0.0
        wrong_stops: list[str] = []
        for case in example_cases(loaded, args.inputs) + squad_cases(loaded, args.squad):
            levels: list[dict[str, attribution.IntegratedGradientsResult]] = []
            attribution.integrated_gradients_both(
                loaded, case.window, case.start, case.end, tolerance=1e-12, max_steps=81, on_level=levels.append
            )
            reference = our_reference(loaded, case, args.reference_steps)
            print(f"== {case.label}: {case.window.length} tokens")
            for number, level in enumerate(levels, start=1):
                cells = []
                for target, result in level.items():
                    true = relative_l2(result.scores, reference[target])
                    estimate = result.estimated_error
                    if number >= attribution.IG_RICHARDSON_LEVEL:
                        worst = max(worst, true / estimate)
                        if true > attribution.IG_TOLERANCE / 100:  # below, rounding decides, not the rule
                            worst_decisive = max(worst_decisive, true / estimate)
                    completeness = result.convergence_delta / result.output_difference
                    stops = estimate <= attribution.IG_TOLERANCE and abs(completeness) <= attribution.IG_TOLERANCE
                    if stops and true > attribution.IG_TOLERANCE:
                        wrong_stops.append(f"{case.label} {target} at {result.n_steps} nodes (true {true:.2e})")
                    cells.append(
                        f"{target}: true {true:.2e}, estimate {estimate:.2e}, completeness {completeness:+.1e}"
                    )
                print(f"  {level['start'].n_steps:>3} nodes  " + " | ".join(cells))
        print(f"largest true error / estimate from level {attribution.IG_RICHARDSON_LEVEL} on: {worst:.2f}")
        raw = 1.0 / (attribution.IG_SAFETY / (2**attribution.IG_RULE_ORDER - 1))
        print(
            f"largest true error / Richardson's c_k / (2^{attribution.IG_RULE_ORDER} - 1), true errors above "
            f"{attribution.IG_TOLERANCE / 100:g}: {worst_decisive * attribution.IG_SAFETY:.2f} (the safety factor "
            f"IG_SAFETY = {attribution.IG_SAFETY} must cover it; estimate = {1 / raw:.3f} c_k)"
        )
        if wrong_stops:
            print("stopping rule UNSOUND: it would stop above the tolerance at " + "; ".join(wrong_stops))
        else:
            print("stopping rule sound: every level it would stop at is within the tolerance")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
