"""Which driver a RedisStore speaks through, and starting it.

:func:`open_driver` picks the driver for a URL (a single server's, or a
cluster's: :mod:`._cluster`) or for a user's client; :func:`start_driver`
runs it in the store's task group, switching to the cluster driver when a
plain URL's server turns out to be a cluster node.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.abc
import sniffio

from ..._errors import MissingExtra, UnknownStoreURL, UnsupportedDriver
from ..._lifecycle import TaskRunner
from ._cluster import cluster_driver, cluster_driver_for_client
from ._commands import Commands
from ._drivers import CoredisDriver, Driver, DriverName, RedisPyDriver
from ._target import Target
from ._urls import client_url

__all__ = ["open_driver", "start_driver"]


def open_driver(url: Target | Any, name: DriverName) -> Driver:
    """The driver for ``url`` (a URL's :class:`~._target.Target`, or a
    client: its own driver) on the running async library; ``"auto"`` is
    redis-py on asyncio, else coredis.

    Raises:
        MissingExtra: the driver's client is not installed.
        UnsupportedDriver: redis-py (by name, or a redis-py client) on trio.
        TypeError: ``url`` is neither a Target nor a client of either.
        UnknownStoreURL: an option in ``url`` the driver's client does not
            take, or a value of one it refuses (see :mod:`._urls`).
    """
    try:
        backend = sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:  # pragma: no cover - always in a loop
        backend = "asyncio"
    if not isinstance(url, Target):
        return _driver_for_client(url, backend)
    if name == "auto":
        name = "redis-py" if backend == "asyncio" else "coredis"
    if name == "redis-py" and backend != "asyncio":
        raise UnsupportedDriver(
            f"driver 'redis-py' (redis-py's asyncio client) runs on asyncio only, not on"
            f" {backend}; use driver='coredis' or 'auto' (in a URL: ?driver=coredis, or"
            " no driver option), or run on asyncio"
        )
    options = client_url(url.url, name)
    try:
        if url.cluster:
            return cluster_driver(url, options, name)
        if name == "redis-py":
            return RedisPyDriver.from_url(url, options)
        return CoredisDriver.from_url(url, options)
    except ModuleNotFoundError as exc:
        raise MissingExtra(
            f"RedisStore needs {exc.name!r}: pip install 'pepperflow[redis]'"
        ) from exc
    except ValueError as exc:  # the client's own parsing of an option's value
        raise UnknownStoreURL(
            f"the Redis client ({name}) refuses a value of the URL's options: {exc}"
        ) from exc


def _driver_for_client(client: Any, backend: str) -> Driver:
    module = type(client).__module__
    if module.startswith("redis.") and backend != "asyncio":
        raise UnsupportedDriver(
            f"a {module}.{type(client).__name__} client (redis-py's asyncio client) runs on"
            f" asyncio only, not on {backend}; pass a coredis client, or a URL, on {backend}"
        )
    if type(client).__name__ == "RedisCluster":
        return cluster_driver_for_client(client)
    if module.startswith("redis."):
        return RedisPyDriver(client, owned=False)
    if module.startswith("coredis"):
        return CoredisDriver(client, owned=False)
    raise TypeError(
        "RedisStore takes a redis:// URL, a redis.asyncio.Redis or a coredis.Redis client"
        " (or either's RedisCluster);"
        f" got {type(client).__name__}"
    )


async def start_driver(
    tasks: TaskRunner, commands: Commands, url: Target | Any, name: DriverName
) -> None:
    """Run ``commands.driver`` (made for ``url``) in ``tasks``' group; when
    ``url`` is a plain URL whose server is a cluster node, replace it with
    the cluster driver for ``url`` (the first driver closed).

    Raises:
        StoreUnavailable: Redis did not answer (the INFO that asks).
        UnknownStoreURL: a cluster node, and the URL names a database other than 0.
    """
    driver = commands.driver
    assert driver is not None
    scope = anyio.CancelScope()
    await commands.opening(lambda driver: tasks.start(_hold, driver, scope))
    if not isinstance(url, Target) or url.cluster is not None:
        return
    if not await commands.cluster_enabled():
        return
    cluster = url.as_cluster()
    scope.cancel()
    commands.driver = None
    with anyio.CancelScope(shield=True):
        await driver.aclose()
    commands.driver = open_driver(cluster, name)
    await commands.opening(lambda driver: tasks.start(driver.run))


async def _hold(
    driver: Driver, scope: anyio.CancelScope, *, task_status: anyio.abc.TaskStatus[None]
) -> None:
    """``driver.run`` until ``scope`` is cancelled (or the group is)."""
    with scope:
        await driver.run(task_status=task_status)
