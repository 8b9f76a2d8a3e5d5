"""What ``durability="replicated"`` costs per enqueue, against the default, in one run.

    .venv/bin/python benchmarks/replicated.py [--tasks N] [--rounds R]

Starts a master and one replica (valkey-server on loopback, diskless sync) and measures, in R
interleaved rounds of N tasks each:

* ``Client.enqueue`` one by one, ``async`` (the master's reply) and ``replicated`` (plus WAIT 1);
* ``AsyncClient.enqueue`` from 100 concurrent coroutines, both modes;
* ``Client.enqueue_many`` of 1,000 tasks a call (one WAIT per call), both modes;
* the same with the master started with ``min-replicas-to-write 1`` (Redis's own guard).

Prints the median per-enqueue latency (µs) and throughput, and the replicated/async ratio taken
within each round. On loopback the replica acknowledges within one replication round trip, so
the figure is the floor of the cost; across a network, add the round trip to the replica.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis

from asynq_py.engine import AsyncClient, Client, Task
from asynq_py.engine.embedded import server_binary


class Node:
    """A valkey-server on a free loopback port."""

    def __init__(self, workdir: Path, extra: tuple[str, ...]) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        workdir.mkdir(parents=True)
        args = [str(server_binary()), "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(workdir),
                "--save", "", "--appendonly", "no", "--repl-diskless-sync", "yes",
                "--repl-diskless-sync-delay", "0", *extra]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def wait(self, check: Callable[[redis.Redis], bool], what: str) -> None:
        r = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        try:
            deadline = time.monotonic() + 15
            while True:
                try:
                    if check(r):
                        return
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"{what} did not happen")
                time.sleep(0.05)
        finally:
            r.close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start_pair(workdir: Path, extra: tuple[str, ...] = ()) -> tuple[Node, Node]:
    master = Node(workdir / "master", extra)
    master.wait(lambda r: bool(r.ping()), "the master's start")
    replica = Node(workdir / "replica", ("--replicaof", "127.0.0.1", str(master.port)))
    replica.wait(lambda r: r.info("replication").get("master_link_status") == "up", "the replica's sync")
    return master, replica


def sync_one_by_one(url: str, n: int, **mode: object) -> float:
    with Client(url, **mode) as client:  # type: ignore[arg-type]
        client.enqueue(Task("warm", b""), queue="bench")
        t0 = time.perf_counter()
        for _ in range(n):
            client.enqueue(Task("t", b"x" * 100), queue="bench")
        return time.perf_counter() - t0


def async_concurrent(url: str, n: int, **mode: object) -> float:
    async def go() -> float:
        async with AsyncClient(url, **mode) as client:  # type: ignore[arg-type]
            await client.enqueue(Task("warm", b""), queue="bench")
            sem = asyncio.Semaphore(100)

            async def one() -> None:
                async with sem:
                    await client.enqueue(Task("t", b"x" * 100), queue="bench")

            t0 = time.perf_counter()
            await asyncio.gather(*(one() for _ in range(n)))
            return time.perf_counter() - t0

    return asyncio.run(go())


def batches(url: str, n: int, **mode: object) -> float:
    with Client(url, **mode) as client:  # type: ignore[arg-type]
        t0 = time.perf_counter()
        for start in range(0, n, 1000):
            results = client.enqueue_many(
                [Task("t", b"x" * 100) for _ in range(min(1000, n - start))], queue="bench"
            )
            assert not [r for r in results if isinstance(r, Exception)]
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print(f"server: {server_binary()}; {args.tasks} tasks x {args.rounds} rounds")
    shapes: list[tuple[str, Callable[..., float]]] = [
        ("Client.enqueue, one by one", sync_one_by_one),
        ("AsyncClient.enqueue, 100 concurrent", async_concurrent),
        ("Client.enqueue_many, 1,000 a call", batches),
    ]
    replicated = {"durability": "replicated", "min_replicas": 1, "replication_timeout_s": 1.0}
    with tempfile.TemporaryDirectory() as tmp:
        for label, extra in (("", ()), (" [min-replicas-to-write 1]", ("--min-replicas-to-write", "1"))):
            master, replica = start_pair(Path(tmp) / f"pair{len(extra)}", extra)
            flush = redis.Redis(port=master.port)
            try:
                for name, fn in shapes:
                    plain, waited, ratios = [], [], []
                    for _ in range(args.rounds):
                        a = fn(master.url, args.tasks)
                        b = fn(master.url, args.tasks, **replicated)
                        plain.append(a)
                        waited.append(b)
                        ratios.append(b / a)
                        flush.flushall()
                    a, b = statistics.median(plain), statistics.median(waited)
                    print(
                        f"{name}{label}: async {a / args.tasks * 1e6:.0f} µs/task ({args.tasks / a:,.0f}/s), "
                        f"replicated {b / args.tasks * 1e6:.0f} µs/task ({args.tasks / b:,.0f}/s), "
                        f"ratio {statistics.median(ratios):.2f}x"
                    )
            finally:
                flush.close()
                replica.stop()
                master.stop()


if __name__ == "__main__":
    main()
