"""The dataset yard: a whole question-answering dataset through a model, on Dask, into Parquet.

``explain_dataset(data, model, out)`` reads SQuAD JSON or JSON Lines (``reading``), computes one row per
example in batches (``rows``: answer, EM/F1 from ``metrics``, head statistics, saliency shares), one task
per partition on Dask (``run``), into a resumable run directory (``store``; layout and columns in
``schema``). ``load_run(out)`` reads it back for the dashboard and notebooks.

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
    "RowSettings": "core.dataset.rows",
    "compute_rows": "core.dataset.rows",
    "explanation_path": "core.dataset.schema",
    "row_schema": "core.dataset.schema",
    "Run": "core.dataset.store",
    "RunMismatchError": "core.dataset.store",
    "RunSummary": "core.dataset.store",
    "load_run": "core.dataset.store",
    "read_rows": "core.dataset.store",
    "embedded_cluster": "core.dataset.run",
    "explain_dataset": "core.dataset.run",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'core.dataset' has no attribute {name!r}")
    return getattr(import_module(_EXPORTS[name]), name)
