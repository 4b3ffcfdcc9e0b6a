"""A private, throwaway Redis Cluster for tests that need one.

:class:`RedisCluster` runs ``primaries * (1 + replicas)`` private
``redis-server`` processes (:class:`~tests.support.redis_server.RedisServer`,
each with ``--cluster-enabled yes`` and a temporary directory holding its
``nodes.conf``) on free ports of 127.0.0.1, each with its cluster bus on a
second free port (``--cluster-port``), joins them with ``redis-cli --cluster
create ... --cluster-replicas N --cluster-yes`` and waits until every node
reports ``cluster_state:ok`` and knows every other::

    with RedisCluster() as cluster:
        ...  # connect to cluster.url (any node), or cluster.seeds_url

A node can be killed (``node.stop()``: SIGKILL) and started again on its
port (``node.start()``), with its ``nodes.conf``, so it rejoins.

The ``redis_cluster`` fixture yields one cluster of 3 primaries with a
replica each for the whole test session and always stops every process and
removes every directory at its end. It is shared: a test that kills a node
or moves a slot must leave the cluster as healthy as it found it
(``wait_healthy()``).
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import Literal

import pytest

from tests.support.redis_server import RedisServer, RedisServerError, free_port
from tests.support.tls_files import TLSFiles

__all__ = ["RedisCluster", "redis_cluster"]

CLI = "redis-cli"
#: Milliseconds a node may be silent before the others start a failover.
#: Long enough that a loaded machine does not fail a node over by itself.
NODE_TIMEOUT_MS = 3000


class RedisCluster:
    """A Redis Cluster of private servers on 127.0.0.1.

    ``tls`` and ``password`` apply to every node (``tls-cluster`` and
    ``tls-replication`` too, ``masterauth`` for the replicas).
    """

    def __init__(
        self,
        *,
        primaries: int = 3,
        replicas: int = 1,
        tls: Literal["off", "server"] = "off",
        password: str | None = None,
        startup_timeout: float = 60.0,
    ) -> None:
        self.replicas = replicas
        self.tls = tls
        self.password = password
        self.startup_timeout = startup_timeout
        self.nodes = [self._node() for _ in range(primaries * (1 + replicas))]

    def _node(self) -> RedisServer:
        options = [
            "--cluster-enabled", "yes",
            "--cluster-port", str(free_port()),
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--cluster-config-file", "nodes.conf",
        ]  # fmt: skip
        if self.password is not None:
            options += ["--masterauth", self.password]
        if self.tls != "off":
            options += ["--tls-cluster", "yes", "--tls-replication", "yes"]
        return RedisServer(options=options, tls=self.tls, password=self.password)

    @property
    def url(self) -> str:
        """The first node's ``redis://`` (or ``rediss://``) URL, without options."""
        return self.nodes[0].url.removesuffix("/0")

    @property
    def seeds_url(self) -> str:
        """``redis+cluster://`` (``rediss+cluster://``) naming every node as a seed."""
        scheme = "redis+cluster" if self.tls == "off" else "rediss+cluster"
        hosts = ",".join(f"{node.host}:{node.port}" for node in self.nodes)
        return f"{scheme}://{hosts}"

    @property
    def tls_files(self) -> TLSFiles:
        """The CA's and certificates' PEM files every node uses (TLS clusters)."""
        return self.nodes[0].tls_files

    def start(self) -> None:
        """Start every node, join them, and wait until the cluster is healthy.

        Raises:
            RedisServerError: a node did not start, ``redis-cli --cluster
                create`` failed, or the cluster was not healthy in time.
        """
        first = self.nodes[0]
        first.start()
        if self.tls != "off":
            # Every node serves the first node's certificate (one CA).
            for node in self.nodes[1:]:
                node._given_tls_files = node._tls_files = first.tls_files
        for node in self.nodes[1:]:
            node.start()
        addresses = [f"{node.host}:{node.port}" for node in self.nodes]
        self.cli(
            "--cluster", "create", *addresses,
            "--cluster-replicas", str(self.replicas), "--cluster-yes",
        )  # fmt: skip
        self.wait_healthy()

    def wait_healthy(self) -> None:
        """Wait until every node answers ``cluster_state:ok``, knows every
        node, and each primary has its replicas connected.

        Raises:
            RedisServerError: not so within ``startup_timeout`` seconds.
        """
        deadline = time.monotonic() + self.startup_timeout
        why = ""
        while time.monotonic() < deadline:
            why = self._unhealthy()
            if not why:
                return
            time.sleep(0.1)
        raise RedisServerError(f"the cluster is not healthy: {why}")

    def _unhealthy(self) -> str:
        """Why the cluster is not healthy yet ("" when it is)."""
        replicas = len(self.nodes) // (1 + self.replicas) * self.replicas
        for node in self.nodes:
            try:
                info = self.cli("CLUSTER", "INFO", node=node)
                known = self.cli("CLUSTER", "NODES", node=node)
                role = self.cli("INFO", "replication", node=node)
            except RedisServerError as exc:
                return str(exc)
            if "cluster_state:ok" not in info:
                return f"{node.port}: {info.splitlines()[0]}"
            lines = known.splitlines()
            if len(lines) != len(self.nodes) or "fail" in known or "handshake" in known:
                return f"{node.port} knows: {known}"
            if known.count("slave") != replicas:
                return f"{node.port} does not know every replica yet: {known}"
            if "role:slave" in role and "master_link_status:up" not in role:
                return f"replica {node.port} is not linked to its primary"
        return ""

    def cli(self, *args: str, node: RedisServer | None = None) -> str:
        """``redis-cli`` with ``args`` against ``node`` (default: the first
        node that runs); its output.

        Raises:
            RedisServerError: it exited with an error or printed ``ERR``.
        """
        node = node or next(node for node in self.nodes if node.pid is not None)
        command = [CLI, "-h", node.host, "-p", str(node.port), *self._cli_security(), *args]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        out = done.stdout + done.stderr
        if done.returncode != 0 or out.startswith(("ERR", "[ERR]")) or "\n[ERR]" in out:
            raise RedisServerError(f"{' '.join(args[:3])} failed: {out}")
        return done.stdout

    def _cli_security(self) -> Sequence[str]:
        options: list[str] = []
        if self.password is not None:
            options += ["--no-auth-warning", "-a", self.password]
        if self.tls != "off":
            files = self.tls_files
            options += ["--tls", "--cacert", str(files.ca)]
        return options

    def primaries(self) -> dict[RedisServer, list[tuple[int, int]]]:
        """Each primary serving slots now, and its slot ranges."""
        out: dict[RedisServer, list[tuple[int, int]]] = {}
        for line in self.cli("CLUSTER", "NODES").splitlines():
            fields = line.split()
            if "master" not in fields[2] or "fail" in fields[2] or len(fields) < 9:
                continue
            port = int(fields[1].split("@")[0].rpartition(":")[2])
            node = next(node for node in self.nodes if node.port == port)
            for part in fields[8:]:
                low, _, high = part.partition("-")
                if low.isdigit():  # not a slot being migrated ([slot->-node])
                    out.setdefault(node, []).append((int(low), int(high or low)))
        return out

    def primary_of(self, key: str) -> RedisServer:
        """The node that serves ``key``'s slot now."""
        slot = int(self.cli("CLUSTER", "KEYSLOT", key))
        for node, ranges in self.primaries().items():
            if any(low <= slot <= high for low, high in ranges):
                return node
        raise RedisServerError(f"no primary serves slot {slot} (of {key!r})")

    def replica_of(self, primary: RedisServer) -> RedisServer:
        """A node replicating ``primary`` now."""
        primary_id = self.cli("CLUSTER", "MYID", node=primary).strip()
        for line in self.cli("CLUSTER", "NODES").splitlines():
            fields = line.split()
            if "slave" in fields[2] and fields[3] == primary_id:
                port = int(fields[1].split("@")[0].rpartition(":")[2])
                return next(node for node in self.nodes if node.port == port)
        raise RedisServerError(f"{primary!r} has no replica")

    def wait_replicated(self, primary: RedisServer) -> None:
        """Wait until every replica of ``primary`` has all its writes (its
        offset is the primary's).

        Raises:
            RedisServerError: not so within ``startup_timeout`` seconds.
        """
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            info = dict(
                line.split(":", 1)
                for line in self.cli("INFO", "replication", node=primary).splitlines()
                if ":" in line
            )
            offset = info["master_repl_offset"].strip()
            replicas = [value for name, value in info.items() if name.startswith("slave")]
            if replicas and all(f"offset={offset}," in value for value in replicas):
                return
            time.sleep(0.02)
        raise RedisServerError(f"the replicas of {primary!r} did not catch up")

    def node_id(self, node: RedisServer) -> str:
        """``node``'s cluster id."""
        return self.cli("CLUSTER", "MYID", node=node).strip()

    def migrate_slot(
        self, slot: int, target: RedisServer, *, batch: int = 100, pause: float = 0.0
    ) -> None:
        """Move ``slot`` from the primary serving it to ``target`` (a primary)
        as ``redis-cli --cluster reshard`` does: ``CLUSTER SETSLOT <slot>
        IMPORTING`` on ``target`` and ``MIGRATING`` on the source, then
        ``MIGRATE ... KEYS`` of ``batch`` keys at a time with ``pause``
        seconds between (so that commands meet the slot half moved: ``ASK``,
        ``TRYAGAIN``), then ``CLUSTER SETSLOT <slot> NODE <target>`` on
        ``target``, the source and every other primary.

        Raises:
            RedisServerError: a step failed (a ``MIGRATE`` meeting a key
                that exists on ``target`` already: ``BUSYKEY``).
        """
        source = next(
            node
            for node, ranges in self.primaries().items()
            if any(low <= slot <= high for low, high in ranges)
        )
        if source is target:
            return
        target_id, source_id = self.node_id(target), self.node_id(source)
        self.cli("CLUSTER", "SETSLOT", str(slot), "IMPORTING", source_id, node=target)
        self.cli("CLUSTER", "SETSLOT", str(slot), "MIGRATING", target_id, node=source)
        auth = ["AUTH", self.password] if self.password is not None else []
        address = [target.host, str(target.port), "", "0", "5000"]
        batch_of_keys = ("CLUSTER", "GETKEYSINSLOT", str(slot), str(batch))
        while keys := self.cli(*batch_of_keys, node=source).split():
            self.cli("MIGRATE", *address, *auth, "KEYS", *keys, node=source)
            time.sleep(pause)
        others = [node for node in self.primaries() if node not in (target, source)]
        for node in (target, source, *others):
            self.cli("CLUSTER", "SETSLOT", str(slot), "NODE", target_id, node=node)

    def fix(self) -> None:
        """``redis-cli --cluster fix``: close a slot migration left half done
        (a test that failed during one), its keys moved to the slot's owner."""
        node = self.nodes[0]
        self.cli("--cluster", "fix", f"{node.host}:{node.port}", "--cluster-yes")

    def close(self) -> None:
        """Kill every node and remove every node's directory."""
        errors: list[BaseException] = []
        for node in self.nodes:
            try:
                node.close()
            except RedisServerError as exc:  # pragma: no cover - a stuck kernel
                errors.append(exc)
        if errors:
            raise errors[0]

    def __enter__(self) -> RedisCluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RedisCluster({self.seeds_url!r})"


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """A private Redis Cluster (3 primaries, a replica each) shared by the
    session; every node is killed and its directory removed at its end."""
    with RedisCluster() as cluster:
        yield cluster
