"""Lean connections to one standalone Redis server, on hiredis (see docs/decisions.md).

``BlockingConnection`` keeps a few plain sockets: each call takes one, sends its commands in one
write and reads their replies, with about a third of the Python that redis-py's client runs
around a command. Its asyncio twin, ``pipelined.PipelinedConnection``, shares the helpers here.

Replies come back as values; an error reply comes back as a ``ReplyError`` carrying the error's
code (``NOSCRIPT``, ``WRONGTYPE`` …), which ``broker`` translates. A broken connection fails every
command in flight with ``ConnectionLost`` (or ``NoReply`` when no reply came within the socket
timeout), both ``OSError``; the next call reconnects. Nothing here imports redis-py or asyncio, so
a command line talking to one server does not pay for loading them.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
import weakref
from typing import TYPE_CHECKING, Any

import hiredis

if TYPE_CHECKING:
    import ssl
    from collections.abc import Callable, Sequence

    from .calls import Arg
    from .config import RedisConnOpt

__all__ = [
    "AuthError",
    "BlockingConnection",
    "ConnectionLost",
    "NoReply",
    "ReplyError",
    "check_handshake",
    "handshake_commands",
    "pack",
    "reply_value",
    "set_tcp_options",
    "ssl_context",
    "tcp_options",
]


class ReplyError(Exception):
    """An error reply from Redis; the message is the reply as sent (``WRONGTYPE Operation …``)."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.code = text.partition(" ")[0]
        """The reply's first word: ``ERR``, ``NOSCRIPT``, ``NOPERM``, ``LOADING`` …"""


class AuthError(ReplyError):
    """Redis refused the credentials (``WRONGPASS``, ``NOAUTH``, or any error reply to ``AUTH``)."""


class ConnectionLost(ConnectionError):
    """The connection could not be made, or broke before every reply came."""


class NoReply(TimeoutError):
    """No reply (or no connection) within the timeout."""


# hiredis's stub types the argument as a 1-tuple; it takes any number of arguments.
pack: Callable[[tuple[Arg, ...]], bytes] = hiredis.pack_command  # type: ignore[assignment]
"""One command as RESP bytes."""


def ssl_context(opt: RedisConnOpt) -> ssl.SSLContext:
    """The TLS context of a ``rediss://`` connection (verifying unless ``tls_insecure``)."""
    import ssl  # only for TLS: a command line on a Unix socket does not load it

    context = ssl.create_default_context(cafile=opt.tls_ca_file)
    if opt.tls_insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def handshake_commands(opt: RedisConnOpt) -> list[tuple[Arg, ...]]:
    """The commands a new connection sends first: AUTH and SELECT, as the options ask."""
    commands: list[tuple[Arg, ...]] = []
    if opt.password is not None:
        commands.append(("AUTH", opt.username, opt.password) if opt.username else ("AUTH", opt.password))
    if opt.db:
        commands.append(("SELECT", opt.db))
    return commands


def check_handshake(commands: list[tuple[Arg, ...]], replies: list[Any]) -> None:
    """Raise the handshake's first error reply; any error to ``AUTH`` is an ``AuthError``."""
    for command, reply in zip(commands, replies, strict=True):
        if isinstance(reply, AuthError) or (isinstance(reply, Exception) and command[0] == "AUTH"):
            raise AuthError(str(reply))
        if isinstance(reply, Exception):
            raise reply


_AUTH_CODES = frozenset({"WRONGPASS", "NOAUTH"})
_REFUSED = "ERR max number of clients reached"


def reply_value(reply: Any) -> Any:
    """A reply from hiredis, with an error reply made a ``ReplyError`` (or ``AuthError``, or
    ``ConnectionLost`` when the server refused the connection)."""
    if isinstance(reply, hiredis.ReplyError):
        text = str(reply)
        if text.startswith(_REFUSED):
            return ConnectionLost(f"Redis refused the connection: {text}")
        error = ReplyError(text)
        return AuthError(text) if error.code in _AUTH_CODES else error
    return reply


def tcp_options(timeout_s: float | None) -> dict[int, int]:
    """TCP options (level IPPROTO_TCP) for every data connection, ours and redis-py's.

    ``TCP_USER_TIMEOUT`` makes the kernel abort a connection whose sent bytes stay unacknowledged
    for the socket timeout, discarding what it still buffers: a command that timed out is dropped,
    never delivered late when a partition heals (a late lease write or dequeue would act on a task
    that is someone else's by then). Keepalive probes find a dead peer on an idle connection.
    """
    wanted = {"TCP_KEEPIDLE": 5, "TCP_KEEPINTVL": 2, "TCP_KEEPCNT": 3}
    if timeout_s:
        wanted["TCP_USER_TIMEOUT"] = int(timeout_s * 1000)
    return {getattr(socket, name): value for name, value in wanted.items() if hasattr(socket, name)}


def _kernel_timeouts(sock: socket.socket, timeout_s: float) -> None:
    """Leave a blocking socket's timeouts to the kernel (``SO_RCVTIMEO``, ``SO_SNDTIMEO``).

    With a Python timeout, every send and receive first polls the socket: two more system calls
    per round trip. A receive that times out here fails with ``BlockingIOError``.
    """
    sock.settimeout(None)
    micros = max(1, round(timeout_s * 1e6))  # (a zero timeval would mean no timeout at all)
    timeval = struct.pack("@ll", *divmod(micros, 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


def set_tcp_options(sock: Any, timeout_s: float | None) -> None:
    """Set no-delay, keepalive and ``tcp_options`` on a TCP socket."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in tcp_options(timeout_s).items():
        sock.setsockopt(socket.IPPROTO_TCP, option, value)


_FRESH_S = 0.01
"""How recent a reply spares an idle socket the check that the server has not closed it."""

_forks = 0
"""Forks of this process so far, as seen by the child: a connection made before a fork is not the
child's to use."""


def _forked() -> None:
    global _forks
    _forks += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


class _Socket:
    """One blocking socket and its reply parser."""

    __slots__ = ("__weakref__", "_closer", "reader", "sock", "used_at")

    def __init__(self, opt: RedisConnOpt) -> None:
        try:
            if opt.unix_socket:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(opt.connect_timeout_s)
                sock.connect(opt.unix_socket)
            else:
                sock = socket.create_connection((opt.host, opt.port), timeout=opt.connect_timeout_s)
                set_tcp_options(sock, opt.socket_timeout_s)
                if opt.tls:
                    sock = ssl_context(opt).wrap_socket(sock, server_hostname=opt.host)
        except TimeoutError as exc:
            raise NoReply(f"timed out connecting to {opt.redacted_url()}") from exc
        except OSError as exc:
            raise ConnectionLost(f"cannot connect to {opt.redacted_url()}: {exc}") from exc
        if opt.tls or opt.socket_timeout_s is None:
            sock.settimeout(opt.socket_timeout_s)
        else:
            _kernel_timeouts(sock, opt.socket_timeout_s)
        self.sock = sock
        self.used_at = 0.0
        """When the last reply came (``time.monotonic``)."""
        # Like redis-py's connections, one dropped without close() closes its socket quietly. A
        # finalizer, not __del__: in a reference cycle the socket's own finalizer may run first
        # and warn, while this one keeps the socket out of the cycle until it has closed it.
        self._closer = weakref.finalize(self, sock.close)
        self.reader = hiredis.Reader()
        handshake = handshake_commands(opt)
        if handshake:
            try:
                check_handshake(handshake, self.roundtrip(handshake))
            except BaseException:
                self.close()
                raise

    def roundtrip(self, commands: Sequence[tuple[Arg, ...]]) -> list[Any]:
        sock = self.sock
        reader = self.reader
        try:
            sock.sendall(b"".join(map(pack, commands)))
            replies: list[Any] = []
            while len(replies) < len(commands):
                reply = reader.gets()
                if reply is False:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionLost("connection to Redis lost: closed by the server")
                    reader.feed(data)
                else:
                    replies.append(reply_value(reply))
        except ConnectionLost:
            raise
        except (TimeoutError, BlockingIOError) as exc:  # BlockingIOError: the kernel's timeout
            raise NoReply("no reply from Redis within the socket timeout") from exc
        except hiredis.ProtocolError as exc:
            raise ConnectionLost(f"Redis protocol error: {exc}") from exc
        except OSError as exc:
            raise ConnectionLost(f"connection to Redis lost: {exc}") from exc
        self.used_at = time.monotonic()
        return replies

    def stale(self) -> bool:
        """True if the server closed the connection (or sent something unasked) while it was idle.

        A connection that had a reply within ``_FRESH_S`` is not asked: no server closes an idle
        connection that soon (its ``timeout`` counts whole seconds), a restart takes longer than
        that to accept connections again, and one closed anyway fails its next call as it would
        have failed with the check had it closed a moment later. A busy loop saves a system call.
        """
        if time.monotonic() - self.used_at < _FRESH_S:
            return False
        return bool(select.select([self.sock], [], [], 0)[0])

    def close(self) -> None:
        self._closer()


class BlockingConnection:
    """Plain sockets to a standalone Redis, opened as needed and reused (one per thread at a time).

    Args:
        opt: Where and how to connect (TCP or Unix socket, TLS, credentials, database).
    """

    def __init__(self, opt: RedisConnOpt) -> None:
        self._opt = opt
        self._idle: list[_Socket] = []
        self._forks = _forks

    def execute(self, commands: Sequence[tuple[Arg, ...]]) -> list[Any]:
        """Send ``commands`` back to back and return their replies, an error reply as its exception.

        Raises:
            ConnectionLost: the connection could not be made or broke before the replies came.
            NoReply: no reply came within the socket timeout.
        """
        conn = self._checkout()
        try:
            replies = conn.roundtrip(commands)
        except BaseException:
            conn.close()
            raise
        self._idle.append(conn)
        return replies

    def _checkout(self) -> _Socket:
        if self._forks != _forks:
            # A forked child must not share its parent's sockets (nor close them).
            self._idle = []
            self._forks = _forks
        while self._idle:
            try:
                conn = self._idle.pop()
            except IndexError:  # another thread took the last one
                break
            if not conn.stale():
                return conn
            conn.close()
        return _Socket(self._opt)

    def close(self) -> None:
        """Close the idle sockets."""
        while self._idle:
            self._idle.pop().close()
