"""The heartbeater: a thread that publishes server state and extends leases (docs/wire.md §5.4).

It runs on its own thread with its own connection, so a handler that blocks the event loop or
holds the GIL between bytecodes cannot starve the leases of the other tasks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from . import keys, rdb
from .broker import Broker
from .clock import Clock
from .errors import AsynqError
from .observer import WorkerObserver
from .processor import Registry, Running
from .ratelimit import RateLimitedLog
from .wire import ServerInfo, WorkerInfo, encode_server_info, encode_worker_info

__all__ = ["SERVER_MARKER", "Heartbeater", "ServerIdentity"]

SERVER_MARKER = "asynq-py"
"""The value of an asynq-py server's marker key (``keys.server_marker_key``)."""


@dataclass(frozen=True)
class ServerIdentity:
    """Who this server is, as written into ``ServerInfo``."""

    host: str
    pid: int
    server_id: str
    concurrency: int
    queues: dict[str, int]
    strict_priority: bool
    started: float

    @property
    def server_key(self) -> str:
        """``asynq:servers:{host:pid:id}``."""
        return keys.server_info_key(self.host, self.pid, self.server_id)

    @property
    def marker_key(self) -> str:
        """``asynq:servers:{host:pid:id}:impl``, which tells Go servers and asynq-py servers apart."""
        return keys.server_marker_key(self.host, self.pid, self.server_id)

    @property
    def workers_key(self) -> str:
        """``asynq:workers:{host:pid:id}``."""
        return keys.workers_key(self.host, self.pid, self.server_id)


class Heartbeater(threading.Thread):
    """Beats at once, then every interval, until ``stop``; clears the server state when stopped."""

    def __init__(
        self,
        broker: Broker,
        identity: ServerIdentity,
        registry: Registry,
        clock: Clock,
        status: Callable[[], str],
        interval_s: float,
        lease_s: int,
        logger: logging.Logger,
        observer: WorkerObserver | None = None,
    ) -> None:
        super().__init__(name="asynq-heartbeat", daemon=True)
        self._broker = broker
        self._identity = identity
        self._registry = registry
        self._clock = clock
        self._status = status
        self._interval_s = interval_s
        self._lease_s = lease_s
        self._limited = RateLimitedLog(logger)
        self._observer = observer
        self._stopping = threading.Event()
        self.first_beat = threading.Event()
        """Set once the first beat was tried (written, or failed and logged)."""
        self.beats = 0
        """How many beats were written (for tests and health)."""

    def stop(self) -> None:
        """Stop beating; the thread clears the server state and ends."""
        self._stopping.set()

    def run(self) -> None:
        while True:
            self.beat()
            self.first_beat.set()
            if self._stopping.wait(self._interval_s):
                break
        try:
            ident = self._identity
            self._broker.run(rdb.clear_server_state(ident.server_key, ident.workers_key, ident.marker_key))
        except AsynqError as exc:
            self._limited.log(logging.WARNING, "clear", "could not clear server state: %s", exc)

    def beat(self) -> None:
        """Write the server state and extend the leases of the tasks still running."""
        now = self._clock.now()
        runs = [r for r in self._registry.snapshot() if not r.done]
        for run in runs:
            if run.lease_expiry <= now and not run.lost:
                # Fencing: a lease we could not extend in time may already belong to another server.
                run.lose()
        valid = [r for r in runs if not r.lost]
        ident = self._identity
        info = ServerInfo(
            host=ident.host,
            pid=ident.pid,
            server_id=ident.server_id,
            concurrency=ident.concurrency,
            queues=ident.queues,
            strict_priority=ident.strict_priority,
            status=self._status(),
            started=_utc(ident.started),
            active_worker_count=len(valid),
        )
        workers = {
            r.msg.id: encode_worker_info(
                WorkerInfo(
                    ident.host,
                    ident.pid,
                    ident.server_id,
                    r.msg.id,
                    r.msg.type,
                    r.msg.payload,
                    r.msg.queue,
                    _utc(r.started),
                    _utc(r.deadline),
                )
            )
            for r in valid
        }
        leases: dict[str, list[str]] = {}
        for r in valid:
            leases.setdefault(r.msg.queue, []).append(r.msg.id)
        try:
            report, state_error = self._broker.run(
                rdb.heartbeat(
                    ident.server_key,
                    ident.workers_key,
                    encode_server_info(info),
                    workers,
                    leases,
                    marker=(ident.marker_key, SERVER_MARKER),
                    now=now,
                    ttl_s=int(self._interval_s * 2) or 1,
                    lease_s=self._lease_s,
                )
            )
        except AsynqError as exc:
            self._limited.log(logging.ERROR, "beat", "heartbeat failed: %s", exc)
            if self._observer is not None:
                self._observer.redis_error(type(exc).__name__)
                for queue, ids in leases.items():
                    self._observer.lease_extensions_failed(queue, len(ids))
            return
        self._apply(report, valid)
        if state_error is not None:
            self._limited.log(logging.ERROR, "beat", "heartbeat failed: %s", state_error)
            return
        self.beats += 1

    def _apply(self, report: rdb.LeaseReport, runs: list[Running]) -> None:
        """Give the runs their extended leases, and stop the ones whose lease Redis no longer has."""
        for q, failure in report.failed.items():
            self._limited.log(
                logging.ERROR, f"lease:{q}", "cannot extend the leases of queue %s: %s", q, failure
            )
        for r in runs:
            if (r.msg.queue, r.msg.id) in report.gone:
                # Redis no longer leases the task to us (recovered after a partition, or finished by
                # a late write): another worker may be running it, so this run must stop. A run
                # writing its outcome may have removed the lease itself, while this beat was in
                # flight; if not, its outcome is not sent or finds the task gone, and the processor
                # warns then. So only a run still in its handler is reported here.
                if not r.finishing:
                    self._limited.log(
                        logging.WARNING, "gone", "task %s lost its lease in Redis; stopping it", r.msg.id
                    )
                r.lose()
            elif r.msg.queue not in report.failed:
                r.lease_expiry = report.expiry


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
