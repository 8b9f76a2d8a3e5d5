"""Runs one Python peer for the benchmark orchestrator (benchmarks/run.py).

    python driver.py PEER info
    python driver.py PEER enqueue --url URL --mode single|bulk|latency --n N [--interval S] [--key K]
    python driver.py PEER worker --url URL [--processes P]

PEER names a module ``peer_<PEER>`` beside this file (``asynqpy``, ``asynqpydef``, ``rq``, ``arq``, ``saq``,
``dramatiq``, ``celery``, ``huey``). Each such module provides:

* ``info() -> dict``: ``versions`` (name -> version), ``bulk`` (how it enqueues in bulk, or
  None), ``multi`` (``"native"`` when one worker command runs several processes, ``"spawn"``
  when the orchestrator starts one command per process) and ``config`` (``{"1": ..., "2": ...}``,
  the worker configuration for one and for two processes, in words).
* ``enqueue(mode, n, interval, key) -> float``: enqueues and returns the seconds the enqueue
  calls took (for ``latency`` the value is not used).
* ``worker(processes) -> None``: runs the worker until SIGTERM/SIGINT (it may exec a CLI).

``enqueue`` prints ``{"seconds": ..., "count": ...}`` and ``info`` prints the info, as one line of
JSON on standard output. The Redis URL reaches the peer module as ``BENCH_REDIS_URL``, set before
it is imported, since some peers (Dramatiq, Celery) build their broker at import time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

from benchcommon import Unavailable

PEERS = ("asynqpy", "asynqpydef", "rq", "arq", "saq", "dramatiq", "celery", "huey")

EXIT_UNAVAILABLE = 3
"""Exit status when the peer cannot run this command here (e.g. asynq-py without its Server yet)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("peer", choices=PEERS)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("info")
    enq = sub.add_parser("enqueue")
    enq.add_argument("--url", required=True)
    enq.add_argument("--mode", choices=("single", "bulk", "latency"), required=True)
    enq.add_argument("--n", type=int, required=True)
    enq.add_argument("--interval", type=float, default=0.02)
    enq.add_argument("--key", default="bench:lat")
    wrk = sub.add_parser("worker")
    wrk.add_argument("--url", required=True)
    wrk.add_argument("--processes", type=int, default=1)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if getattr(args, "url", None):
        os.environ["BENCH_REDIS_URL"] = args.url
    else:
        os.environ.setdefault("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        module = importlib.import_module(f"peer_{args.peer}")
        if args.command == "info":
            print(json.dumps(module.info()), flush=True)
        elif args.command == "enqueue":
            seconds = module.enqueue(args.mode, args.n, args.interval, args.key)
            print(json.dumps({"seconds": seconds, "count": args.n}), flush=True)
        else:
            module.worker(args.processes)
    except Unavailable as exc:
        print(f"{args.peer}: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNAVAILABLE
    return 0


if __name__ == "__main__":
    sys.exit(main())
