"""A small HTTP endpoint for probes and scrapers (``/metrics``, ``/livez``, ``/readyz``).

It runs stdlib ``http.server`` on a daemon thread; each route is a function that returns the
status, content type and body. Only GET and HEAD; anything else under an unknown path is a 404.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import sys
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import typer

from .errors import CliError, ExitCode, warn

__all__ = ["Response", "Route", "parse_listen", "serve_routes", "wait_for_stop_signal"]

Response = tuple[int, str, bytes]
"""Status, content type, body."""
Route = Callable[[], Response]

_log = logging.getLogger("asynq_py.cli.http")


class _Server(ThreadingHTTPServer):
    """Reports a failed request as a log record (in the worker's log format), not on stderr."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        peer = client_address[0] if isinstance(client_address, tuple) else client_address
        if isinstance(error, ConnectionError):  # a prober that timed out and hung up first
            _log.debug("a request from %s ended before its reply was sent: %s", peer, error)
        else:
            _log.error("a request from %s failed", peer, exc_info=error)

    def shutdown(self) -> None:
        """Stop serving and close the listening socket."""
        super().shutdown()
        self.server_close()


def parse_listen(text: str, option: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[::1]:PORT`` for IPv6); warn when HOST is not a loopback address."""
    host, sep, port_text = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise typer.BadParameter(f"expected HOST:PORT, got {text!r}", param_hint=option)
    if host != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            warn(f"{option} {text}: not a loopback address, so anyone who can reach it can read it")
    return host, int(port_text)


def serve_routes(host: str, port: int, routes: Mapping[str, Route]) -> _Server:
    """Serve ``routes`` on ``host:port`` from a daemon thread; stop with ``shutdown()``."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.partition("?")[0]
            route = routes.get(path)
            try:
                status, content_type, body = route() if route else (404, "text/plain", b"not found\n")
            except Exception:
                _log.exception("%s failed", path)
                status, content_type, body = 500, "text/plain", b"internal error\n"
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, format: str, *args: object) -> None:  # scrapes are not worth a log line
            pass

    try:
        server = _Server((host, port), Handler)
    except OSError as exc:
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", ExitCode.ERROR) from None
    threading.Thread(target=server.serve_forever, name="asynq-http", daemon=True).start()
    return server


def wait_for_stop_signal() -> None:
    """Block until SIGTERM or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
