"""Two thin Redis drivers under one command layer.

:class:`~pepperflow.stores.redis.RedisStore` speaks to Redis through
:class:`Driver`: ``EVALSHA`` (raw replies, the same shape from every
client), ``SCRIPT LOAD``, ``GET`` and a blocking ``XREAD``.
:class:`RedisPyDriver` runs redis-py's asyncio client (asyncio
only; hiredis parses when installed); :class:`CoredisDriver` runs coredis,
which is built on anyio and so runs on trio too.

Drivers never retry a command on their own: a write whose reply was lost
may have been applied, so the store decides (see ``RedisStore``). Clients
the store creates are made without retries; a client the user passes keeps
its own policy (documented).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

import anyio
import anyio.abc

__all__ = ["CoredisDriver", "Driver", "RedisPyDriver"]

Arg = str | bytes | int | float


class Driver(ABC):
    """The commands RedisStore needs, with raw replies (bytes, ints, lists)."""

    #: exceptions meaning "the connection failed": the command may or may not have run
    connection_errors: tuple[type[BaseException], ...] = (OSError,)
    #: the exception a missing script raises
    noscript_error: type[BaseException] = Exception

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Hold what the client needs open while the store runs (a task of its group)."""
        task_status.started()

    @abstractmethod
    async def aclose(self) -> None:
        """Release the connections this driver opened (not a user's client)."""

    #: the driver's own connection (a ``KeptWire``) while it has one
    _kept: Any = None

    async def evalsha(self, sha: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """``EVALSHA`` with the raw reply: on the driver's own connection when
        it is free, else on the client's usual path."""
        kept = self._kept
        if kept is not None and kept.free():
            return await kept.call("EVALSHA", sha, len(keys), *keys, *args)
        return await self._client_evalsha(sha, keys, args)

    @abstractmethod
    async def _client_evalsha(self, sha: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """``EVALSHA`` through the client."""

    @abstractmethod
    async def script_load(self, source: str) -> None:
        """``SCRIPT LOAD``."""

    async def get(self, key: str) -> bytes | None:
        """``GET``, on the driver's own connection when it is free."""
        kept = self._kept
        if kept is not None and kept.free():
            direct: bytes | None = await kept.call("GET", key)
            return direct
        return await self._client_get(key)

    @abstractmethod
    async def _client_get(self, key: str) -> bytes | None:
        """``GET`` through the client."""

    @abstractmethod
    async def xread(
        self, stream: str, after: str, count: int, block_ms: int
    ) -> list[tuple[bytes, list[bytes]]]:
        """``XREAD COUNT count BLOCK block_ms STREAMS stream after``: (id, the
        values of its fields) per entry."""


def _entries(raw: Any) -> list[tuple[bytes, list[bytes]]]:
    """(id, the values of its fields) from a stream reply's entries."""
    out: list[tuple[bytes, list[bytes]]] = []
    for entry_id, fields in raw:
        values = fields.values() if isinstance(fields, dict) else fields[1::2]
        out.append((_bytes(entry_id), [_bytes(value) for value in values]))
    return out


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


class RedisPyDriver(Driver):
    """redis-py's ``redis.asyncio.Redis`` (asyncio only).

    A client the driver made (``owned``) over TCP or a unix socket also gets
    a connection of the driver's own, a :class:`~._redis_wire.KeptWire`,
    opened with the client's address, credentials, database, client name
    and timeouts (``socket_timeout`` is the deadline of each command, 5 s by
    default): it skips redis-py's pool checkout, its per-send task and
    asyncio's stream reader, about a third of a plain command's time here.
    TLS connections and clients with a credential provider take the
    client's usual path. A user's client keeps its own path and policy
    throughout.
    """

    def __init__(self, client: Any, *, owned: bool) -> None:
        import redis.exceptions

        kwargs = client.connection_pool.connection_kwargs
        if kwargs.get("decode_responses"):
            raise ValueError(
                "RedisStore needs a redis-py client with decode_responses=False (values"
                " are msgpack bytes); create one with redis.asyncio.Redis(...,"
                " decode_responses=False) or pass a URL"
            )
        self.client = client
        self.owned = owned
        self._kept = _redis_py_wire(client) if owned else None
        self.connection_errors = (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            OSError,
        )
        self.noscript_error = redis.exceptions.NoScriptError

    @classmethod
    def from_url(cls, url: str) -> RedisPyDriver:
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        client = redis.asyncio.Redis.from_url(
            url, decode_responses=False, retry=Retry(NoBackoff(), 0)
        )
        return cls(client, owned=True)

    async def aclose(self) -> None:
        if self._kept is not None:
            await self._kept.aclose()
        if self.owned:
            await self.client.aclose()

    async def _client_evalsha(self, sha: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        return await self.client.evalsha(sha, len(keys), *keys, *args)

    async def script_load(self, source: str) -> None:
        await self.client.script_load(source)

    async def _client_get(self, key: str) -> bytes | None:
        result: bytes | None = await self.client.get(key)
        return result

    async def xread(
        self, stream: str, after: str, count: int, block_ms: int
    ) -> list[tuple[bytes, list[bytes]]]:
        reply = await self.client.xread({stream: after}, count=count, block=block_ms)
        if not reply:
            return []
        streams = reply.values() if isinstance(reply, dict) else (e for _n, e in reply)
        return [entry for entries in streams for entry in _entries(_unwrap(entries))]


def _unwrap(entries: Any) -> Any:
    """A stream's entries, from RESP2's list or RESP3's (possibly nested) list."""
    if entries and isinstance(entries[0], list) and entries[0] and isinstance(entries[0][0], list):
        return entries[0]
    return entries


def _redis_py_wire(client: Any) -> Any:
    """A KeptWire for ``client``'s plain TCP or unix-socket connections, else None."""
    try:
        import redis.asyncio.connection as connections
        import redis.exceptions

        from ._redis_wire import Wire
    except ImportError:  # pragma: no cover - hiredis comes with the redis extra
        return None
    pool = client.connection_pool
    kind = pool.connection_class
    if kind is connections.Connection:
        template = pool.make_connection()
        host, port = template.host, template.port

        def connect() -> Any:
            return anyio.connect_tcp(host, port)

    elif kind is connections.UnixDomainSocketConnection:
        template = pool.make_connection()
        path = template.path

        def connect() -> Any:
            return anyio.connect_unix(path)

    else:  # TLS or a class of the user's: the client's own path
        return None
    if template.credential_provider is not None:
        return None
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
    timeout, connect_timeout = template.socket_timeout, template.socket_connect_timeout

    async def open_wire() -> Wire:
        return await Wire.open(
            connect, setup, command_timeout=timeout, connect_timeout=connect_timeout
        )

    return _kept_wire(open_wire, redis.exceptions)


def _kept_wire(open_wire: Any, errors: Any) -> Any:
    """A KeptWire raising the client's own exceptions (``errors``: the
    client's exceptions module; redis-py's and coredis's use the same names)."""
    from ._redis_wire import KeptWire  # imports hiredis: only once a wire is made

    return KeptWire(
        open_wire,
        connection_error=errors.ConnectionError,
        noscript_error=errors.NoScriptError,
        auth_error=errors.AuthenticationError,
        response_error=errors.ResponseError,
    )


class CoredisDriver(Driver):
    """coredis's ``coredis.Redis`` (anyio: asyncio and trio).

    A client the driver made (``owned``) also gets a connection of the
    driver's own while :meth:`run` holds its pool open, a
    :class:`~._redis_wire.KeptWire`: its transport opened by the pool's
    connection class (``_connect``: the same TCP, TLS or unix socket and
    connect timeout as the client's), then the URL's credentials
    (``AUTH``), ``SELECT``, ``CLIENT SETNAME`` and ``CLIENT NO-EVICT`` /
    ``NO-TOUCH`` when asked, with the pool's ``stream_timeout`` as each
    command's deadline (none by default, as on coredis's own path). With
    ``noreply=true`` there is no reply to read: coredis's path only. A
    user's client keeps its own path and policy throughout.
    """

    def __init__(self, client: Any, *, owned: bool) -> None:
        import coredis.exceptions

        self.client = client
        self.owned = owned
        self.connection_errors = (
            coredis.exceptions.ConnectionError,
            TimeoutError,
            OSError,
        )
        self.noscript_error = coredis.exceptions.NoScriptError

    @classmethod
    def from_url(cls, url: str) -> CoredisDriver:
        import coredis
        from coredis.connection import TCPConnection
        from coredis.retry import NoRetryPolicy

        client = coredis.Redis.from_url(
            url, decode_responses=False, retry_policy=NoRetryPolicy(), verify_version=False
        )
        pool = client.connection_pool
        if pool.connection_class is TCPConnection:
            pool.connection_class = _closing_tcp_connection()
        return cls(client, owned=True)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Keep the client's connection pool open until cancelled (a task of the store's group)."""
        if not self.owned:
            task_status.started()
            await anyio.sleep_forever()
        try:
            async with self.client:
                self._kept = _coredis_wire(self.client.connection_pool)
                task_status.started()
                await anyio.sleep_forever()
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        kept, self._kept = self._kept, None  # run() closed the pool
        if kept is not None:
            await kept.aclose()

    async def _client_evalsha(self, sha: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        return await self.client.evalsha(sha, keys=list(keys), args=list(args))

    async def script_load(self, source: str) -> None:
        await self.client.script_load(source)

    async def _client_get(self, key: str) -> bytes | None:
        result: bytes | None = await self.client.get(key)
        return result

    async def xread(
        self, stream: str, after: str, count: int, block_ms: int
    ) -> list[tuple[bytes, list[bytes]]]:
        reply = await self.client.xread({stream: after}, count=count, block=block_ms)
        if not reply:
            return []
        return [
            (_bytes(entry.identifier), [_bytes(value) for value in entry.field_values.values()])
            for entries in reply.values()
            for entry in entries
        ]


def _coredis_wire(pool: Any) -> Any:
    """A KeptWire connected as ``pool``'s connections are, else None."""
    kwargs = pool.connection_kwargs
    if kwargs.get("noreply"):
        return None
    try:
        import coredis.exceptions

        from ._redis_wire import Wire
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
        setup: list[tuple[Arg, ...]] = []
        provider = kwargs.get("credential_provider")
        if provider is not None:
            creds = await provider.get_credentials()
            setup.append(("AUTH", creds.username or "default", creds.password or b""))
        elif kwargs.get("username") or kwargs.get("password"):
            setup.append(
                ("AUTH", kwargs.get("username") or "default", kwargs.get("password") or "")
            )
        if kwargs.get("db"):
            setup.append(("SELECT", kwargs["db"]))
        if kwargs.get("client_name") is not None:
            setup.append(("CLIENT", "SETNAME", kwargs["client_name"]))
        if kwargs.get("noevict"):
            setup.append(("CLIENT", "NO-EVICT", "ON"))
        if kwargs.get("notouch"):
            setup.append(("CLIENT", "NO-TOUCH", "ON"))
        return await Wire.open(connect, setup, command_timeout=kwargs.get("stream_timeout"))

    return _kept_wire(open_wire, coredis.exceptions)


def _close_buffers(connection: Any) -> None:
    """Close the memory streams coredis 6 makes when it builds a connection."""
    for name in _CONNECTION_STREAMS:
        stream = getattr(connection, name, None)
        if stream is not None:
            stream.close()


@functools.cache
def _closing_tcp_connection() -> type[Any]:
    """coredis's TCP connection, closing its buffers when connecting fails.

    coredis 6 makes a connection's memory streams when it builds it and
    closes them only once connected, so each refused connect (a server that
    is down) leaks them with a ResourceWarning.
    """
    from coredis.connection import TCPConnection

    class ClosingTCPConnection(TCPConnection):
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
