"""What the browser tests share besides fixtures: the `panel serve` subprocess, artifact paths, console checks."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP = ROOT / "dashboard" / "app.py"
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_SECONDS = 120
"""Bounded wait for `panel serve` to answer: importing torch and loading MiniLM takes ~15 s on 2 cores."""

LOCAL_ONLY = re.compile(r"^(?!https?://127\.0\.0\.1[:/]|data:|blob:|about:)")
"""URLs the page may not fetch: anything but the local server (and inline data)."""

BENIGN_CONSOLE_ERRORS: list[tuple[str, str]] = [
    # (regular expression on the message text, why it is noise and not a defect of the page).
    # Empty on purpose: in these runs the pages logged only Bokeh's "[bokeh] ..." lines (types log and
    # info); no error was noise. Add an entry only with the reason it cannot be a defect of the page.
]
"""Console messages of type ``error`` that are noise, not bugs. Everything else fails the test."""


def artifact_name(node_name: str) -> str:
    """``test_x[a b]`` -> ``test_x-a-b``: a file-name-safe test name."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", node_name).strip("-")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class PanelServer:
    """One `panel serve dashboard/app.py` subprocess on 127.0.0.1."""

    name: str
    models: Sequence[str]
    env: dict[str, str]
    port: int = field(default_factory=_free_port)
    process: subprocess.Popen | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = ARTIFACTS / f"server-{self.name}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/app"

    def command(self) -> list[str]:
        command = [
            sys.executable,
            "-m",
            "panel",
            "serve",
            str(APP),
            "--port",
            str(self.port),
            "--address",
            "127.0.0.1",
            f"--allow-websocket-origin=127.0.0.1:{self.port}",
        ]
        if self.models:
            command.append("--args")
            for model in self.models:
                command += ["--model", model]
        return command

    def start(self) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        try:
            self.process = subprocess.Popen(
                self.command(), cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        finally:
            log.close()  # the child keeps its own descriptor

    def wait_until_ready(self, timeout: float = SERVER_START_SECONDS) -> None:
        """Poll the app's URL until it answers 200; fail with the server's log if it dies or times out."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                pytest.fail(f"panel serve ({self.name}) exited early:\n{self.log_tail()}", pytrace=False)
            try:
                with urllib.request.urlopen(self.url, timeout=10) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError) as error:  # not listening yet
                last_error = error
            time.sleep(0.25)
        pytest.fail(
            f"panel serve ({self.name}) did not answer {self.url} within {timeout:.0f} s ({last_error}):\n"
            f"{self.log_tail()}",
            pytrace=False,
        )

    def terminate(self) -> None:
        """Ask the server to shut down (SIGTERM: Tornado stops in a few seconds)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait_stopped(self, timeout: float = 10) -> None:
        """Wait for a terminated server to exit; kill it if it does not."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=timeout)

    def log_size(self) -> int:
        """Where the server's log ends now (pass it to ``assert_no_tracebacks_since``)."""
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def assert_no_tracebacks_since(self, offset: int) -> None:
        """The server logged no traceback since ``offset`` (an exception a page could not show)."""
        with self.log_path.open("rb") as log:
            log.seek(offset)
            new = log.read().decode("utf-8", errors="replace")
        assert "Traceback (most recent call last)" not in new, f"panel serve ({self.name}) logged:\n{new[-4000:]}"

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])


def server_environment(**overrides: str) -> dict[str, str]:
    """The test process's environment, offline, without a model list that would override --model."""
    env = {key: value for key, value in os.environ.items() if key != "QA_LENS_MODELS"}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
    env.update(overrides)
    return env


def console_errors(page: Any) -> list[str]:
    """Page errors, requests to other hosts, and console errors not in ``BENIGN_CONSOLE_ERRORS``."""
    errors = [f"pageerror: {text}" for text in page.page_errors]
    errors += [f"request to another host (the page must work offline): {url}" for url in page.external_requests]
    for kind, text in page.console_log:
        if kind == "error" and not any(re.search(pattern, text) for pattern, _why in BENIGN_CONSOLE_ERRORS):
            errors.append(f"console.error: {text}")
    return errors


def assert_clean_console(page: Any) -> None:
    errors = console_errors(page)
    assert not errors, "the page logged errors:\n" + "\n".join(errors)
