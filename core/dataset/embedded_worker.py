"""Set-up of each worker process of the embedded cluster (a Dask preload): Ctrl-C belongs to the run, not to it.

Why: in a terminal, Ctrl-C sends SIGINT to every process of the foreground group, the embedded cluster's worker
processes included. Each then printed a ``KeyboardInterrupt`` traceback while the run that started them was
already stopping them and saying so in one line. The run (``core.dataset.run``) handles the interrupt: it keeps
the finished partitions and closes the cluster, which ends these processes. A cluster of your own
(``--scheduler``) keeps its workers' default behaviour.
"""

from __future__ import annotations

import signal
import threading
from typing import Any


def dask_setup(worker: Any) -> None:
    """Ignore SIGINT in this worker process (Dask calls this on the worker's main thread at start-up)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)


__all__ = ["dask_setup"]
