"""The dataset yard: a whole question-answering dataset through a model, on Dask, into Parquet.

``explain_dataset(data, model, out)`` reads SQuAD JSON or JSON Lines (``reading``), computes one row per
example in batches (``rows``: answer, EM/F1 from ``metrics``, head statistics, saliency shares), one task
per partition (``run``) on Dask (``cluster``) or here, into a resumable run directory (``manifest``: what the
run is and which files it owns; ``store``: partitions, aggregates and ``load_run``; layout and columns in
``schema``), with progress (``run_progress``). ``load_run(out)`` reads it back for the dashboard and
notebooks. Over a finished run: slices (``slices``, ``slice_stats``), failure groups, checkpoint comparison
(``compare``) and robustness suites (``perturbations`` and their rules, ``robustness``, ``robustness_pairs``).
``python -m core dataset run`` is ``cli``. Its one door is this module.

Names are imported on first use (PEP 562), so ``python -m core explain`` never pays for Dask, pandas and
pyarrow.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Dataset": "core.dataset.reading",
    "DatasetExample": "core.dataset.reading",
    "ExampleProblem": "core.dataset.reading",
    "read_dataset": "core.dataset.reading",
    "normalize_answer": "core.dataset.metrics",
    "squad_scores": "core.dataset.metrics",
    "BATCH_TOKENS": "core.dataset.rows",
    "RowSettings": "core.dataset.row_settings",
    "compute_rows": "core.dataset.rows",
    "explanation_path": "core.dataset.schema",
    "metadata_path": "core.dataset.schema",
    "part_path": "core.dataset.schema",
    "build_summary": "core.dataset.summary",
    "row_schema": "core.dataset.schema",
    "Run": "core.dataset.store",
    "RunMismatchError": "core.dataset.manifest",
    "RunSummary": "core.dataset.summary",
    "RunDamagedError": "core.dataset.run_checks",
    "NotARunError": "core.dataset.manifest",
    "SquadEvaluation": "core.dataset.evaluation",
    "evaluate_rows": "core.dataset.evaluation",
    "load_run": "core.dataset.store",
    "read_rows": "core.dataset.store",
    "DASK_SETTINGS": "core.dataset.cluster",
    "DEFAULT_PARTITION_SIZE": "core.dataset.run",
    "embedded_cluster": "core.dataset.cluster",
    "add_metadata": "core.dataset.run_metadata",
    "Slice": "core.dataset.slices",
    "SliceError": "core.dataset.slices",
    "slice_mask": "core.dataset.slices",
    "check_expression": "core.dataset.slices",
    "load_slices": "core.dataset.slices",
    "save_slice": "core.dataset.slices",
    "delete_slice": "core.dataset.slices",
    "quote": "core.dataset.slices",
    "column_name": "core.dataset.slices",
    "SliceStatistics": "core.dataset.slice_stats",
    "slice_statistics": "core.dataset.slice_stats",
    "bootstrap_means": "core.dataset.slice_stats",
    "FailureGroup": "core.dataset.failure_groups",
    "FailureGroupReport": "core.dataset.failure_groups",
    "find_failure_groups": "core.dataset.failure_groups",
    "RunComparison": "core.dataset.compare",
    "RunsDifferError": "core.dataset.compare",
    "compare_runs": "core.dataset.compare",
    "write_comparison": "core.dataset.compare",
    "FLIPS": "core.dataset.compare",
    "METADATA_COLUMNS": "core.dataset.metadata",
    "QUESTION_TYPES": "core.dataset.metadata",
    "ANSWER_TYPES": "core.dataset.metadata",
    "example_metadata": "core.dataset.metadata",
    "metadata_table": "core.dataset.metadata",
    "add_dataset_parser": "core.dataset.cli",
    "run_dataset_command": "core.dataset.cli",
    "explain_dataset": "core.dataset.run",
    "FAMILIES": "core.dataset.perturbations",
    "SUITES": "core.dataset.perturbations",
    "Family": "core.dataset.perturbations",
    "Perturbed": "core.dataset.perturbations",
    "Pool": "core.dataset.perturbations",
    "Skipped": "core.dataset.perturbations",
    "perturb": "core.dataset.perturbations",
    "perturb_examples": "core.dataset.perturbations",
    "suite_families": "core.dataset.perturbations",
    "RobustnessSuite": "core.dataset.robustness_store",
    "load_suites": "core.dataset.robustness_store",
    "perturb_run": "core.dataset.robustness",
    "suite_name": "core.dataset.robustness",
    "PAIR_COLUMNS": "core.dataset.robustness_pairs",
    "family_line": "core.dataset.cli",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'core.dataset' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
