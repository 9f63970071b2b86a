"""A runner that holds work until the test finishes it: to check what the page shows in between."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dashboard.state.runners import Outcome, Runner


class ManualRunner(Runner):
    """Queues submitted work; ``finish`` runs one piece (as a worker thread would), ``finish_all`` the rest."""

    def __init__(self) -> None:
        self.pending: list[tuple[Callable[[], Any], Callable[[Outcome], None]]] = []

    def submit(self, work: Callable[[], Any], done: Callable[[Outcome], None]) -> None:
        self.pending.append((work, done))

    def finish(self, index: int = 0) -> None:
        work, done = self.pending.pop(index)
        try:
            outcome = Outcome(value=work())
        except Exception as error:
            outcome = Outcome(error=error)
        done(outcome)

    def finish_all(self) -> None:
        """Run everything queued, including work queued by what runs."""
        while self.pending:
            self.finish(0)


__all__ = ["ManualRunner"]
