"""Robustness suites over a finished run: perturbed copies through the run's own engine, paired with the originals.

``perturb_run(RUN, suite)`` perturbs the run's examples (``core.dataset.perturbations``: seeded, deterministic),
writes them to ``RUN/robustness/<suite>/perturbed.jsonl`` (each copy's ``region``: the text its edit wrote), and
runs them with ``explain_dataset`` (the run's model, methods and window settings; the embedded Dask cluster, an
existing scheduler or this process) into ``RUN/robustness/<suite>/run``: resumable and lossless as any run (rerun
the same command after a stop). Then every (original, perturbed) pair becomes one row of ``pairs.parquet``
(``core.dataset.robustness_pairs``) and the suite's figures one ``summary.json``: per family and per slice, the
flip rate with a 95% interval, the F1 drop and the distractor capture.

A suite's folder name says what it is: ``<suite>-x<per_example>-seed<seed>`` (``default-x1-seed0``), so suites with
another seed or family list sit beside each other and never overwrite one another.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from core.dataset.manifest import file_sha256, write_json
from core.dataset.perturbations import Perturbed, Pool, perturb_examples, suite_families
from core.dataset.reading import SQUAD_V2, DatasetExample, read_dataset
from core.dataset.robustness_pairs import build_pairs, summarize_suite
from core.dataset.robustness_store import (
    PAIRS,
    PERTURBED,
    ROBUSTNESS,
    SUITE,
    SUITE_RUN,
    SUITE_SUMMARY,
    RobustnessSuite,
    load_suites,
)
from core.dataset.row_settings import EXPLAIN_OPTIONS
from core.dataset.store import load_run, write_table
from core.progress import ProgressCallback


def suite_name(suite: str, per_example: int, seed: int) -> str:
    """The folder name of a suite: ``default-x1-seed0``, or the families joined by ``+``."""
    label = suite if suite == "default" else "+".join(family.name for family in suite_families(suite))
    return f"{label}-x{per_example}-seed{seed}"


def _run_examples(
    run_dir: Path, manifest: dict[str, Any], data: str | Path | None
) -> tuple[list[DatasetExample], list[DatasetExample]]:
    """The run's examples and every example of its input file (or ``data``, which must be that same file)."""
    recorded = manifest["input"]
    path = Path(data).expanduser() if data is not None else Path(recorded["path"])
    if not path.is_file():
        raise FileNotFoundError(
            f"The run's input {path} is not there; pass --data with the file the run at {run_dir} read."
        )
    if file_sha256(path) != recorded["sha256"]:
        raise ValueError(
            f"{path} is not the file the run at {run_dir} read (its sha256 differs); pass --data with that file."
        )
    ids = {example_id for partition in manifest["partitions"] for example_id in partition["ids"]}
    every = [item for item in read_dataset(path).items if isinstance(item, DatasetExample)]
    return [item for item in every if item.id in ids], every


def _record(perturbed: Perturbed) -> dict[str, Any]:
    example = perturbed.example
    return {
        "id": example.id,
        "title": example.title,
        "question": example.question,
        "context": example.context,
        "answers": [
            {"text": text, "answer_start": start}
            for text, start in zip(example.answers, example.answer_starts, strict=True)
        ],
        "is_impossible": example.is_impossible,
        **({"region": list(perturbed.region)} if perturbed.region is not None else {}),
    }


def _write_perturbed(folder: Path, made: Sequence[Perturbed]) -> Path:
    """``perturbed.jsonl``, byte for byte the same on every call with the same run and options; a different file
    already there (made by other rules) is refused rather than replaced, so a suite's run never mixes the two."""
    target = folder / PERTURBED
    text = "".join(json.dumps(_record(item), ensure_ascii=False) + "\n" for item in made)
    if target.is_file():
        if target.read_text(encoding="utf-8") != text:
            raise ValueError(
                f"{target} holds other perturbations than these options make (another version of the rules?); "
                f"delete {folder} to start the suite again, or choose another --seed."
            )
        return target
    folder.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{PERTURBED}.partial")
    temporary.write_text(text, encoding="utf-8")
    temporary.replace(target)
    return target


def perturb_run(
    run: str | Path,
    suite: str = "default",
    *,
    per_example: int = 1,
    seed: int = 0,
    limit: int | None = None,
    data: str | Path | None = None,
    client: Any = None,
    workers: int | None = None,
    serial: bool = False,
    model: Any = None,
    progress: bool | ProgressCallback = True,
) -> RobustnessSuite:
    """Run a robustness suite over the finished run at ``run``; return it (see the module docstring).

    ``suite``: ``default`` (every family) or a comma-separated list of families; ``per_example`` perturbed copies
    per example and family; ``limit``: only the run's first N examples. ``model``: a ``LoadedModel`` of the
    run's checkpoint to run serially here (tests); by default the run's own model by name. Raises ``ValueError``
    for bad options or a run that is not finished, ``FileNotFoundError`` when the run's input is gone.
    """
    from core.dataset.run import explain_dataset  # Dask loads only when a suite runs

    if per_example < 1:
        raise ValueError(f"per_example must be at least 1, not {per_example}.")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}.")
    families = suite_families(suite)
    root = Path(run).expanduser().resolve()
    original = load_run(root)
    manifest = original.manifest
    examples, every = _run_examples(root, manifest, data)
    examples = examples[:limit]
    if not examples:
        raise ValueError(f"The run at {root} has no example a perturbation can start from.")
    results = perturb_examples(examples, families, per_example=per_example, seed=seed, pool=Pool.from_examples(every))
    made = [result for result in results if isinstance(result, Perturbed)]
    folder = root / ROBUSTNESS / suite_name(suite, per_example, seed)
    perturbed_file = _write_perturbed(folder, made)
    settings = manifest["settings"]
    spec = {
        "suite": suite,
        "families": [family.name for family in families],
        "per_example": per_example,
        "seed": seed,
        "limit": limit,
        "model": manifest["model"],
        "examples": len(examples),
        "perturbed": len(made),
        "skipped": len(results) - len(made),
    }
    write_json(folder / SUITE, spec)
    if made:
        explain_dataset(
            perturbed_file,
            model if model is not None else manifest["model"],
            folder / SUITE_RUN,
            client=client,
            workers=workers,
            serial=serial or model is not None,
            methods=settings["methods"],
            top_k=settings["top_k"],
            partition_size=settings.get("partition_size", 32),
            null_threshold=settings.get("null_threshold", 0.0),
            may_abstain=settings.get("squad_version") == SQUAD_V2,
            progress=progress,
            **{name: settings[name] for name in EXPLAIN_OPTIONS if settings.get(name) is not None},
        )
        perturbed_rows = load_run(folder / SUITE_RUN).rows
    else:
        perturbed_rows = None
    pairs = build_pairs(results, original.rows, perturbed_rows, settings["methods"])
    write_table(folder / PAIRS, _arrow(pairs))
    summary = summarize_suite(pairs, original.rows, families, _saved_slices(root))
    write_json(folder / SUITE_SUMMARY, summary)
    return load_suites(root)[folder.name]  # as a notebook reads it back: the same types as load_run(...).robustness


def _arrow(pairs: pd.DataFrame) -> Any:
    import pyarrow as pa

    return pa.Table.from_pandas(pairs, preserve_index=False)


def _saved_slices(root: Path) -> list[Any]:
    from core.dataset.slices import load_slices

    return load_slices(root)


__all__ = ["perturb_run", "suite_name"]
