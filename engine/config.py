"""Configuration as frozen value objects (Redis connection, server); the engine never reads files or
the environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from .errors import ValidationError
from .eventloop import DEFAULT_EVENT_LOOP, check_event_loop
from .options import validate_queue_name

if TYPE_CHECKING:
    import logging

    from .limits import QueueLimits
    from .observer import WorkerObserver
    from .task import Task

__all__ = ["RedisConnOpt", "ServerConfig", "default_is_failure", "default_retry_delay"]


def _host_port(text: str, default_port: int) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or "]" in port:
        return text, default_port
    try:
        number = int(port)
    except ValueError:
        raise ValidationError(f"invalid port {port!r} in Redis address {text!r}") from None
    if not 0 < number < 65536:
        raise ValidationError(f"port {number} out of range in Redis address {text!r}")
    return host.strip("[]"), number


@dataclass(frozen=True)
class RedisConnOpt:
    """How to reach Redis: one server (TCP or Unix socket), Sentinel, or Cluster.

    Build one directly or with ``from_url``. ``repr`` never shows a password.
    """

    host: str = "127.0.0.1"
    """Server host (single server)."""
    port: int = 6379
    """Server port (single server)."""
    unix_socket: str | None = None
    """Path of a Unix socket; replaces host and port when set."""
    db: int = 0
    """Database number."""
    username: str | None = None
    """ACL user name."""
    password: str | None = None
    """Password (of the data nodes; see ``sentinel_password`` for Sentinel)."""
    tls: bool = False
    """Connect with TLS; the certificate is verified unless ``tls_insecure``."""
    tls_ca_file: str | None = None
    """CA bundle to verify the server certificate with (default: the system's)."""
    tls_insecure: bool = False
    """Skip certificate verification (logged as a warning by callers)."""
    sentinel_addrs: tuple[tuple[str, int], ...] = ()
    """Sentinel addresses; non-empty means Sentinel mode."""
    sentinel_master: str = "mymaster"
    """Name of the master that Sentinel monitors."""
    sentinel_username: str | None = None
    """ACL user for the Sentinels themselves."""
    sentinel_password: str | None = None
    """Password of the Sentinels themselves."""
    cluster_addrs: tuple[tuple[str, int], ...] = ()
    """Cluster seed nodes; non-empty means Cluster mode."""
    connect_timeout_s: float = 2.0
    """Seconds to wait for a connection (redis-py has no limit by default)."""
    socket_timeout_s: float = 5.0
    """Seconds to wait for any reply (redis-py has no limit by default)."""
    health_check_interval_s: float = 15.0
    """Idle connections are pinged before use when older than this."""

    def __repr__(self) -> str:
        return f"RedisConnOpt({self.redacted_url()!r})"

    @classmethod
    def from_url(cls, url: str, **overrides: object) -> RedisConnOpt:
        """Parse a Redis URL, the forms Go asynq's ``ParseRedisURI`` accepts and two more.

        - ``redis://[user:password@]host[:port][/db]``, ``rediss://...`` for TLS
          (query ``ca=PATH`` and ``insecure=1``);
        - ``redis-socket://[:password@]/path/to.sock[?db=N]`` (also ``unix://``);
        - ``redis-sentinel://[:password@]h1[:p][,h2[:p]][/db][?master=name]`` (the password is the
          Sentinels'; ``?password=`` gives the master's);
        - ``redis-cluster://[user:password@]h1[:p][,h2[:p]]``.
        """
        try:
            parts = urlsplit(url)
        except ValueError as exc:
            raise ValidationError(f"invalid Redis URL: {exc}") from None
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        netloc = parts.netloc
        user = password = None
        if "@" in netloc:
            cred, _, netloc = netloc.rpartition("@")
            user_text, _, pw_text = cred.partition(":")
            user = unquote(user_text) or None
            password = unquote(pw_text) or None
        scheme = parts.scheme.lower()
        opt: RedisConnOpt
        if scheme in ("redis", "rediss"):
            if not netloc:
                raise ValidationError(f"Redis URL has no host: {cls._safe(url)}")
            host, port = _host_port(netloc, 6379)
            opt = cls(
                host=host,
                port=port,
                db=cls._db(parts.path.strip("/") or query.get("db", "0")),
                username=user,
                password=password,
                tls=scheme == "rediss",
                tls_ca_file=query.get("ca"),
                tls_insecure=query.get("insecure", "") in ("1", "true", "yes"),
            )
        elif scheme in ("redis-socket", "unix"):
            path = unquote(parts.path) or netloc
            if not path:
                raise ValidationError(f"Redis socket URL has no path: {cls._safe(url)}")
            opt = cls(unix_socket=path, db=cls._db(query.get("db", "0")), username=user, password=password)
        elif scheme == "redis-sentinel":
            addrs = tuple(_host_port(a, 26379) for a in netloc.split(",") if a)
            if not addrs:
                raise ValidationError(f"Sentinel URL has no address: {cls._safe(url)}")
            opt = cls(
                sentinel_addrs=addrs,
                sentinel_master=query.get("master", "mymaster"),
                sentinel_username=user,
                sentinel_password=password,
                password=query.get("password"),
                db=cls._db(parts.path.strip("/") or "0"),
            )
        elif scheme == "redis-cluster":
            addrs = tuple(_host_port(a, 6379) for a in netloc.split(",") if a)
            if not addrs:
                raise ValidationError(f"Cluster URL has no address: {cls._safe(url)}")
            opt = cls(cluster_addrs=addrs, username=user, password=password)
        else:
            raise ValidationError(
                f"unsupported Redis URL scheme {parts.scheme!r}: use redis://, rediss://, "
                "redis-socket://, redis-sentinel:// or redis-cluster://"
            )
        return replace(opt, **overrides)  # type: ignore[arg-type]

    @staticmethod
    def _db(text: str) -> int:
        try:
            db = int(text)
        except ValueError:
            raise ValidationError(f"invalid Redis database number {text!r}") from None
        if db < 0:
            raise ValidationError(f"invalid Redis database number {db}")
        return db

    @staticmethod
    def _safe(url: str) -> str:
        scheme, sep, rest = url.partition("://")
        if "@" in rest:
            rest = "***@" + rest.rpartition("@")[2]
        return scheme + sep + rest

    def redacted_url(self) -> str:
        """Return a URL for display, with any password replaced by ``***``."""
        cred = ""
        if self.username or self.password:
            cred = f"{self.username or ''}{':***' if self.password else ''}@"
        if self.cluster_addrs:
            nodes = ",".join(f"{h}:{p}" for h, p in self.cluster_addrs)
            return f"redis-cluster://{cred}{nodes}"
        if self.sentinel_addrs:
            nodes = ",".join(f"{h}:{p}" for h, p in self.sentinel_addrs)
            scred = "***@" if self.sentinel_password else ""
            return f"redis-sentinel://{scred}{nodes}/{self.db}?master={self.sentinel_master}"
        if self.unix_socket:
            return f"redis-socket://{cred}{self.unix_socket}?db={self.db}"
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{cred}{self.host}:{self.port}/{self.db}"


def default_retry_delay(retried: int, error: BaseException, task: Task) -> float:
    """Go asynq's backoff in seconds: ``n**4 + 15 + rand(0..29) * (n + 1)``, n = retries so far."""
    import random  # (loaded once; the command line never retries a task)

    return float(retried**4 + 15 + random.randint(0, 29) * (retried + 1))


def default_is_failure(error: BaseException) -> bool:
    """Every error counts as a failure (Go's default)."""
    return True


@dataclass(frozen=True)
class ServerConfig:
    """How a ``Server`` runs: concurrency, queues, retries, intervals. Every interval can be
    shortened for tests; the defaults are Go asynq's."""

    concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    """Tasks run at once at most (default: the number of CPUs)."""
    queues: Mapping[str, int] = field(default_factory=lambda: {"default": 1})
    """Queue name to priority; priorities of 0 or less are dropped (default ``{"default": 1}``)."""
    strict_priority: bool = False
    """Serve queues strictly by priority instead of weighted random order (default False)."""
    retry_delay_func: Callable[[int, BaseException, Task], float] = default_retry_delay
    """Seconds to wait before retry ``n`` (default Go's formula)."""
    is_failure: Callable[[BaseException], bool] = default_is_failure
    """Whether an error counts as a failure (default: all); non-failures don't use up retries."""
    error_handler: Callable[[Task, BaseException], None] | None = None
    """Called with every failed task and its error (default none)."""
    logger: logging.Logger | None = None
    """Logger to use (default ``logging.getLogger("asynq_py")``)."""
    log_level: int | None = None
    """If set, the logger's level."""
    shutdown_timeout_s: float = 8.0
    """How long shutdown waits for running tasks before requeueing them (default 8 s)."""
    health_check_func: Callable[[BaseException | None], None] | None = None
    """Called every health check interval with None, or the error if Redis did not answer."""
    health_check_interval_s: float = 15.0
    """Seconds between health checks (default 15)."""
    delayed_task_check_interval_s: float = 5.0
    """Seconds between moves of due scheduled and retry tasks to pending (default 5)."""
    task_check_interval_s: float = 1.0
    """Seconds an idle server waits between polls; asynq-py's clients also wake it at once (default 1)."""
    group_grace_period_s: float = 60.0
    """Aggregate a group once no task joined it for this long (default 60, at least 1)."""
    group_max_delay_s: float = 0.0
    """Aggregate a group once its oldest task waited this long (default 0 = no limit)."""
    group_max_size: int = 0
    """Aggregate a group once it has this many tasks (default 0 = no limit)."""
    group_aggregator: Callable[[str, list[Task]], Task] | None = None
    """Builds one task from a group's tasks; without it grouped tasks wait (default none)."""
    janitor_interval_s: float = 8.0
    """Seconds between deletions of expired completed tasks (default 8)."""
    janitor_batch_size: int = 100
    """Completed tasks deleted per script call (default 100)."""
    heartbeat_interval_s: float = 5.0
    """Seconds between heartbeats, which also extend leases (default 5; Go hard-codes it)."""
    recoverer_interval_s: float = 60.0
    """Seconds between recoveries of tasks with expired leases (default 60)."""
    recoverer_cutoff_s: float = 30.0
    """Leases must have expired this long ago before recovery, for clock skew (default 30)."""
    lease_duration_s: int = 30
    """Seconds a task's lease lasts without a heartbeat (default 30, Go's)."""
    syncer_interval_s: float = 5.0
    """Seconds between retries of state writes that failed (default 5)."""
    processes: int = 1
    """Worker processes under one supervising parent (default 1: no supervisor)."""
    observer: WorkerObserver | None = None
    """Told of every run, lease failure and Redis error, for metrics (default none)."""
    limits: Mapping[str, QueueLimits] = field(default_factory=dict)
    """Flow-control limits of served queues, written to Redis at start only for a queue that has no
    limits there yet: afterwards Redis wins (changed with the Inspector or ``asynq-py limit``), so
    a restart never undoes a change made at run time (default none; docs/flow-control.md)."""
    redis_wait_s: float | None = None
    """How long a starting server waits for an unreachable Redis, retrying with backoff, before it
    raises ``RedisUnavailableError`` (default None: until Redis answers or the server is shut
    down; 0 fails at once)."""
    event_loop: str = DEFAULT_EVENT_LOOP
    """The event loop ``run`` and ``start`` create: ``asyncio``, ``uvloop`` (an error at start where
    uvloop is missing; ``pip install asynq-py[uvloop]``) or ``auto`` (uvloop where it can be
    imported, else asyncio's); ``run_async`` runs on the caller's loop (default ``asyncio``,
    docs/decisions.md says why)."""

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValidationError("concurrency must be at least 1")
        if self.processes < 1:
            raise ValidationError("processes must be at least 1")
        if self.group_grace_period_s < 1:
            raise ValidationError("group grace period must be at least 1s")
        if not self.effective_queues():
            raise ValidationError("at least one queue with a positive priority is needed")
        for name in self.queues:
            validate_queue_name(name)
        if self.shutdown_timeout_s < 0:
            raise ValidationError("shutdown_timeout_s must not be negative")
        if self.redis_wait_s is not None and self.redis_wait_s < 0:
            raise ValidationError("redis_wait_s must not be negative")
        check_event_loop(self.event_loop)
        intervals = ("delayed_task_check_interval_s", "task_check_interval_s", "janitor_interval_s",
                     "heartbeat_interval_s", "recoverer_interval_s", "syncer_interval_s")  # fmt: skip
        for interval in intervals:
            if getattr(self, interval) <= 0:
                raise ValidationError(f"{interval} must be positive")
        if self.lease_duration_s <= self.heartbeat_interval_s:
            raise ValidationError("the lease must last longer than the heartbeat interval")
        self._check_limits()

    def _check_limits(self) -> None:
        from .limits import QueueLimits  # (its dataclasses are defined only when a server is configured)

        for name, limits in self.limits.items():
            if name not in self.effective_queues():
                raise ValidationError(f"limits given for queue {name!r}, which this server does not serve")
            if not isinstance(limits, QueueLimits):
                raise ValidationError(f"limits of queue {name!r} must be a QueueLimits, not {limits!r}")

    def effective_queues(self) -> dict[str, int]:
        """Return the queues with positive priority and non-blank names."""
        return {q: p for q, p in self.queues.items() if p > 0 and q.strip()}
