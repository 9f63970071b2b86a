"""Every local service the tool starts listens on this machine only unless asked (the embedded Dask cluster is
checked socket by socket in tests/test_dataset_run.py; the browser tests serve on 127.0.0.1 themselves)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _serve_command(*overrides: str) -> str:
    """The ``panel serve`` line ``make serve`` would run (``make -n``: nothing is started)."""
    printed = subprocess.run(
        ["make", "-n", "serve", *overrides], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60
    ).stdout
    [line] = [line for line in printed.splitlines() if "panel serve" in line]
    return line


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_serve_listens_on_localhost_unless_asked() -> None:
    command = _serve_command()
    assert "--address 127.0.0.1" in command
    assert "--allow-websocket-origin=localhost:5006" in command
    assert "--allow-websocket-origin=127.0.0.1:5006" in command
    shared = _serve_command("ADDRESS=0.0.0.0", "ORIGINS=lab.example:5006")
    assert "--address 0.0.0.0" in shared and "--allow-websocket-origin=lab.example:5006" in shared
