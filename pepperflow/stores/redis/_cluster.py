"""RedisStore on a Redis Cluster: the drivers' cluster clients (whether a
plain URL's server is a cluster node is found at open: :mod:`._opening`).

A namespace keeps every key under one hash tag (``pf:{ns}:``), so every
script, ``GET`` and ``XREAD`` of a store names keys of one slot, which one
primary serves: the cluster clients route each command by its keys,
follow ``MOVED`` (the slot moved: the client learns the new owner) and
``ASK`` (the slot is being migrated: ``ASKING``, then the command, on the
target), and learn the cluster's layout again after a lost connection.
They never retry a command whose connection failed (as on one server: the
write may have been applied). A script whose keys a slot migration splits
between two nodes (``TRYAGAIN``) is waited out by :mod:`._running`.
Namespaces spread over the slots, so over the primaries.

A cluster driver made from a URL also has a connection of its own, as on
one server, but to one primary: a :class:`~._wire.SlotWire` to the primary
that serves the namespace's slot (the slot of the first key it sends; a
namespace has one), as the cluster client knows it. A command that did
not run there (``MOVED``, ``ASK``, ``TRYAGAIN``, ``CLUSTERDOWN``..., or no
connection) goes on the cluster client's path, which follows the cluster
as above; once that path has answered a command on the slot, the next one
opens a connection to the primary the client names then. A command whose
connection failed is not sent again (it may have run): the client's
path takes the next one. redis-py over TLS or with a credential provider,
and coredis with ``noreply``, take the client's path throughout, as on
one server.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from typing import Any

from ._drivers import CoredisDriver, Driver, DriverName, RedisPyDriver
from ._kept import closing_tcp_connection, coredis_cluster_wire, redis_py_cluster_wire
from ._protocol import Arg
from ._replicated import redis_py_cluster_waited
from ._target import Target
from ._urls import ClientURL

__all__ = [
    "CoredisClusterDriver",
    "RedisPyClusterDriver",
    "cluster_driver",
    "cluster_driver_for_client",
]


def cluster_driver(target: Target, options: ClientURL, name: DriverName) -> Driver:
    """The cluster driver ``name`` (redis-py or coredis) for ``target``."""
    if name == "redis-py":
        return RedisPyClusterDriver.from_url(target, options)
    return CoredisClusterDriver.from_url(target, options)


def cluster_driver_for_client(client: Any) -> Driver:
    """The driver for a user's ``RedisCluster`` client (redis-py's or coredis's)."""
    if type(client).__module__.startswith("redis."):
        return RedisPyClusterDriver(client, owned=False)
    return CoredisClusterDriver(client, owned=False)


class RedisPyClusterDriver(RedisPyDriver):
    """redis-py's ``redis.asyncio.cluster.RedisCluster`` (asyncio only).

    A client the driver makes gets every seed as a startup node, no
    retries (``MOVED`` and ``ASK`` are followed all the same: nothing ran),
    and ``reinitialize_steps=0``: a ``MOVED`` updates the slot's owner alone
    (by default every fifth one makes the client learn the whole layout
    again, closing every connection, so that the commands other tasks have
    in flight fail as if their connection was lost: a slot moved under a
    store's concurrent writes).
    """

    def __init__(self, client: Any, *, owned: bool) -> None:
        import redis.exceptions as errors

        super().__init__(client, owned=owned)
        self.not_run_errors = (
            errors.ClusterError,  # CLUSTERDOWN, redirects exhausted
            errors.TryAgainError,
            errors.AskError,  # MOVED too
            errors.RedisClusterException,  # no node reachable, a slot not covered
        )
        # TRYAGAIN; "TTL exhausted" (its 16 tries, at TRYAGAIN and redirects)
        self.migration_errors = (errors.TryAgainError, errors.ClusterError)

    async def evalsha_waited(
        self, sha: str, keys: Sequence[Arg], args: Sequence[Arg], replicas: int, timeout_ms: int
    ) -> Any:
        return await redis_py_cluster_waited(self.client, sha, keys, args, replicas, timeout_ms)

    @staticmethod
    def _client_from_url(target: Target, url: str, **options: Any) -> Any:
        from redis.asyncio.cluster import ClusterNode, RedisCluster

        seeds = [ClusterNode(host, port) for host, port in target.seeds]
        return RedisCluster.from_url(url, startup_nodes=seeds, reinitialize_steps=0, **options)

    @staticmethod
    def _own_wire(client: Any) -> Any:
        return redis_py_cluster_wire(client)


class CoredisClusterDriver(CoredisDriver):
    """coredis's ``coredis.RedisCluster`` (anyio: asyncio and trio).

    A client the driver makes gets every seed as a startup node, no retries
    (``MOVED``, ``ASK`` and ``TRYAGAIN`` are followed all the same: nothing
    ran), and skips the check of ``cluster-require-full-coverage`` (a
    ``CONFIG GET`` an application's ACL user seldom may run).
    """

    def __init__(self, client: Any, *, owned: bool) -> None:
        import coredis.exceptions as errors

        super().__init__(client, owned=owned)
        # CLUSTERDOWN, TRYAGAIN, redirects exhausted, no node reachable; a
        # blocked XREAD woken as its primary became a replica (UNBLOCKED)
        self.not_run_errors = (errors.RedisClusterError, errors.UnblockedError)
        # TRYAGAIN; "Maximum retries exhausted" (its 16 tries, at TRYAGAIN and redirects)
        self.migration_errors = (errors.TryAgainError, errors.ClusterError)

    async def aclose(self) -> None:
        await super().aclose()
        if self.owned:
            # coredis 6 never closes the memory object stream its cluster
            # layout makes (a ResourceWarning): the pool is closed by now.
            for stream in self.client.connection_pool.cluster_layout._error_stream:
                stream.close()

    @staticmethod
    def _client_from_url(target: Target, url: str, **options: Any) -> Any:
        import coredis
        from coredis.connection import TCPLocation

        seeds = [TCPLocation(host, port) for host, port in target.seeds]
        options["retry_policy"] = _reporting_no_retry()
        client = coredis.RedisCluster.from_url(
            url, startup_nodes=seeds, skip_full_coverage_check=True, **options
        )
        _close_discovery_buffers(client)
        return client

    @staticmethod
    def _own_wire(pool: Any) -> Any:
        return coredis_cluster_wire(pool)


def _close_discovery_buffers(client: Any) -> None:
    """Make ``client``'s cluster discovery connect with connections that
    close their buffers when connecting fails (``closing_tcp_connection``).

    coredis 6 learns a cluster's layout through a client of its own for each
    node it asks (``ClusterNodeLocation.as_client``: a pool of coredis's
    ``ClusterConnection``, never the cluster pool's class), and each refused
    connect (a node that died, a seed that is down) leaks two memory object
    streams with a ResourceWarning. coredis takes no class for those, so
    before each discovery of ``client`` the nodes it is about to ask are
    made nodes whose clients use the closing class (:func:`_closing_node`):
    this client's discovery only, nothing else of coredis's. (Those are
    coredis 6's private attributes: a coredis without them fails every
    cluster test at once.)
    """
    service = client.connection_pool.cluster_layout._discovery_service
    discover = service.get_cluster_layout

    async def closing_discovery() -> Any:
        for nodes in (service._startup_nodes, service._initial_startup_nodes):
            nodes[:] = [_closing_node(node) for node in nodes]
        return await discover()

    service.get_cluster_layout = closing_discovery


def _closing_node(node: Any) -> Any:
    """``node`` (coredis's ``ClusterNodeLocation``) as one whose client
    closes its connections' buffers when connecting fails."""
    return _closing_node_class()(**dataclasses.asdict(node))


@functools.cache
def _closing_node_class() -> type[Any]:
    from coredis.cluster._node import ClusterNodeLocation
    from coredis.connection import ClusterConnection

    class ClosingNode(ClusterNodeLocation):
        def as_client(self, **client_args: Any) -> Any:
            node_client = super().as_client(**client_args)
            node_client.connection_pool.connection_class = closing_tcp_connection(ClusterConnection)
            return node_client

    return ClosingNode


def _reporting_no_retry() -> Any:
    """coredis's NoRetryPolicy, reporting a failed command's connection
    error to the cluster client (its ``failure_hook``), as a retrying policy
    does: coredis learns the cluster's layout again after enough of them
    (a primary that died and was replaced), and not otherwise."""
    from coredis.exceptions import ConnectionError as Lost
    from coredis.retry import NoRetryPolicy

    class ReportingNoRetry(NoRetryPolicy):
        async def call_with_retries(
            self, func: Any, before_hook: Any = None, failure_hook: Any = None
        ) -> Any:
            try:
                return await func()
            except (Lost, TimeoutError) as exc:
                if callable(failure_hook) and (reported := failure_hook(exc)) is not None:
                    await reported
                raise

    return ReportingNoRetry()
