"""``Server``: runs handlers for the tasks of its queues until shut down (docs/wire.md §5).

It wires the processor and the background loops (heartbeat thread, forwarder, recoverer, janitor,
aggregator, subscriber, health check) and owns the lifecycle: ``run`` blocks and handles
SIGTERM/SIGINT (shut down) and SIGTSTP (stop fetching); ``start``/``stop``/``shutdown`` drive it
from another thread; ``run_async``/``start_async``/``shutdown_async`` for applications that own
the event loop.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from . import rdb, rdb_inspect
from .aggregator import Aggregator
from .broker import AsyncBroker, Broker
from .calls import Command
from .client import AsyncClient
from .clock import Clock, RealClock
from .config import RedisConnOpt, ServerConfig
from .errors import AsynqError, LifecycleError, RedisAuthError, RedisUnavailableError, ValidationError
from .eventloop import loop_factory
from .eventloop import run as run_on_loop
from .forwarder import Forwarder
from .heartbeat import Heartbeater, ServerIdentity
from .janitor import Janitor
from .mux import Handler, HandlerFunc, ServeMux, handler_function
from .periodic import run_periodically
from .processor import Processor, Registry
from .recoverer import Recoverer
from .settings import default_conn_opt
from .subscriber import Subscriber

if TYPE_CHECKING:
    from .supervisor import Supervisor

__all__ = ["MAX_CLOCK_SKEW_S", "REDIS_RETRY_FIRST_S", "REDIS_RETRY_MAX_S", "Server", "redis_warnings"]

MAX_CLOCK_SKEW_S = 5.0
"""A server logs a warning at start when its clock differs from Redis's by more than this."""
REDIS_RETRY_FIRST_S = 0.5
"""How long a starting server waits before it tries an unreachable Redis again; doubled each time."""
REDIS_RETRY_MAX_S = 10.0
"""The longest wait between two tries, so a log line comes at most this often while Redis is down."""


def _run_one_worker(
    redis: str | RedisConnOpt, config: ServerConfig, handler: Handler | HandlerFunc | ServeMux
) -> None:
    """Run one supervised worker process: a ``Server`` of one process (the ``Supervisor``'s callable)."""
    Server(redis, replace(config, processes=1)).run(handler)


def _resolver(handler: Handler | HandlerFunc | ServeMux) -> Callable[[str], HandlerFunc]:
    if isinstance(handler, ServeMux):
        return handler.resolve
    fn = handler_function(handler)
    return lambda task_type: fn


class Server:
    """Processes tasks from Redis with Go asynq's semantics.

    Args:
        redis: A Redis URL or ``RedisConnOpt`` (the server opens its own connections).
        config: How to run (default ``ServerConfig()``).
        clock: Time source (default the system clock).
    """

    def __init__(
        self,
        redis: str | RedisConnOpt | None = None,
        config: ServerConfig | None = None,
        *,
        clock: Clock | None = None,
    ) -> None:
        if redis is None:  # resolved as the asynq-py command line resolves it
            redis = default_conn_opt()
        if not isinstance(redis, str | RedisConnOpt):
            raise ValidationError("Server needs a Redis URL or RedisConnOpt: it opens its own connections")
        self._redis = redis
        self.config = config or ServerConfig()
        """The configuration."""
        self._clock = clock or RealClock()
        self._log = self.config.logger or logging.getLogger("asynq_py")
        if self.config.log_level is not None:
            self._log.setLevel(self.config.log_level)
        self._status = "new"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._processor: Processor | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._failure: BaseException | None = None
        self._supervisor: Supervisor | None = None
        self.identity = ServerIdentity(
            host=socket.gethostname() or "unknown-host",
            pid=os.getpid(),
            server_id=str(uuid.uuid4()),
            concurrency=self.config.concurrency,
            queues=self.config.effective_queues(),
            strict_priority=self.config.strict_priority,
            started=self._clock.now(),
        )
        """Host, pid and id under which this server appears in the heartbeats."""

    @property
    def status(self) -> str:
        """``new``, ``active``, ``stopped`` (fetching nothing) or ``closed``."""
        return self._status

    def alive(self, timeout_s: float = 5.0) -> bool:
        """Whether the server's event loop (with ``processes > 1``: its supervisor) still turns.

        Thread-safe; meant for liveness probes. False before the server started.
        """
        if self._supervisor is not None:
            return self._supervisor.alive(timeout_s)
        loop = self._loop
        if loop is None or loop.is_closed() or self._status == "closed":
            return False
        answered = threading.Event()
        try:
            loop.call_soon_threadsafe(answered.set)
        except RuntimeError:  # the loop closed meanwhile
            return False
        return answered.wait(timeout_s)

    def worker_pids(self) -> list[int]:
        """The pids of the processes serving now: this one while it runs, or the supervised children."""
        if self._supervisor is not None:
            return self._supervisor.pids()
        return [self.identity.pid] if self._status in ("active", "stopped") else []

    # Blocking API ---------------------------------------------------------------------------

    def run(self, handler: Handler | HandlerFunc | ServeMux) -> None:
        """Run until SIGTERM or SIGINT, then shut down gracefully; SIGTSTP stops fetching.

        With ``config.processes > 1`` this process supervises that many worker processes. The event
        loop is ``config.event_loop``'s.

        Raises:
            ValidationError: ``config.event_loop`` is ``uvloop`` and uvloop is not installed.
        """
        factory = loop_factory(self.config.event_loop)  # fails here, not in each worker process
        if self.config.processes > 1:
            from .supervisor import Supervisor

            worker = functools.partial(_run_one_worker, self._redis, self.config, handler)
            self._supervisor = Supervisor(self.config, worker)
            self._supervisor.run()
            return
        run_on_loop(self._run_with_signals(handler), factory)

    def start(self, handler: Handler | HandlerFunc | ServeMux, timeout_s: float = 10.0) -> None:
        """Start processing on a background thread and return once it runs.

        Raises ``LifecycleError`` if started twice or not running within ``timeout_s``, and
        ``ValidationError`` if ``config.event_loop`` is ``uvloop`` and uvloop is not installed; if
        Redis is not reachable yet, the server keeps waiting for it meanwhile (see ``redis_wait_s``)
        until ``shutdown``."""
        if self._thread is not None:
            raise LifecycleError("the server was already started")
        factory = loop_factory(self.config.event_loop)
        self._thread = threading.Thread(
            target=self._thread_main, args=(handler, factory), name="asynq-server", daemon=True
        )
        self._thread.start()
        if not self._started.wait(timeout_s):
            raise LifecycleError("the server did not start in time")
        if self._failure is not None:
            raise self._failure

    def _thread_main(
        self,
        handler: Handler | HandlerFunc | ServeMux,
        factory: Callable[[], asyncio.AbstractEventLoop] | None,
    ) -> None:
        try:
            run_on_loop(self._main(handler, asyncio.Event()), factory)
        except BaseException as exc:  # reported to start(), or logged if it happens later
            if not self._started.is_set():
                self._failure = exc
                self._started.set()
            else:
                self._log.exception("the server stopped with an error")

    def stop(self) -> None:
        """Stop taking new tasks; running ones finish (Go's Stop)."""
        if self._loop is not None and self._processor is not None:
            self._loop.call_soon_threadsafe(self._stop_fetching)

    def shutdown(self) -> None:
        """Stop fetching, wait up to the shutdown timeout, requeue what still runs, and return."""
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(self.config.shutdown_timeout_s + 30)

    # Asyncio API ----------------------------------------------------------------------------

    async def run_async(self, handler: Handler | HandlerFunc | ServeMux) -> None:
        """Run on the current event loop until ``shutdown_async`` (no signal handling)."""
        await self._main(handler, asyncio.Event())

    async def start_async(self, handler: Handler | HandlerFunc | ServeMux) -> asyncio.Task[None]:
        """Start on the current event loop; return the task that runs the server."""
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        task = loop.create_task(self._main(handler, asyncio.Event(), ready))
        ready_wait = loop.create_task(ready.wait())
        try:
            await asyncio.wait({task, ready_wait}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready_wait.cancel()
        if task.done():
            task.result()  # raises what stopped it
        return task

    async def stop_async(self) -> None:
        """Stop taking new tasks (from the server's own event loop)."""
        self._stop_fetching()

    async def shutdown_async(self) -> None:
        """Ask the server running on this loop to shut down."""
        if self._stopping is not None:
            self._stopping.set()

    # Internals ------------------------------------------------------------------------------

    def _stop_fetching(self) -> None:
        if self._processor is not None and self._status == "active":
            self._processor.stop_fetching()
            self._status = "stopped"
            self._log.info("stopped fetching new tasks")

    async def _run_with_signals(self, handler: Handler | HandlerFunc | ServeMux) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stopping.set)
        loop.add_signal_handler(signal.SIGINT, stopping.set)
        loop.add_signal_handler(signal.SIGTSTP, self._stop_fetching)
        await self._main(handler, stopping)

    async def _main(
        self,
        handler: Handler | HandlerFunc | ServeMux,
        stopping: asyncio.Event,
        ready: asyncio.Event | None = None,
    ) -> None:
        """Serve until ``stopping`` is set; set ``ready`` (and ``_started``) once serving."""
        cfg = self.config
        queues = sorted(cfg.effective_queues())
        self._loop = asyncio.get_running_loop()
        self._stopping = stopping
        broker = AsyncBroker(self._redis)
        sync_broker = Broker(self._redis)
        registry = Registry()
        try:
            if not await self._await_redis(broker, stopping):
                await broker.aclose()
                sync_broker.close()
                self._status = "closed"
                self._log.info("shut down before Redis answered")
                return
            for warning in redis_warnings(await broker.run(rdb_inspect.redis_info())):
                self._log.warning("%s", warning)
            for queue, limits in sorted(cfg.limits.items()):
                if await broker.run(rdb.seed_limits(queue, limits)):
                    self._log.info("queue %r: limits from the configuration written to Redis", queue)
            skew = self._clock.now() - await broker.run(rdb.server_time())
            if abs(skew) > MAX_CLOCK_SKEW_S:
                self._log.warning(
                    "this machine's clock is %+.1fs off the Redis server's; leases and schedules use "
                    "each process's own clock, so skews near the %gs recovery cutoff cause early recoveries",
                    skew,
                    cfg.recoverer_cutoff_s,
                )
        except AsynqError:
            await broker.aclose()
            sync_broker.close()
            raise
        processor = Processor(broker, sync_broker, cfg, _resolver(handler), self._clock, registry, self._log)
        self._processor = processor
        heartbeat = Heartbeater(
            sync_broker, self.identity, registry, self._clock, lambda: self._status,
            cfg.heartbeat_interval_s, cfg.lease_duration_s, self._log, cfg.observer,
        )  # fmt: skip
        subscriber = Subscriber(
            broker, queues, lambda task_id: _cancel(registry, task_id), processor.wake,
            processor.queue_task_ended, self._log, wakes=not processor.blocking,
        )  # fmt: skip
        processor.on_polling = subscriber.listen_for_wakes
        client = AsyncClient(self._redis, clock=self._clock)
        stop_loops = asyncio.Event()
        loops: list[Coroutine[Any, Any, None]] = [
            subscriber.run(stop_loops),
            run_periodically("forwarder", Forwarder(broker, queues, self._clock).step,
                             cfg.delayed_task_check_interval_s, stop_loops, self._log),
            run_periodically("recoverer", Recoverer(broker, cfg, self._clock, registry, self._log).step,
                             cfg.recoverer_interval_s, stop_loops, self._log),
            run_periodically("janitor", Janitor(broker, queues, self._clock, cfg.janitor_batch_size).step,
                             cfg.janitor_interval_s, stop_loops, self._log, first_now=False),
        ]  # fmt: skip
        if cfg.group_aggregator is not None:
            aggregator = Aggregator(broker, client, cfg, cfg.group_aggregator, self._clock, self._log)
            interval = min(7.0, cfg.group_grace_period_s)
            loops.append(run_periodically("aggregator", aggregator.step, interval, stop_loops, self._log))
        if cfg.health_check_func is not None:
            loops.append(
                run_periodically("healthcheck", _health_step(broker, cfg.health_check_func),
                                 cfg.health_check_interval_s, stop_loops, self._log)
            )  # fmt: skip
        self._status = "active"
        heartbeat.start()
        # Started means visible: `servers --check` and the Inspector see this server once start() returns.
        # (At most one interval: a beat that fails is logged and retried by the thread.)
        await asyncio.to_thread(heartbeat.first_beat.wait, cfg.heartbeat_interval_s)
        background = [asyncio.get_running_loop().create_task(c) for c in loops]
        fetcher = asyncio.get_running_loop().create_task(processor.fetch_loop())
        self._log.info(
            "asynq-py server %s started: queues %s, concurrency %d, event loop %s",
            self.identity.server_id,
            cfg.effective_queues(),
            cfg.concurrency,
            type(asyncio.get_running_loop()).__module__.partition(".")[0],
        )
        if cfg.observer is not None:
            cfg.observer.serving(cfg.concurrency)
        self._started.set()
        if ready is not None:
            ready.set()
        try:
            await stopping.wait()
        finally:
            self._log.info("shutting down")
            self._stop_fetching()
            processor.stop_fetching()
            await fetcher
            await processor.drain(cfg.shutdown_timeout_s)
            stop_loops.set()
            await asyncio.gather(*background, return_exceptions=True)
            self._status = "closed"
            heartbeat.stop()
            await asyncio.to_thread(heartbeat.join, 10.0)
            await client.aclose()
            await broker.aclose()
            sync_broker.close()
            if cfg.observer is not None:
                cfg.observer.serving(0)
            self._log.info("shut down")

    async def _await_redis(self, broker: AsyncBroker, stopping: asyncio.Event) -> bool:
        """Wait until Redis answers, retrying with backoff; return False if shut down meanwhile.

        Raises:
            RedisUnavailableError: Redis did not answer within ``config.redis_wait_s``.
        """
        limit = self.config.redis_wait_s
        started = time.monotonic()
        delay = REDIS_RETRY_FIRST_S
        attempt = 0
        while True:
            attempt += 1
            try:
                await broker.execute(Command(("PING",)))
            except RedisAuthError:
                raise  # wrong credentials stay wrong: fail fast, as for any configuration error
            except RedisUnavailableError as exc:
                left = None if limit is None else limit - (time.monotonic() - started)
                if left is not None and left <= 0:
                    raise RedisUnavailableError(
                        f"{exc} (gave up after {attempt} attempts in {limit:g}s)"
                    ) from exc
                wait = delay if left is None else min(delay, left)
                self._log.warning("%s; attempt %d, trying again in %.1fs", exc, attempt, wait)
                try:
                    await asyncio.wait_for(stopping.wait(), wait)
                except TimeoutError:
                    delay = min(delay * 2, REDIS_RETRY_MAX_S)
                    continue
                return False
            if attempt > 1:
                self._log.info("Redis answered after %d attempts", attempt)
            return True


def redis_warnings(info: dict[str, str]) -> list[str]:
    """Return the warnings a server logs once at start about how Redis is configured (spec S13)."""
    warnings = []
    policy = info.get("maxmemory_policy", "noeviction")
    if policy != "noeviction":
        warnings.append(
            f"Redis maxmemory-policy is {policy!r}: under memory pressure it may evict tasks; use noeviction"
        )
    version = info.get("redis_version", "0")
    try:
        major, minor = (int(part) for part in version.split(".")[:2])
    except ValueError:
        major, minor = 0, 0
    if (major, minor) < (6, 2):
        warnings.append(f"Redis {version} is older than 6.2, which asynq's scripts need (ZRANGE BYSCORE)")
    return warnings


def _cancel(registry: Registry, task_id: str) -> None:
    run = registry.get(task_id)
    if run is not None:
        run.stop("cancel")


def _health_step(
    broker: AsyncBroker, check: Callable[[BaseException | None], None]
) -> Callable[[], Coroutine[Any, Any, None]]:
    async def step() -> None:
        try:
            await broker.execute(Command(("PING",)))
        except AsynqError as exc:
            check(exc)
        else:
            check(None)

    return step
