"""Plumbing for benchmarks/run.py: a tiny Redis client, the Valkey server, process groups, RSS.

Standard library only, so the orchestrator runs under any Python 3.11+.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any


class BenchError(RuntimeError):
    """One measurement could not be made; the message says why."""


class Resp:
    """A minimal blocking RESP2 client: enough for FLUSHALL, GET, LLEN, LRANGE and INFO."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._file = self._sock.makefile("rb")
        self.calls = 0
        """Commands sent so far, so that figures from INFO can leave this client's own out."""

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
            self._sock.close()

    def call(self, *args: str | bytes | int) -> Any:
        parts = [b"*%d\r\n" % len(args)]
        for arg in args:
            data = arg if isinstance(arg, bytes) else str(arg).encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self._sock.sendall(b"".join(parts))
        self.calls += 1
        return self._read()

    def _read(self) -> Any:
        line = self._file.readline()
        if not line:
            raise ConnectionError("server closed the connection")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise BenchError(f"server error: {rest.decode()}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            if size < 0:
                return None
            data = self._file.read(size + 2)
            return data[:-2]
        if kind == b"*":
            count = int(rest)
            return None if count < 0 else [self._read() for _ in range(count)]
        raise BenchError(f"unexpected reply {line!r}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _status_number(proc: Path, field: str) -> int:
    """The number a ``/proc`` process or thread folder's ``status`` gives for ``field``; 0 when it
    has none, or has exited."""
    with contextlib.suppress(OSError):
        for line in (proc / "status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    return 0


class ProcGroup:
    """Processes started together (one per command), each the leader of its own session.

    ``stop`` sends SIGTERM to every process group, waits, then SIGKILLs what is left.
    """

    def __init__(
        self,
        name: str,
        commands: Sequence[Sequence[str]],
        log_path: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.started_at = time.time()
        self.procs: list[subprocess.Popen[bytes]] = []
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        try:
            for cmd in commands:
                self.procs.append(
                    subprocess.Popen(
                        list(cmd),
                        stdin=subprocess.DEVNULL,
                        stdout=self._log,
                        stderr=subprocess.STDOUT,
                        env=env,
                        cwd=cwd,
                        start_new_session=True,
                    )
                )
        except BaseException:
            self.stop()
            raise

    def all_exited(self) -> bool:
        return all(p.poll() is not None for p in self.procs)

    def any_exited(self) -> bool:
        return any(p.poll() is not None for p in self.procs)

    def returncodes(self) -> list[int | None]:
        return [p.poll() for p in self.procs]

    def members(self) -> list[int]:
        """Pids of every live process in these process groups (leaders and their children)."""
        groups = {p.pid for p in self.procs}
        found: list[int] = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2 :].split()
            if len(fields) > 2 and int(fields[2]) in groups:
                found.append(int(entry))
        return found

    def peak_rss_kib(self) -> int:
        """Sum of VmHWM (peak resident set) over every live process of the groups, in KiB."""
        return sum(_status_number(Path(f"/proc/{pid}"), "VmHWM") for pid in self.members())

    def preemptions(self) -> int:
        """Involuntary context switches so far, summed over every thread of every live process of the
        groups: how often the kernel took a CPU from the worker while it could still run (on a small
        machine, for instance to run Redis, woken by the worker's own write, on the worker's CPU)."""
        total = 0
        for pid in self.members():
            with contextlib.suppress(OSError):  # (the process may have exited meanwhile)
                for task in Path(f"/proc/{pid}/task").iterdir():
                    total += _status_number(task, "nonvoluntary_ctxt_switches")
        return total

    def log_tail(self, lines: int = 15) -> str:
        try:
            self._log.flush()
            text = self.log_path.read_text(errors="replace")
        except (OSError, ValueError):
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _signal(self, sig: int) -> None:
        for p in self.procs:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, sig)

    def stop(self, grace: float = 15.0) -> None:
        if self.procs:
            self._signal(signal.SIGTERM)
            deadline = time.monotonic() + grace
            for p in self.procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=max(0.0, deadline - time.monotonic()))
            # Children of a leader that exited may still be around: kill the groups either way.
            self._signal(signal.SIGKILL)
            for p in self.procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    p.wait(timeout=5)
        with contextlib.suppress(OSError):
            self._log.close()


def run_once(
    cmd: Sequence[str],
    timeout: float,
    log_path: Path,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> str:
    """Run ``cmd`` to completion in its own process group; return its stdout.

    Raises BenchError on a non-zero exit or a timeout (the group is killed); stderr goes to
    ``log_path``.
    """
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(cmd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BenchError(f"`{' '.join(cmd[:4])} ...` timed out after {timeout:.0f}s") from None
        finally:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()
            else:
                # The command is done; anything it left behind in its group goes too.
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
    if proc.returncode != 0:
        tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
        raise BenchError(f"`{' '.join(cmd[:4])} ...` exited {proc.returncode}:\n{tail}")
    return out.decode(errors="replace")


class ValkeyServer:
    """A throwaway valkey-server on a free loopback port: no RDB snapshots, no AOF."""

    def __init__(self, binary: Path, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.group = ProcGroup(
            "valkey-server",
            [
                [
                    str(binary),
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(workdir),
                    "--daemonize",
                    "no",
                    "--loglevel",
                    "warning",
                ]
            ],
            workdir / "valkey-server.log",
        )
        self.client: Resp | None = None
        deadline = time.monotonic() + 15
        while True:
            try:
                self.client = Resp("127.0.0.1", self.port)
                if self.client.call("PING") == "PONG":
                    break
            except OSError:
                pass
            if self.group.all_exited() or time.monotonic() > deadline:
                tail = self.group.log_tail()
                self.stop()
                raise BenchError(f"valkey-server did not start:\n{tail}")
            time.sleep(0.05)

    def call(self, *args: str | bytes | int) -> Any:
        assert self.client is not None
        return self.client.call(*args)

    def version(self) -> str:
        text: str = self.call("INFO", "server").decode()
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        return str(fields.get("valkey_version", fields.get("redis_version", "?"))).strip()

    def commands_processed(self) -> tuple[int, int]:
        """(the server's total_commands_processed, commands this client sent), read together."""
        assert self.client is not None
        text = self.client.call("INFO", "stats").decode()
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        return int(fields["total_commands_processed"]), self.client.calls

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        self.group.stop(grace=5)
