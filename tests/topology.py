"""Real Redis topologies for fault tests, started from the embedded server binary (no Docker).

- ``Cluster``: N masters with one replica each (``CLUSTER ADDSLOTSRANGE``/``MEET``/``REPLICATE``),
  cluster-node-timeout 2 s by default, so a killed master's replica is promoted in about 3 s.
- ``SentinelGroup``: one master, replicas, and Sentinels watching it as ``mymaster``.
- ``Partition``: a network namespace behind a veth pair whose link can be cut and healed (root
  only; ``netns_available`` says why not).

The fixtures ``cluster_factory``, ``sentinel_factory`` and ``partition_factory`` stop every process
and namespace they start. Every wait polls against a deadline.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
from conftest import RealServer, free_port
from helpers import wait_for

from asynq_py.engine.embedded import server_binary

__all__ = [
    "Cluster",
    "Partition",
    "Sentinel",
    "SentinelGroup",
    "netns_available",
    "replication",
]

SLOTS = 16384


def _client(port: int, host: str = "127.0.0.1") -> redis.Redis:
    return redis.Redis(host=host, port=port, socket_connect_timeout=0.5, socket_timeout=2.0)


def replication(port: int, host: str = "127.0.0.1") -> dict[str, Any]:
    """``INFO replication`` of a node, or {} if it does not answer."""
    r = _client(port, host)
    try:
        return dict(r.info("replication"))
    except redis.RedisError:
        return {}
    finally:
        r.close()


def kill(server: RealServer) -> None:
    """SIGKILL a server and reap it (no restart)."""
    if server.proc is not None and server.proc.poll() is None:
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
    server.proc = None


# Cluster ---------------------------------------------------------------------------------------


@dataclass
class Cluster:
    """A running cluster: ``masters[i]`` serves the i-th third of the slots, ``replicas[i]`` follows it."""

    masters: list[RealServer]
    replicas: list[RealServer]
    host: str = "127.0.0.1"

    @property
    def nodes(self) -> list[RealServer]:
        """Every node, masters first."""
        return self.masters + self.replicas

    @property
    def url(self) -> str:
        """A ``redis-cluster://`` URL naming every node as a seed."""
        return "redis-cluster://" + ",".join(f"{self.host}:{n.port}" for n in self.nodes)

    def client(self, port: int) -> redis.Redis:
        """A plain client to one node."""
        return _client(port, self.host)

    def alive(self) -> list[RealServer]:
        """Nodes whose process is running."""
        return [n for n in self.nodes if n.proc is not None and n.proc.poll() is None]

    def owner(self, slot: int) -> int | None:
        """Port of the master serving ``slot`` as a live node sees it, or None."""
        for node in self.alive():
            r = self.client(node.port)
            try:
                for start, end, master, *_ in r.execute_command("CLUSTER", "SLOTS"):
                    if int(start) <= slot <= int(end):
                        return int(master[1])
            except redis.RedisError:
                continue
            finally:
                r.close()
        return None

    def node(self, port: int) -> RealServer:
        """The node on ``port``."""
        return next(n for n in self.nodes if n.port == port)

    def replica_of(self, master: RealServer) -> RealServer:
        """The replica that follows ``master`` (as created)."""
        return self.replicas[self.masters.index(master)]

    def healthy(self) -> bool:
        """Every live node says ``cluster_state:ok`` and agrees on the slot owners."""
        seen: set[tuple[int, ...]] = set()
        for node in self.alive():
            r = self.client(node.port)
            try:
                info = r.execute_command("CLUSTER", "INFO")
                text = info.decode() if isinstance(info, bytes) else str(info)
                if "cluster_state:ok" not in text:
                    return False
                seen.add(tuple(sorted(int(row[2][1]) for row in r.execute_command("CLUSTER", "SLOTS"))))
            except redis.RedisError:
                return False
            finally:
                r.close()
        return len(seen) == 1

    def kill_master_of(self, slot: int) -> tuple[RealServer, RealServer]:
        """SIGKILL the master of ``slot``; return it and the replica expected to take over."""
        port = self.owner(slot)
        assert port is not None
        master = self.node(port)
        replica = (
            self.replica_of(master) if master in self.masters else self.masters[self.replicas.index(master)]
        )
        kill(master)
        return master, replica

    def wait_promoted(self, replica: RealServer, timeout: float = 20.0) -> float:
        """Wait until ``replica`` is a master and the cluster is ok again; return time.monotonic()."""
        wait_for(lambda: replication(replica.port, self.host).get("role") == "master", timeout, "promotion")
        wait_for(self.healthy, timeout, "the cluster to be ok after the promotion", interval=0.1)
        return time.monotonic()

    def migrate_slot(self, slot: int, to: RealServer, batch: int = 100, pause_s: float = 0.0) -> int:
        """Move ``slot`` to master ``to`` live (SETSLOT IMPORTING/MIGRATING, MIGRATE, SETSLOT NODE);
        return how many keys moved."""
        src_port = self.owner(slot)
        assert src_port is not None
        assert src_port != to.port
        src, dst = self.client(src_port), self.client(to.port)
        try:
            src_id, dst_id = (c.execute_command("CLUSTER", "MYID").decode() for c in (src, dst))
            dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
            src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
            moved = 0
            while True:
                names = src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, batch)
                if not names:
                    break
                src.execute_command("MIGRATE", self.host, to.port, "", 0, 5000, "KEYS", *names)
                moved += len(names)
                if pause_s:
                    time.sleep(pause_s)
            for c in (dst, src):
                c.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
            for node in self.alive():
                if node.port in (src_port, to.port):
                    continue
                other = self.client(node.port)
                try:
                    other.execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
                except redis.ResponseError:
                    pass  # a replica refuses SETSLOT; it learns the owner from its master
                finally:
                    other.close()
            return moved
        finally:
            src.close()
            dst.close()


def start_cluster(
    workdir: Path, masters: int = 3, node_timeout_ms: int = 2000, timeout: float = 30.0
) -> Cluster:
    """Start ``masters`` masters with one replica each and wait until the cluster is ok."""
    extra = (
        "--cluster-enabled", "yes",
        "--cluster-node-timeout", str(node_timeout_ms),
        "--cluster-require-full-coverage", "yes",
        "--repl-diskless-sync", "yes",
        "--repl-diskless-sync-delay", "0",
    )  # fmt: skip
    nodes: list[RealServer] = []
    try:
        # The bus port defaults to port + 10000, which overflows for high free ports: name it.
        for i in range(masters * 2):
            bus = free_port()
            conf = ("--cluster-port", str(bus), "--cluster-config-file", "nodes.conf")
            node = RealServer(workdir / f"node{i}", extra=(*extra, *conf))
            node.start()
            nodes.append(node)
        cluster = Cluster(nodes[:masters], nodes[masters:])
        clients = [_client(n.port) for n in nodes]
        try:
            per = SLOTS // masters
            for i, c in enumerate(clients[:masters]):
                end = SLOTS - 1 if i == masters - 1 else (i + 1) * per - 1
                c.execute_command("CLUSTER", "ADDSLOTSRANGE", i * per, end)
            first_bus = nodes[0].extra[nodes[0].extra.index("--cluster-port") + 1]
            for c in clients[1:]:
                c.execute_command("CLUSTER", "MEET", "127.0.0.1", nodes[0].port, first_bus)
            ids = [c.execute_command("CLUSTER", "MYID").decode() for c in clients]

            def known() -> bool:
                return all(
                    len(c.execute_command("CLUSTER", "NODES").splitlines()) == len(nodes) for c in clients
                )

            wait_for(known, timeout, "every node to meet every other", interval=0.1)
            for i, c in enumerate(clients[masters:]):
                c.execute_command("CLUSTER", "REPLICATE", ids[i])
            wait_for(
                lambda: all(replication(r.port).get("master_link_status") == "up" for r in cluster.replicas),
                timeout,
                "the replicas to sync",
                interval=0.1,
            )
            wait_for(cluster.healthy, timeout, "cluster_state:ok on every node", interval=0.1)
        finally:
            for c in clients:
                c.close()
        return cluster
    except BaseException:
        for node in nodes:
            node.stop()
        raise


@pytest.fixture
def cluster_factory(tmp_path: Path) -> Iterator[Callable[..., Cluster]]:
    """Start clusters (``cluster_factory(masters=3)``); every node is stopped afterwards."""
    started: list[Cluster] = []

    def make(masters: int = 3, node_timeout_ms: int = 2000) -> Cluster:
        cluster = start_cluster(tmp_path / f"cluster{len(started)}", masters, node_timeout_ms)
        started.append(cluster)
        return cluster

    yield make
    for cluster in started:
        for node in cluster.nodes:
            node.stop()


# Sentinel --------------------------------------------------------------------------------------


DOWN_AFTER_MS = 3000
"""How long a node may not answer before a Sentinel deems it down. A Sentinel pings once a second,
so at 1000 it had no slack: under load a master just promoted missed one reply and the Sentinels
failed it over too, while it ran on (two masters for 10 s; in chaos (c), nearly every task twice)."""


class Sentinel:
    """One ``valkey-server --sentinel`` process with its own config file."""

    def __init__(self, workdir: Path, master_port: int, master_host: str = "127.0.0.1") -> None:
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        self.conf = workdir / "sentinel.conf"
        self.conf.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            "daemonize no\n"
            f"dir {workdir}\n"
            f"logfile {workdir / 'sentinel.log'}\n"
            f"sentinel monitor mymaster {master_host} {master_port} 2\n"
            f"sentinel down-after-milliseconds mymaster {DOWN_AFTER_MS}\n"
            "sentinel failover-timeout mymaster 5000\n"
            "sentinel parallel-syncs mymaster 1\n"
            # Seen from a master in a namespace, this host is its veth address: announce loopback,
            # where the Sentinels listen.
            "sentinel announce-ip 127.0.0.1\n"
        )
        self.proc = subprocess.Popen(
            [str(server_binary()), str(self.conf), "--sentinel"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.client = redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=1.0)

    def ready(self) -> bool:
        """The Sentinel answers PING."""
        try:
            return bool(self.client.ping())
        except redis.RedisError:
            return False

    def master(self) -> dict[str, Any]:
        """``SENTINEL MASTER mymaster`` as a dict of strings."""
        reply = self.client.execute_command("SENTINEL", "MASTER", "mymaster")
        if isinstance(reply, dict):
            return {k.decode() if isinstance(k, bytes) else str(k): v for k, v in reply.items()}
        it = iter(reply)
        return {k.decode(): v.decode() for k, v in zip(it, it, strict=True)}

    def master_port(self) -> int | None:
        """The port this Sentinel names as the master now."""
        try:
            reply = self.client.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster")
        except redis.RedisError:
            return None
        return int(reply[1]) if reply else None

    def stop(self) -> None:
        """Terminate the Sentinel (kill it after 5 s)."""
        self.client.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


def start_sentinels(
    workdir: Path, master_port: int, count: int, master_host: str = "127.0.0.1"
) -> list[Sentinel]:
    """Start ``count`` Sentinels on ``mymaster``; skip the test if the binary has no sentinel mode."""
    sentinels: list[Sentinel] = []
    try:
        for i in range(count):
            sentinels.append(Sentinel(workdir / f"sentinel{i}", master_port, master_host))
        wait_for(lambda: all(s.ready() for s in sentinels), 5, "the sentinels to answer")
    except AssertionError:
        dead = any(s.proc.poll() is not None for s in sentinels)
        for s in sentinels:
            s.stop()
        if dead:
            pytest.skip("the packaged valkey-server does not run in sentinel mode")
        raise
    except BaseException:
        for s in sentinels:
            s.stop()
        raise
    return sentinels


@dataclass
class SentinelGroup:
    """A master, its replicas and the Sentinels watching it."""

    master: RealServer
    replicas: list[RealServer]
    sentinels: list[Sentinel]
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        """A ``redis-sentinel://`` URL naming every Sentinel."""
        return (
            "redis-sentinel://" + ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels) + "?master=mymaster"
        )

    def converged(self) -> bool:
        """Every Sentinel sees every replica and every other Sentinel."""
        for s in self.sentinels:
            m = s.master()
            if (
                int(m["num-slaves"]) != len(self.replicas)
                or int(m["num-other-sentinels"]) != len(self.sentinels) - 1
            ):
                return False
        return True

    def kill_master(self) -> RealServer:
        """SIGKILL the current master; return it."""
        port = self.sentinels[0].master_port()
        current = next(n for n in [self.master, *self.replicas] if n.port == port)
        kill(current)
        return current

    def wait_promoted(self, timeout: float = 30.0) -> RealServer:
        """Wait until every Sentinel names one live replica as master and it says so; return it."""

        def promoted() -> RealServer | None:
            ports = {s.master_port() for s in self.sentinels}
            if len(ports) != 1:
                return None
            port = ports.pop()
            for node in [self.master, *self.replicas]:
                if (
                    node.port == port
                    and node.proc is not None
                    and replication(port, self.host).get("role") == "master"
                ):
                    return node
            return None

        found: RealServer = wait_for(promoted, timeout, "the sentinels to promote a replica", interval=0.1)
        return found


def start_sentinel_group(
    workdir: Path, replicas: int = 2, sentinels: int = 3, bind: str = "127.0.0.1", extra: tuple[str, ...] = ()
) -> SentinelGroup:
    """Start a master, ``replicas`` replicas and ``sentinels`` Sentinels, and wait until they converge."""
    repl = ("--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0", *extra)
    nodes: list[RealServer] = []
    group: SentinelGroup | None = None
    try:
        master = RealServer(workdir / "master", extra=_bind(bind, repl))
        master.start()
        nodes.append(master)
        for i in range(replicas):
            replica = RealServer(
                workdir / f"replica{i}", extra=_bind(bind, (*repl, "--replicaof", bind, str(master.port)))
            )
            replica.start()
            nodes.append(replica)
        wait_for(
            lambda: all(replication(n.port).get("master_link_status") == "up" for n in nodes[1:]),
            15,
            "the replicas to sync",
            interval=0.1,
        )
        group = SentinelGroup(master, nodes[1:], start_sentinels(workdir, master.port, sentinels, bind), bind)
        wait_for(group.converged, 20, "the sentinels to see the replicas and each other", interval=0.2)
        return group
    except BaseException:
        if group is not None:
            for s in group.sentinels:
                s.stop()
        for node in nodes:
            node.stop()
        raise


def _bind(host: str, extra: tuple[str, ...]) -> tuple[str, ...]:
    """Listen on loopback and also on ``host`` (a veth address) when it is another one."""
    if host == "127.0.0.1":
        return extra
    return ("--bind", f"127.0.0.1 {host}", "--protected-mode", "no", *extra)


@pytest.fixture
def sentinel_factory(tmp_path: Path) -> Iterator[Callable[..., SentinelGroup]]:
    """Start Sentinel groups (``sentinel_factory(replicas=2, sentinels=3)``); all stopped afterwards."""
    started: list[SentinelGroup] = []

    def make(replicas: int = 2, sentinels: int = 3, bind: str = "127.0.0.1") -> SentinelGroup:
        group = start_sentinel_group(tmp_path / f"sentinel-group{len(started)}", replicas, sentinels, bind)
        started.append(group)
        return group

    yield make
    for group in started:
        for s in group.sentinels:
            s.stop()
        for node in [group.master, *group.replicas]:
            node.stop()


# Partition -------------------------------------------------------------------------------------


def netns_available() -> str | None:
    """None if this process can create network namespaces and veth pairs, else why not."""
    if os.geteuid() != 0:
        return "network partitions need root (ip netns, veth)"
    if shutil.which("ip") is None:
        return "network partitions need iproute2's `ip`"
    probe = f"asq-probe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, check=False)
    if made.returncode != 0:
        return f"cannot create a network namespace: {made.stderr.decode().strip()}"
    subprocess.run(["ip", "netns", "del", probe], capture_output=True, check=False)
    return None


_subnets = itertools.count(1)


@dataclass
class Partition:
    """A network namespace reached from the host over a veth pair.

    The host end has ``host_ip`` (servers bind it), the namespace end ``ns_ip``. ``cut`` drops
    packets in either direction and TCP keeps what it has buffered; ``heal`` ends that, and TCP
    delivers whatever it still holds.
    """

    name: str
    host_ip: str
    ns_ip: str
    host_if: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def setup(self) -> None:
        """Create the namespace and the link."""
        self._ip("netns", "add", self.name)
        self._ip("link", "add", self.host_if, "type", "veth", "peer", "name", f"{self.host_if}n")
        self._ip("link", "set", f"{self.host_if}n", "netns", self.name)
        self._ip("addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
        self._ip("link", "set", self.host_if, "up")
        self._ip(
            "netns", "exec", self.name, "ip", "addr", "add", f"{self.ns_ip}/30", "dev", f"{self.host_if}n"
        )
        self._ip("netns", "exec", self.name, "ip", "link", "set", f"{self.host_if}n", "up")
        self._ip("netns", "exec", self.name, "ip", "link", "set", "lo", "up")

    def start_server(self, workdir: Path, extra: tuple[str, ...] = ()) -> RealServer:
        """Start a server inside the namespace, listening on ``ns_ip`` (stopped at teardown)."""
        server = _NsServer(self, workdir, extra)
        server.start()
        return server

    def popen(self, args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a process inside the namespace (stopped at teardown)."""
        proc = subprocess.Popen(["ip", "netns", "exec", self.name, *args], **kwargs)
        self.procs.append(proc)
        return proc

    def cut(self) -> None:
        """Drop every packet between the namespace and the host.

        Blackhole routes on both ends, not a link taken down: the link stays up, so TCP keeps its
        unacknowledged bytes and retransmits them at ``heal``, as across a real network.
        """
        self._ip("route", "add", "blackhole", f"{self.ns_ip}/32")
        self._ip("netns", "exec", self.name, "ip", "route", "add", "blackhole", f"{self.host_ip}/32")

    def heal(self) -> None:
        """Reconnect the namespace."""
        self._ip("route", "del", "blackhole", f"{self.ns_ip}/32")
        self._ip("netns", "exec", self.name, "ip", "route", "del", "blackhole", f"{self.host_ip}/32")

    def teardown(self) -> None:
        """Kill processes started here, delete the link and the namespace."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, check=False)


class _NsServer(RealServer):
    """A ``RealServer`` run inside a ``Partition``'s namespace on its ``ns_ip``."""

    def __init__(self, part: Partition, workdir: Path, extra: tuple[str, ...]) -> None:
        super().__init__(workdir, extra=extra)
        self.part = part

    @property
    def url(self) -> str:
        return f"redis://{self.part.ns_ip}:{self.port}/0"

    def start(self, timeout_s: float = 10.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [str(server_binary()), "--port", str(self.port), "--bind", self.part.ns_ip,
                "--protected-mode", "no", "--dir", str(self.workdir), "--save", "", "--appendonly", "no",
                *self.extra]  # fmt: skip
        self.proc = self.part.popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for(
                lambda: replication(self.port, self.part.ns_ip).get("role"),
                timeout_s,
                "the server in the namespace",
            )
        except AssertionError:
            self.stop()
            raise


@pytest.fixture
def partition_factory() -> Iterator[Callable[[], Partition]]:
    """Create partitionable namespaces (skips with the reason where that is impossible)."""
    reason = netns_available()
    if reason is not None:
        pytest.skip(reason)
    made: list[Partition] = []

    def make() -> Partition:
        # A /24 no other test process uses now (parallel test workers each make their own).
        used = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout
        start = next(_subnets) + os.getpid()
        n = next(k % 250 + 1 for k in range(start, start + 250) if f" 10.77.{k % 250 + 1}." not in used)
        tag = f"{os.getpid() % 10000}x{n}"
        part = Partition(name=f"asq{tag}", host_ip=f"10.77.{n}.1", ns_ip=f"10.77.{n}.2", host_if=f"asq{tag}")
        made.append(part)
        part.setup()
        return part

    yield make
    for part in made:
        part.teardown()
