"""The process-wide cache of explanations, bounded in bytes.

Why bytes, not entries: an explanation's size is dominated by its attention, ``layers x heads x
tokens x tokens`` float32 values: 2.6 MB for a 6-layer, 12-head model at 128 tokens, 42 MB at 384
tokens, 226 MB for a 24-layer, 16-head model at 384 tokens. A count bound would let a server
holding large models grow to gigabytes. The least recently used explanations go first; one
larger than the whole budget is not kept at all.

The budget is ``QA_LENS_CACHE_MB`` (default 512) megabytes, or ``set_limit(bytes)``.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import fields

import numpy as np

from core.explanation import Explanation

DEFAULT_LIMIT_BYTES = int(float(os.environ.get("QA_LENS_CACHE_MB", "512")) * 2**20)


def explanation_bytes(explanation: Explanation) -> int:
    """Bytes held by an explanation's arrays (everything else is small next to them)."""
    total = 0
    for item in fields(explanation):
        value = getattr(explanation, item.name)
        if isinstance(value, np.ndarray):
            total += value.nbytes
    for per_target in explanation.saliency.values():
        total += sum(values.nbytes for values in per_target.values())
    return total


class ExplanationCache:
    """A thread-safe LRU mapping whose values' arrays stay within ``limit`` bytes."""

    def __init__(self, limit: int = DEFAULT_LIMIT_BYTES) -> None:
        self._items: OrderedDict[Hashable, tuple[Explanation, int]] = OrderedDict()
        self._bytes = 0
        self._limit = limit
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Explanation | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: Hashable, explanation: Explanation) -> None:
        size = explanation_bytes(explanation)
        with self._lock:
            self._drop(key)
            if size > self._limit:
                return
            self._items[key] = (explanation, size)
            self._bytes += size
            self._evict()

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    def set_limit(self, limit: int) -> None:
        """Change the budget (evicting at once if the cache is over it)."""
        if limit < 0:
            raise ValueError("The cache limit must be zero or more bytes.")
        with self._lock:
            self._limit = limit
            self._evict()

    def info(self) -> dict[str, int]:
        """``entries``, ``bytes`` held and the ``limit``, for monitoring and tests."""
        with self._lock:
            return {"entries": len(self._items), "bytes": self._bytes, "limit": self._limit}

    def _drop(self, key: Hashable) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old[1]

    def _evict(self) -> None:
        while self._items and self._bytes > self._limit:
            _key, (_explanation, size) = self._items.popitem(last=False)
            self._bytes -= size


__all__ = ["DEFAULT_LIMIT_BYTES", "ExplanationCache", "explanation_bytes"]
