"""The probe and metrics endpoint: a failed request becomes a log record, never text on stderr."""

from __future__ import annotations

import contextlib
import logging
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from helpers import wait_for

from asynq_py.cli.httpd import Response, Route, serve_routes

from ..conftest import free_port


def _broken() -> Response:
    raise RuntimeError("the route broke")


def _slow() -> Response:
    time.sleep(0.3)
    return 200, "text/plain", b"ok\n" * 100_000


@contextlib.contextmanager
def _serving(routes: dict[str, Route]) -> Iterator[int]:
    """Serve ``routes`` on a free loopback port; yield the port, shut down after."""
    port = free_port()
    server = serve_routes("127.0.0.1", port, routes)
    try:
        yield port
    finally:
        server.shutdown()


def test_a_route_that_raises_is_logged_as_one_record_and_nothing_is_printed(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with _serving({"/broken": _broken}) as port:
        with caplog.at_level(logging.DEBUG, logger="asynq_py"), pytest.raises(urllib.error.HTTPError) as got:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/broken", timeout=5)
        assert got.value.code == 500
        got.value.close()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in errors] == ["/broken failed"]
    assert "----" not in capfd.readouterr().err  # socketserver's own report would go to stderr


def test_a_prober_that_hangs_up_first_is_not_an_error(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    with _serving({"/slow": _slow}) as port, caplog.at_level(logging.DEBUG, logger="asynq_py"):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            # Reset on close: the reply's write then fails, as when a prober times out.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(
            lambda: any("ended before its reply" in r.getMessage() for r in caplog.records),
            what="the hang-up's log record",
        )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert "----" not in capfd.readouterr().err
