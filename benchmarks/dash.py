"""How fast the dashboard opens and answers with 100 queues and 100,000 tasks (issue 5).

    .venv/bin/python benchmarks/dash.py [--tasks N] [--smoke]

Seeds a fresh valkey-server with 99 small queues and one of N pending tasks, then drives the
Textual app headless (``run_test``) and prints: time to show every queue, time per task page,
time to find a task by exact id through the filter, and the longest stall of the event loop
while the biggest fetches run.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.widgets import DataTable

from asynq_py.engine import AsyncInspector, Client, Task
from asynq_py.engine.embedded import server_binary
from asynq_py.tui import DashboardApp

QUEUES = 100
SIZE = (150, 45)


def keys(app: DashboardApp, selector: str) -> list[str]:
    try:
        table = app.screen.query_one(selector, DataTable)
    except Exception:  # the screen is not built yet
        return []
    return [str(row.key.value) for row in table.ordered_rows]


async def wait(pilot: Any, condition: Callable[[], object], timeout: float = 60.0) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"timed out waiting for {condition}")
        await pilot.pause(0.01)
    return time.monotonic() - started


async def measure(url: str, n: int) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    inspector = AsyncInspector(url)
    lags: list[float] = []

    async def probe() -> None:
        loop = asyncio.get_running_loop()
        while True:
            t = loop.time()
            await asyncio.sleep(0.005)
            lags.append(loop.time() - t - 0.005)

    try:
        started = time.monotonic()
        app = DashboardApp(inspector, refresh_s=30)
        async with app.run_test(size=SIZE) as pilot:
            await wait(pilot, lambda: len(keys(app, "#queues")) == QUEUES)
            rows.append(
                (f"queues screen with {QUEUES} queues", f"{(time.monotonic() - started) * 1000:.0f} ms")
            )
            prober = asyncio.create_task(probe())
            t0 = time.monotonic()
            await pilot.press("enter")
            await wait(pilot, lambda: len(keys(app, "#tasks")) == 50)
            rows.append(
                (f"open the queue of {n:,} tasks (Enter)", f"{(time.monotonic() - t0) * 1000:.0f} ms")
            )
            pages = []
            for page in range(2, 7):
                t0 = time.monotonic()
                await pilot.press("n")
                first = f"big-{(page - 1) * 50:06d}"
                await wait(pilot, lambda f=first: keys(app, "#tasks")[:1] == [f])
                pages.append(time.monotonic() - t0)
            rows.append(("next page (mean of 5)", f"{sum(pages) / len(pages) * 1000:.0f} ms"))
            t0 = time.monotonic()
            last = f"big-{n - 1:06d}"
            await pilot.press("slash", *last)
            await wait(pilot, lambda: keys(app, "#tasks") == [last])
            rows.append(("filter to an exact id", f"{(time.monotonic() - t0) * 1000:.0f} ms"))
            prober.cancel()
        rows.append(("longest event-loop stall while fetching", f"{max(lags) * 1000:.0f} ms"))
    finally:
        await inspector.aclose()
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", type=int, default=100_000)
    p.add_argument("--smoke", action="store_true", help="1,000 tasks, to check that the script runs")
    args = p.parse_args()
    n = 1_000 if args.smoke else args.tasks
    with tempfile.TemporaryDirectory() as tmp:
        sock = Path(tmp) / "r.sock"
        server = subprocess.Popen(
            [
                str(server_binary()),
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        try:
            url = f"redis-socket://{sock}"
            deadline = time.monotonic() + 10
            while not sock.exists():
                if time.monotonic() > deadline:
                    raise TimeoutError("valkey-server did not start")
                time.sleep(0.02)
            time.sleep(0.1)
            with Client(url) as client:
                for q in range(QUEUES - 1):
                    client.enqueue_many([Task("small", {}) for _ in range(5)], queue=f"q{q:03d}")
                for start in range(0, n, 1000):
                    client.enqueue_many(
                        [
                            Task("bulk:item", {"n": 1}, task_id=f"big-{i:06d}")
                            for i in range(start, min(n, start + 1000))
                        ],
                        queue="big",
                    )
            rows = asyncio.run(measure(url, n))
        finally:
            server.terminate()
            server.wait(10)
    width = max(len(label) for label, _ in rows)
    print(f"asynq-py dashboard benchmark: {QUEUES} queues, {n:,} tasks in one, terminal {SIZE[0]}x{SIZE[1]}")
    for label, value in rows:
        print(f"  {label:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
