"""Plans that read the Redis nodes themselves: ``INFO`` fields, and a queue's Cluster slot and nodes."""

from __future__ import annotations

from typing import Any

from .. import keys
from ..calls import Command, EachPrimary, Plan, raise_failed

__all__ = ["cluster_key_slot", "cluster_nodes", "redis_info", "redis_info_by_node"]


def redis_info() -> Plan[dict[str, str]]:
    """Return the server's ``INFO`` fields (version, memory, clients, ...) as strings."""
    raw = yield Command(("INFO",))
    return _info_fields(raw)


def redis_info_by_node() -> Plan[dict[str, dict[str, str]]]:
    """Return the ``INFO`` fields of every primary ("host:port" → fields; one entry, named "",
    outside a cluster). Raises the first node's error if a node could not answer."""
    replies = yield EachPrimary(Command(("INFO",)))
    raise_failed(list(replies.values()))
    return {node: _info_fields(raw) for node, raw in sorted(replies.items())}


def _info_fields(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    text = raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw)
    info: dict[str, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            info[key] = value
    return info


def cluster_key_slot(queue: str) -> Plan[int]:
    """Return the Redis Cluster hash slot of the queue's keys."""
    slot = yield Command(("CLUSTER", "KEYSLOT", keys.pending_key(queue)))
    return int(slot)


def cluster_nodes(queue: str) -> Plan[list[tuple[str, str]]]:
    """Return (node id, "host:port") of the cluster nodes serving the queue's slot."""
    slot = yield from cluster_key_slot(queue)
    ranges = yield Command(("CLUSTER", "SLOTS"))
    nodes: list[tuple[str, str]] = []
    for entry in ranges:
        start, end, *servers = entry
        if int(start) <= slot <= int(end):
            for server in servers:
                host, port = server[0], server[1]
                node_id = server[2] if len(server) > 2 else b""
                host_text = host.decode() if isinstance(host, bytes) else str(host)
                node_text = node_id.decode() if isinstance(node_id, bytes) else str(node_id)
                nodes.append((node_text, f"{host_text}:{int(port)}"))
    return nodes
