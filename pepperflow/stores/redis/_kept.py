"""The drivers' own connections: a :class:`~._wire.KeptWire` opened as the
client's connections are (address, credentials, database, client name,
timeouts), for the clients a driver made itself.

hiredis comes with the ``redis`` extra; without it every command takes the
client's usual path (these return None).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.abc

from ._protocol import Arg

__all__ = ["closing_tcp_connection", "coredis_wire", "redis_py_wire"]


def redis_py_wire(client: Any) -> Any:
    """A KeptWire for ``client``'s plain TCP or unix-socket connections, else None."""
    try:
        import redis.asyncio.connection as connections
        import redis.exceptions

        from ._wire import Wire
    except ImportError:  # pragma: no cover - hiredis comes with the redis extra
        return None
    pool = client.connection_pool
    kind = pool.connection_class
    connect: Callable[[], Awaitable[anyio.abc.ByteStream]]
    if kind is connections.Connection:
        template = pool.make_connection()
        connect = functools.partial(anyio.connect_tcp, template.host, template.port)
    elif kind is connections.UnixDomainSocketConnection:
        template = pool.make_connection()
        connect = functools.partial(anyio.connect_unix, template.path)
    else:  # TLS or a class of the user's: the client's own path
        return None
    if template.credential_provider is not None:
        return None
    setup = _redis_py_setup(template)
    timeout, connect_timeout = template.socket_timeout, template.socket_connect_timeout

    async def open_wire() -> Wire:
        return await Wire.open(
            connect, setup, command_timeout=timeout, connect_timeout=connect_timeout
        )

    return _kept_wire(open_wire, redis.exceptions)


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


def _kept_wire(open_wire: Any, errors: Any) -> Any:
    """A KeptWire raising the client's own exceptions (``errors``: the
    client's exceptions module; redis-py's and coredis's use the same names)."""
    from ._wire import KeptWire  # imports hiredis: only once a wire is made

    return KeptWire(
        open_wire,
        connection_error=errors.ConnectionError,
        noscript_error=errors.NoScriptError,
        auth_error=errors.AuthenticationError,
        loading_error=errors.BusyLoadingError,
        response_error=errors.ResponseError,
    )


def coredis_wire(pool: Any) -> Any:
    """A KeptWire connected as ``pool``'s connections are, else None."""
    kwargs = pool.connection_kwargs
    if kwargs.get("noreply"):
        return None
    try:
        import coredis.exceptions

        from ._wire import Wire
    except ImportError:  # pragma: no cover - hiredis comes with the redis extra
        return None

    async def connect() -> anyio.abc.ByteStream:
        # The connection class opens the transport; its own tasks never run.
        template = pool.connection_class(pool.location, **kwargs)
        try:
            stream: anyio.abc.ByteStream = await template._connect()
        finally:
            _close_buffers(template)
        return stream

    async def open_wire() -> Wire:
        setup = await _coredis_setup(kwargs)
        return await Wire.open(connect, setup, command_timeout=kwargs.get("stream_timeout"))

    return _kept_wire(open_wire, coredis.exceptions)


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
