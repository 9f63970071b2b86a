"""Run dashboard code inside a running event loop, as under ``panel serve`` or Jupyter."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


def in_loop(body: Callable[[], Any], settle: float = 0.05) -> Any:
    """Call ``body()`` inside a fresh running event loop, then let the callbacks it scheduled run.

    HoloViews schedules selection callbacks on the running loop. The browser tests run last
    (tests/conftest.py) because Playwright's sync API keeps its own loop running in this thread.
    """

    async def main() -> Any:
        result = body()
        await asyncio.sleep(settle)
        return result

    return asyncio.run(main())
