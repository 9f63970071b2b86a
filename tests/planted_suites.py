"""A run of the first-capital model (tests/planted_capitals.py) with robustness suites over it, for the page's tests.

Why planted: the model answers the first capitalised word of the context, so the suite's outcome is known: a
distractor inserted before the answer captures it (flipped pairs to list and open), typos never flip it, it
follows a replaced answer, and every name swap is skipped (no proper name outside the gold answers). One record
carries markup in its question and context, so the perturbed copies made from it carry it too.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import core
from core.dataset import explain_dataset, perturb_run
from tests.planted_capitals import build_first_capital_model, planted_records

SUITE = "typos,distractor,replace_answer,swap_name"
SECOND_SUITE = "typos"
HOSTILE_ID = "hostile-0"
HOSTILE_QUESTION = 'who kept the <img src=x onerror="window.__xss=1"> mill?'
HOSTILE_CONTEXT = "the mill is old <script>window.__xss=2</script>. Orla kept the mill by the river."


@dataclass(frozen=True)
class PlantedSuites:
    """The model, the run and its two suites (``suite``: the main one, ``second``: typos with another seed)."""

    model_dir: Path
    run: Path
    suite: Any
    second: Any


def build_planted_suites(root: Path) -> PlantedSuites:
    """The planted model, its run over the planted questions and one hostile one, and two suites (~10 s)."""
    model_dir = build_first_capital_model(root / "model")
    records = planted_records()
    start = HOSTILE_CONTEXT.index("Orla")
    records.append(
        {
            "id": HOSTILE_ID,
            "title": "river",
            "question": HOSTILE_QUESTION,
            "context": HOSTILE_CONTEXT,
            "answers": [{"text": "Orla", "answer_start": start}],
        }
    )
    data = root / "planted.jsonl"
    data.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    loaded = core.load_model(str(model_dir))
    run = root / "run"
    explain_dataset(data, loaded, run, serial=True, partition_size=4, progress=False)
    suite = perturb_run(run, SUITE, per_example=1, seed=0, model=loaded, progress=False)
    second = perturb_run(run, SECOND_SUITE, per_example=1, seed=1, model=loaded, progress=False)
    return PlantedSuites(model_dir=model_dir, run=run, suite=suite, second=second)


__all__ = ["HOSTILE_CONTEXT", "HOSTILE_ID", "HOSTILE_QUESTION", "PlantedSuites", "SUITE", "build_planted_suites"]
