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

A cluster client has no connection of the driver's own (``wired``): the
single server's shortcut would reach one node only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._drivers import CoredisDriver, Driver, DriverName, RedisPyDriver
from ._kept import closing_tcp_connection
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

    wired = False

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


class CoredisClusterDriver(CoredisDriver):
    """coredis's ``coredis.RedisCluster`` (anyio: asyncio and trio).

    A client the driver makes gets every seed as a startup node, no retries
    (``MOVED``, ``ASK`` and ``TRYAGAIN`` are followed all the same: nothing
    ran), and skips the check of ``cluster-require-full-coverage`` (a
    ``CONFIG GET`` an application's ACL user seldom may run).
    """

    wired = False

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

        _close_discovery_buffers()
        seeds = [TCPLocation(host, port) for host, port in target.seeds]
        options["retry_policy"] = _reporting_no_retry()
        return coredis.RedisCluster.from_url(
            url, startup_nodes=seeds, skip_full_coverage_check=True, **options
        )


def _close_discovery_buffers() -> None:
    """Make coredis's cluster discovery connect with the connection class
    that closes its buffers when connecting fails (``closing_tcp_connection``).

    coredis 6 learns a cluster's layout through connections of its own
    class (``ClusterNode.as_client``), never the pool's, and each refused
    connect (a node that died, a seed that is down) leaks two memory object
    streams with a ResourceWarning. The subclass changes nothing else; set
    once, for every coredis cluster client of the process.
    """
    from coredis.cluster import _node
    from coredis.connection import ClusterConnection

    node_module: Any = _node
    if node_module.ClusterConnection is ClusterConnection:
        node_module.ClusterConnection = closing_tcp_connection(ClusterConnection)


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
