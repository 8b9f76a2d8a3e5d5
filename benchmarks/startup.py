"""How fast the ``asynq-py`` command answers: medians of real processes, against ``python -c pass``.

    .venv/bin/python benchmarks/startup.py [--runs 20] [--smoke]

Starts a fresh valkey-server on a Unix socket (seeded with 20 pending tasks), then runs each case
``--runs`` times, round-robin so that a busy moment of a shared machine slows every case alike,
and prints each case's median and its ratio to the median of ``python -c pass`` (the same
interpreter, started the same way, in the same run). Targets are absolute milliseconds; the
ratio says how much of a figure is the machine and how much is asynq-py. The median CPU time
(user + system) of each case is printed too: on a busy shared machine a process waits for a core
far longer than it computes, and its CPU time stays close to what it takes on an idle one.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asynq_py.engine import Client, Task
from asynq_py.engine.embedded import server_binary

BIN = Path(sys.executable).parent
ASYNQ_PY = str(BIN / "asynq-py")

CASES: tuple[tuple[str, list[str], dict[str, str], float | None], ...] = (
    ("python -c pass", [sys.executable, "-c", "pass"], {}, None),
    ("asynq-py --version", [ASYNQ_PY, "--version"], {}, 120.0),
    ("asynq-py ls pending", [ASYNQ_PY, "ls", "pending"], {}, 250.0),
    ("asynq-py enqueue", [ASYNQ_PY, "enqueue", "bench:startup", "--payload", '{"n":1}'], {}, 250.0),
    (
        "complete a subcommand",
        [ASYNQ_PY],
        {"_ASYNQ_PY_COMPLETE": "complete_bash", "COMP_WORDS": "asynq-py l", "COMP_CWORD": "1"},
        150.0,
    ),
)
"""Label, command, extra environment, target in ms (None for the baseline)."""


def start_server(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    sock = folder / "r.sock"
    args = [str(server_binary()), "--port", "0", "--unixsocket", str(sock)]
    args += ["--save", "", "--appendonly", "no"]
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not sock.exists():
        if time.monotonic() > deadline:
            server.kill()
            raise TimeoutError("valkey-server did not start")
        time.sleep(0.02)
    time.sleep(0.1)
    return server, f"redis-socket://{sock}"


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def time_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Run ``argv`` once; return its wall time and its CPU time (user + system), in ms."""
    cpu = _cpu_s()
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, timeout=60, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{argv} exited {done.returncode}: {done.stderr.decode(errors='replace')[-500:]}")
    return elapsed * 1000, (_cpu_s() - cpu) * 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=20, help="runs of each case (default 20)")
    p.add_argument("--smoke", action="store_true", help="3 runs, to check that the script runs")
    args = p.parse_args()
    runs = 3 if args.smoke else args.runs
    with tempfile.TemporaryDirectory(prefix="aqstart") as tmp:
        server, url = start_server(Path(tmp))
        try:
            with Client(url) as client:
                client.enqueue_many([Task("bench:seed", {"i": i}) for i in range(20)])
            # A real install has byte-code caches: let the warm-up runs write them.
            skip = ("ASYNQ_", "_ASYNQ", "PYTHONDONTWRITEBYTECODE")
            base = {k: v for k, v in os.environ.items() if not k.startswith(skip)}
            base |= {"ASYNQ_REDIS_URL": url, "XDG_CONFIG_HOME": tmp, "NO_COLOR": "1", "COLUMNS": "120"}
            for _, argv, extra, _ in CASES:  # warm the byte-code caches and the page cache
                time_once(argv, base | extra)
            samples: dict[str, list[tuple[float, float]]] = {label: [] for label, *_ in CASES}
            for _ in range(runs):
                for label, argv, extra, _ in CASES:
                    samples[label].append(time_once(argv, base | extra))
        finally:
            server.terminate()
            server.wait(10)
    baseline = statistics.median(wall for wall, _ in samples[CASES[0][0]])
    load = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"asynq-py startup: median of {runs} runs per case, {os.cpu_count()} CPUs, load average {load}")
    print(f"  {'case':<24}{'median':>10}{'ratio':>8}{'cpu':>9}{'target':>10}")
    for label, _, _, target in CASES:
        median = statistics.median(wall for wall, _ in samples[label])
        cpu = statistics.median(cpu for _, cpu in samples[label])
        verdict = ""
        if target is not None:
            ok = median <= target
            verdict = f"{target:>7.0f} ms {'ok' if ok else 'MISSED'}"
        print(f"  {label:<24}{median:>7.0f} ms{median / baseline:>7.1f}x{cpu:>6.0f} ms  {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
