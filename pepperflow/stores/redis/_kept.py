"""The drivers' own connections: a :class:`~._wire.KeptWire` opened as the
client's connections are (address, credentials, database, client name,
timeouts), for the clients a driver made itself; for a cluster client, a
:class:`~._wire.SlotWire` to the primary of one slot, opened the same way.

hiredis comes with the ``redis`` extra; without it every command takes the
client's usual path (these return None).
"""

from __future__ import annotations

import binascii
import functools
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc

from ._protocol import Arg
from ._wire import KeptWire, SlotWire, Wire, hash_tag

__all__ = [
    "closing_tcp_connection",
    "coredis_cluster_wire",
    "coredis_wire",
    "redis_py_cluster_wire",
    "redis_py_wire",
]


def redis_py_wire(client: Any) -> Any:
    """A KeptWire for ``client``'s plain TCP or unix-socket connections, else None."""
    try:
        import redis.asyncio.connection as connections
        import redis.exceptions
    except ImportError:  # pragma: no cover - the drivers come with the redis extra
        return None
    pool = client.connection_pool
    plain = (connections.Connection, connections.UnixDomainSocketConnection)
    if pool.connection_class not in plain:
        return None  # TLS or a class of the user's: the client's own path
    template = pool.make_connection()
    if template.credential_provider is not None:
        return None
    return KeptWire(functools.partial(_redis_py_open, template), **_errors(redis.exceptions))


def redis_py_cluster_wire(client: Any) -> Any:
    """A SlotWire for ``client`` (redis-py's ``RedisCluster``) when its
    connections are plain TCP, else None."""
    try:
        import redis.asyncio.connection as connections
        import redis.exceptions
    except ImportError:  # pragma: no cover - the drivers come with the redis extra
        return None
    kwargs = client.connection_kwargs
    if kwargs.get("connection_class") is not connections.Connection:
        return None  # TLS or a class of the user's: the client's own path
    if kwargs.get("credential_provider") is not None:
        return None

    async def open_for(key: str) -> Wire:
        node = client.get_node_from_key(key)
        return await _redis_py_open(node.connection_class(**node.connection_kwargs))

    return SlotWire(open_for, **_errors(redis.exceptions))


async def _redis_py_open(template: Any) -> Wire:
    """A wire connected and set up as redis-py's ``template`` connection would be."""
    connect: Callable[[], Awaitable[anyio.abc.ByteStream]]
    if hasattr(template, "path"):  # a unix socket's
        connect = functools.partial(anyio.connect_unix, template.path)
    else:
        connect = functools.partial(anyio.connect_tcp, template.host, template.port)
    return await Wire.open(
        connect,
        _redis_py_setup(template),
        command_timeout=template.socket_timeout,
        connect_timeout=template.socket_connect_timeout,
    )


def _redis_py_setup(template: Any) -> list[tuple[Arg, ...]]:
    """The commands that make a wire a redis-py ``template`` connection's like."""
    setup: list[tuple[Arg, ...]] = []
    if template.password is not None:
        if template.username:
            setup.append(("AUTH", template.username, template.password))
        else:
            setup.append(("AUTH", template.password))
    if template.db:
        setup.append(("SELECT", template.db))
    if template.client_name:
        setup.append(("CLIENT", "SETNAME", template.client_name))
    return setup


def _errors(errors: Any) -> dict[str, type[Exception]]:
    """A kept wire's exceptions: the client's own (``errors``: the client's
    exceptions module; redis-py's and coredis's use the same names)."""
    return {
        "connection_error": errors.ConnectionError,
        "noscript_error": errors.NoScriptError,
        "auth_error": errors.AuthenticationError,
        "loading_error": errors.BusyLoadingError,
        "response_error": errors.ResponseError,
    }


def coredis_wire(pool: Any) -> Any:
    """A KeptWire connected as ``pool``'s connections are, else None."""
    if pool.connection_kwargs.get("noreply"):
        return None
    try:
        import coredis.exceptions
    except ImportError:  # pragma: no cover - the drivers come with the redis extra
        return None
    opener = functools.partial(_coredis_open, pool, pool.location)
    return KeptWire(opener, **_errors(coredis.exceptions))


def coredis_cluster_wire(pool: Any) -> Any:
    """A SlotWire connected as ``pool``'s (a ``RedisCluster``'s) connections
    are, else None."""
    if pool.connection_kwargs.get("noreply"):
        return None
    try:
        import coredis.exceptions
        from coredis.connection import TCPLocation
    except ImportError:  # pragma: no cover - the drivers come with the redis extra
        return None

    async def open_for(key: str) -> Wire:
        node = pool.cluster_layout.node_for_slot(_key_slot(key))
        return await _coredis_open(pool, TCPLocation(node.host, node.port))

    return SlotWire(open_for, **_errors(coredis.exceptions))


async def _coredis_open(pool: Any, location: Any) -> Wire:
    """A wire to ``location`` connected and set up as ``pool``'s connections are."""
    kwargs = pool.connection_kwargs

    async def connect() -> anyio.abc.ByteStream:
        # The connection class opens the transport; its own tasks never run.
        template = pool.connection_class(location, **kwargs)
        try:
            stream: anyio.abc.ByteStream = await template._connect()
        finally:
            _close_buffers(template)
        return stream

    setup = await _coredis_setup(kwargs)
    return await Wire.open(connect, setup, command_timeout=kwargs.get("stream_timeout"))


def _key_slot(key: str) -> int:
    """``key``'s Redis Cluster hash slot (CRC16 of its hash tag, or of the whole key)."""
    tag = hash_tag(key)
    return binascii.crc_hqx((key if tag is None else tag).encode(), 0) % 16384


async def _coredis_setup(kwargs: dict[str, Any]) -> list[tuple[Arg, ...]]:
    """The commands that make a wire a coredis pool's connections' like."""
    setup: list[tuple[Arg, ...]] = []
    provider = kwargs.get("credential_provider")
    if provider is not None:
        creds = await provider.get_credentials()
        setup.append(("AUTH", creds.username or "default", creds.password or b""))
    elif kwargs.get("username") or kwargs.get("password"):
        setup.append(("AUTH", kwargs.get("username") or "default", kwargs.get("password") or ""))
    if kwargs.get("db"):
        setup.append(("SELECT", kwargs["db"]))
    if kwargs.get("client_name") is not None:
        setup.append(("CLIENT", "SETNAME", kwargs["client_name"]))
    if kwargs.get("noevict"):
        setup.append(("CLIENT", "NO-EVICT", "ON"))
    if kwargs.get("notouch"):
        setup.append(("CLIENT", "NO-TOUCH", "ON"))
    return setup


def _close_buffers(connection: Any) -> None:
    """Close the memory streams coredis 6 makes when it builds a connection."""
    for name in _CONNECTION_STREAMS:
        stream = getattr(connection, name, None)
        if stream is not None:
            stream.close()


@functools.cache
def closing_tcp_connection(base: Any = None) -> type[Any]:
    """coredis's TCP connection (or its subclass ``base``: the cluster's),
    closing its buffers when connecting fails.

    coredis 6 makes a connection's memory streams when it builds it and
    closes them only once connected, so each refused connect (a server that
    is down) leaks them with a ResourceWarning.
    """
    from coredis.connection import TCPConnection

    class ClosingTCPConnection(base or TCPConnection):  # type: ignore[misc]
        async def run(self, *, task_status: Any = anyio.TASK_STATUS_IGNORED) -> None:
            try:
                await super().run(task_status=task_status)
            finally:
                _close_buffers(self)

    return ClosingTCPConnection


_CONNECTION_STREAMS = (
    "_write_buffer_in",
    "_write_buffer_out",
    "_push_message_buffer_in",
    "_push_message_buffer_out",
    "_streamed_message_buffer_in",
    "_streamed_message_buffer_out",
)
