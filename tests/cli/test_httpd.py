"""The probe and metrics endpoint: a failed request becomes a log record, never text on stderr."""

from __future__ import annotations

import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest

from asynq_py.cli.httpd import Response, serve_routes

from ..conftest import free_port


def _broken() -> Response:
    raise RuntimeError("the route broke")


def _slow() -> Response:
    time.sleep(0.3)
    return 200, "text/plain", b"ok\n" * 100_000


def _wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)


def test_a_route_that_raises_is_logged_as_one_record_and_nothing_is_printed(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    server = serve_routes("127.0.0.1", port, {"/broken": _broken})
    try:
        with caplog.at_level(logging.DEBUG, logger="asynq_py"), pytest.raises(urllib.error.HTTPError) as got:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/broken", timeout=5)
        assert got.value.code == 500
        got.value.close()
    finally:
        server.shutdown()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["/broken failed"]
    assert "----" not in capfd.readouterr().err  # socketserver's own report would go to stderr


def test_a_prober_that_hangs_up_first_is_not_an_error(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    server = serve_routes("127.0.0.1", port, {"/slow": _slow})
    try:
        with caplog.at_level(logging.DEBUG, logger="asynq_py"):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                # Reset on close: the reply's write then fails, as when a prober times out.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            _wait_for(lambda: any("ended before its reply" in r.getMessage() for r in caplog.records))
    finally:
        server.shutdown()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "----" not in capfd.readouterr().err
