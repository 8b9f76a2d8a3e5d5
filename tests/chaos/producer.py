"""A producer program for scenarios that must run it elsewhere (inside a network namespace).

Run it as ``python -m chaos.producer --redis URL --queue Q --ledger-dir DIR --seconds S [--rate N]
[--durability replicated --replication-timeout T]`` with ``tests`` on ``PYTHONPATH``. It enqueues
``aok`` tasks (``harness.KINDS``) at ``rate`` per second for ``seconds``, recording each in
``DIR/producer-<name>.log`` (``ledger.ProducerLedger``), and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from asynq_py.engine import Client

from .harness import Workload
from .ledger import ProducerLedger


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and produce until the time is up."""
    parser = argparse.ArgumentParser(description="chaos scenario producer (ledgered enqueues)")
    parser.add_argument("--redis", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--ledger-dir", required=True, type=Path)
    parser.add_argument("--name", default="ns")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--durability", choices=("async", "replicated"), default="async")
    parser.add_argument("--replication-timeout", type=float, default=0.5)
    args = parser.parse_args(argv)
    client = Client(args.redis, durability=args.durability, replication_timeout_s=args.replication_timeout)
    ledger = ProducerLedger(args.ledger_dir, args.name)
    workload = Workload(client, ledger, args.queue)
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        workload.enqueue("aok")
        time.sleep(1.0 / args.rate)
    client.close()
    ledger.close()
    print(f"acked {workload.acked} failed {workload.failed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
