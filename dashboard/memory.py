"""A closed page's memory goes back to the operating system, and the server log says what is still held.

Why: measured with ``tests/load/test_sessions.py`` (``make load-test``). Releasing a closed page's
state (``ExplorerState.release``) did not lower the server's RSS by itself:

- a page's Panel, Bokeh and HoloViews objects refer to each other in cycles, which only Python's full
  collection frees, and a quiet server may not run one for a long time;
- what they and the model passes freed stays in glibc's heaps. Integrated gradients' batched steps
  and many-window forward passes need up to ~2 GB for a moment; glibc returns memory to the OS only
  from the top of a heap, and after large blocks are freed it raises its mmap threshold (up to 32 MB),
  so later tensors come from the heaps too. With 3 pages per round, the RSS stayed at 2.5-2.8 GB
  after every page had closed and its state was freed; ``malloc_trim`` returned 1.7 GB of it.

So once a burst of pages has closed (Bokeh discards unused sessions one by one), the server collects
garbage and asks glibc to hand free pages back, then logs one line: pages released, page states still
alive (open pages; a closed page's state that is still referenced is a leak), the explanation cache's
bytes and the process's RSS.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import gc
import logging
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import cache_info

logger = logging.getLogger(__name__)

TIDY_DELAY_SECONDS = 1.0
"""Wait this long after the last closed page before tidying: one collection per burst, not per page."""

MB = 2**20


def process_rss_bytes() -> int | None:
    """This process's resident set size (all threads), from ``/proc``; ``None`` where there is none."""
    try:
        status = Path("/proc/self/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None


@functools.cache
def _malloc_trim_function() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` from the symbols already loaded in this process; ``None`` without glibc."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to ask
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


def _malloc_trim() -> bool:
    """Ask glibc to return free heap pages (of every arena) to the OS; ``False`` where it cannot."""
    trim = _malloc_trim_function()
    if trim is None:
        return False
    trim(0)
    return True


def give_back_free_memory() -> bool:
    """Return free heap pages to the OS now: after reading a run of many partition files, whose Arrow scan leaves
    hundreds of MB free but held in glibc's heaps (measured: 270 MB of 560 MB for 2,738 files of 32 rows)."""
    return _malloc_trim()


class ClosedPages:
    """Page states of this process: counted when made, tidied up after when their pages close."""

    def __init__(self) -> None:
        self._states: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._pending = 0
        self._released = 0
        self._scheduled = False

    def opened(self, state: Any) -> None:
        """Track a page's state (weakly: it tells whether a closed page's state was really freed)."""
        with self._lock:
            self._states.add(state)

    def alive(self) -> int:
        """Page states not yet freed: open pages, plus closed ones still referenced (should be none)."""
        with self._lock:
            return len(self._states)

    def closed(self) -> None:
        """A page's session was destroyed and its state released: tidy up once this burst of closes ends."""
        with self._lock:
            self._pending += 1
            if self._scheduled:
                return
            self._scheduled = True
        try:
            asyncio.get_running_loop().call_later(TIDY_DELAY_SECONDS, self.tidy)
        except RuntimeError:  # no event loop (a notebook kernel's thread, a script): tidy now
            self.tidy()

    def tidy(self) -> None:
        """Collect the closed pages' object cycles, return free heap pages to the OS, and log what is held."""
        with self._lock:
            pending, self._pending, self._scheduled = self._pending, 0, False
            self._released += pending
            released = self._released
        before = process_rss_bytes()
        gc.collect()
        trimmed = _malloc_trim()
        after = process_rss_bytes()
        cache = cache_info()
        logger.info(
            "released %d closed page(s), %d since start; %d page state(s) alive; explanation cache %.1f MB "
            "of %.0f MB in %d entries; server RSS %s MB%s",
            pending,
            released,
            self.alive(),
            cache["bytes"] / MB,
            cache["limit"] / MB,
            cache["entries"],
            "?" if after is None else f"{after / MB:.1f}",
            ""
            if before is None or after is None
            else f" ({(before - after) / MB:.1f} MB returned{'' if trimmed else ', no malloc_trim'})",
        )


CLOSED_PAGES = ClosedPages()
"""One per server process, like the explanation cache: it counts pages, it holds none of their data."""


__all__ = ["CLOSED_PAGES", "TIDY_DELAY_SECONDS", "ClosedPages", "give_back_free_memory", "process_rss_bytes"]
