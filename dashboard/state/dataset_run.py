"""Opening a run directory for a page: ``load_run``, what the table adds to it, and every failure in words.

Why here: the Dataset page and the Compare page open runs the same way, and a run directory is files people
copy, edit and truncate. ``load_run`` names the damaged file in a ``RunDamagedError``; a folder that is not a
run gives ``NotARunError`` or ``FileNotFoundError``; anything else (a bug, a disk error nobody foresaw) is
logged with its traceback and shown as a generic sentence. Whatever happens the page gets a message to show,
never an exception.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dashboard.memory import give_back_free_memory
from dashboard.state.example_heads import row_order

logger = logging.getLogger(__name__)

GOLD = "gold"
"""The column the page adds to a run's rows: the first gold answer (the table shows it; the lists stay on disk)."""


@dataclass(frozen=True)
class Opened:
    """A run that opened (``run``), or why not (``problem``)."""

    run: Any = None
    problem: str = ""


def first_gold_answers(out: Path, ids: pd.Series) -> pd.Series:
    """The first gold answer of every row ("" for none), in the order of ``ids``, read as one Arrow column."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from core.dataset import read_rows

    table = read_rows(out, columns=["id", "gold_answers"])
    lists = table.column("gold_answers").combine_chunks()
    count = len(lists)
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    has = lengths > 0
    firsts = pc.list_flatten(lists).take(pa.array((np.cumsum(lengths) - lengths)[has], type=pa.int64()))
    everyone = pc.replace_with_mask(pc.fill_null(pa.nulls(count, pa.string()), ""), pa.array(has), firsts)
    gold = everyone.to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get)
    order = row_order(table.column("id"), ids)
    if order is not None:
        gold = gold.reindex(order).fillna("")  # -1: an id the file lacks reads as no gold answer
    gold.index = ids.index
    return gold


def open_run(run_dir: str | Path) -> Opened:
    """``load_run(run_dir)`` with the first gold answers added to its rows, or the reason it cannot be opened."""
    from core.dataset import NotARunError, RunDamagedError, load_run

    try:
        run = load_run(run_dir)
        # Added to the run's own frame, not to a copy: a 100k-row run's rows are held once.
        run.rows[GOLD] = first_gold_answers(run.out, run.rows["id"])
    except (RunDamagedError, NotARunError, OSError) as error:  # FileNotFoundError is an OSError
        return Opened(problem=f"The run at {run_dir} cannot be opened: {error}")
    except Exception as error:  # a bug or a failure nobody foresaw: logged in full, a sentence for the page
        logger.exception("opening the run at %s failed", run_dir)
        return Opened(
            problem=f"The run at {run_dir} cannot be opened ({type(error).__name__}); the server log has the details."
        )
    finally:
        give_back_free_memory()
    return Opened(run=run)


__all__ = ["GOLD", "Opened", "first_gold_answers", "open_run"]
