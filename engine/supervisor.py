"""Several worker processes under one parent: forwards signals, restarts children that die.

Each child runs the callable it is given; ``Server`` passes one that runs a one-process server with
its own heartbeat, so ``servers`` lists every child. Children are forked, so the callable needs no
import path; CPU-bound ``def`` handlers get a GIL each. A child whose supervisor dies (even by
SIGKILL) shuts down gracefully; a child that gives up waiting for Redis (``redis_wait_s``) stops
the whole group.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess

from .config import ServerConfig
from .errors import RedisUnavailableError

__all__ = ["Supervisor"]

RESTART_BACKOFF_S = 1.0
"""Least time between two restarts of the same child slot."""
PARENT_CHECK_S = 0.25
"""How often a child checks that its supervisor still lives."""
GAVE_UP_EXIT = 75
"""Exit code of a child that gave up waiting for Redis (``redis_wait_s``): the group stops."""


def _watch_parent(parent: int, log: logging.Logger) -> None:
    """Shut this child down gracefully (SIGTERM to itself) once its supervisor ``parent`` is gone.

    A SIGKILLed supervisor cannot forward anything; its children are then adopted by another
    process, which ``getppid`` shows. (``PR_SET_PDEATHSIG`` would only kill them abruptly.)
    """
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_S)
    log.warning("the supervisor (pid %d) is gone; shutting down", parent)
    os.kill(os.getpid(), signal.SIGTERM)


def _child(run_worker: Callable[[], None], log: logging.Logger, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent forwards SIGTERM instead
    threading.Thread(target=_watch_parent, args=(parent, log), name="asynq-parent-watch", daemon=True).start()
    try:
        run_worker()
    except RedisUnavailableError as exc:
        log.error("%s", exc)
        sys.exit(GAVE_UP_EXIT)


class Supervisor:
    """Keeps ``config.processes`` children running ``run_worker`` until SIGTERM or SIGINT.

    ``run_worker`` runs one worker in a child process and returns when that worker shut down;
    raising ``RedisUnavailableError`` means it gave up waiting for Redis, which stops the group.
    """

    def __init__(self, config: ServerConfig, run_worker: Callable[[], None]) -> None:
        self._config = config
        self._run_worker = run_worker
        self._log = config.logger or logging.getLogger("asynq_py")
        self._ctx = multiprocessing.get_context("fork")
        self._children: list[BaseProcess | None] = [None] * config.processes
        self._started_at = [0.0] * config.processes
        self._stopping = False
        self._tick = time.monotonic()

    def _spawn(self, slot: int) -> None:
        proc = self._ctx.Process(
            target=_child,
            args=(self._run_worker, self._log, os.getpid()),
            name=f"asynq-worker-{slot}",
        )
        proc.start()
        self._children[slot] = proc
        self._started_at[slot] = time.monotonic()
        self._log.info("worker %d started (pid %s)", slot, proc.pid)

    def _forward(self, signum: int, _frame: object) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            self._stopping = True
        for proc in self._children:
            if proc is not None and proc.pid is not None and proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM if signum == signal.SIGINT else signum)

    def alive(self, max_age_s: float = 5.0) -> bool:
        """Whether the supervising loop went round within ``max_age_s`` (thread-safe)."""
        return time.monotonic() - self._tick < max_age_s

    def pids(self) -> list[int]:
        """The pids of the children now running (thread-safe)."""
        return [p.pid for p in list(self._children) if p is not None and p.pid is not None and p.is_alive()]

    def run(self) -> None:
        """Start the children and supervise them until shut down; return when all have exited.

        Raises:
            RedisUnavailableError: a child gave up waiting for Redis (``redis_wait_s``).
        """
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGTSTP):
            signal.signal(signum, self._forward)
        for slot in range(len(self._children)):
            self._spawn(slot)
        gave_up = False
        while not self._stopping:
            time.sleep(0.2)
            self._tick = time.monotonic()
            for slot, proc in enumerate(self._children):
                if proc is not None and proc.exitcode == GAVE_UP_EXIT:
                    self._log.error("worker %d gave up waiting for Redis; stopping every worker", slot)
                    self._forward(signal.SIGTERM, None)
                    gave_up = True
                    break
                if proc is not None and not proc.is_alive() and not self._stopping:
                    self._log.warning(
                        "worker %d (pid %s) exited with %s; restarting", slot, proc.pid, proc.exitcode
                    )
                    if time.monotonic() - self._started_at[slot] < RESTART_BACKOFF_S:
                        time.sleep(RESTART_BACKOFF_S)
                    self._spawn(slot)
        deadline = time.monotonic() + self._config.shutdown_timeout_s + 15
        for proc in self._children:
            if proc is not None:
                proc.join(max(0.1, deadline - time.monotonic()))
                if proc.is_alive():
                    proc.kill()
                    proc.join(5)
        if gave_up:
            raise RedisUnavailableError(f"Redis did not answer within {self._config.redis_wait_s:g}s")
