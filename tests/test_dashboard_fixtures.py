"""The browser tests' server fixture: its traceback check ignores Bokeh's close race and nothing else."""

from __future__ import annotations

from pathlib import Path

import pytest

from dashboard.fixtures.server import PanelServer, tracebacks

SITE = "/work/.venv/lib/python3.11/site-packages"
BOKEH_CLOSE_RACE = f"""2026-12-07 15:15:51,899 WebSocket connection closed: code=None, reason=None
2026-12-07 15:15:51,899 Uncaught exception GET /app/ws?example=estrand-01 (127.0.0.1)
HTTPServerRequest(protocol='http', host='127.0.0.1:40883', method='GET', uri='/app/ws', version='HTTP/1.1')
Traceback (most recent call last):
  File "{SITE}/tornado/web.py", line 2004, in _execute
    result = await result
             ^^^^^^^^^^^^
  File "{SITE}/tornado/websocket.py", line 605, in on_connection_close
    self.on_close()
  File "{SITE}/bokeh/server/views/ws.py", line 310, in on_close
    self.connection.session.notify_connection_lost()
    ^^^^^^^^^^^^^^^^^^^^^^^
  File "{SITE}/bokeh/server/connection.py", line 65, in session
    assert self._session is not None
           ^^^^^^^^^^^^^^^^^^^^^^^^^
AssertionError
2026-12-07 15:15:52,947 WebSocket connection opened
"""
OURS = f"""2026-12-07 15:16:01,000 a view could not follow ['view.head']
Traceback (most recent call last):
  File "/work/main/dashboard/views/fan_out.py", line 99, in _dispatch
    callback(changed)
  File "{SITE}/bokeh/server/connection.py", line 65, in session
    assert self._session is not None
AssertionError: another message
"""
CHAINED = f"""Traceback (most recent call last):
  File "/work/main/dashboard/qa_lens_app.py", line 10, in released
    app.state.release()
KeyError: 'x'

During handling of the above exception, another exception occurred:

{BOKEH_CLOSE_RACE.split(chr(10), 3)[3]}"""


def server_with_log(tmp_path: Path, text: str) -> PanelServer:
    server = PanelServer(name="log", models=[], env={}, log_dir=tmp_path, port=1)
    server.log_path.write_text(text, encoding="utf-8")
    return server


def test_each_traceback_runs_to_its_exception_line() -> None:
    blocks = tracebacks(CHAINED)
    assert len(blocks) == 2
    assert blocks[0].rstrip().endswith("KeyError: 'x'") and blocks[1].rstrip().endswith("AssertionError")


def test_bokehs_close_race_is_ignored(tmp_path: Path) -> None:
    server_with_log(tmp_path, BOKEH_CLOSE_RACE * 2).assert_no_tracebacks_since(0)


@pytest.mark.parametrize(
    "log", [OURS, CHAINED, BOKEH_CLOSE_RACE + OURS, BOKEH_CLOSE_RACE.replace("on_close", "on_open")]
)
def test_any_other_traceback_still_fails(tmp_path: Path, log: str) -> None:
    with pytest.raises(AssertionError, match="logged"):
        server_with_log(tmp_path, log).assert_no_tracebacks_since(0)


def test_only_the_log_after_the_offset_is_checked(tmp_path: Path) -> None:
    server = server_with_log(tmp_path, OURS + "later lines\n")
    server.assert_no_tracebacks_since(len(OURS.encode("utf-8")))
