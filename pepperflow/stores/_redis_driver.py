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
from collections.abc import Callable, Sequence
from typing import Any, cast

import anyio
import anyio.abc

__all__ = ["CoredisDriver", "Driver", "RedisPyDriver"]

Arg = str | bytes | int | float

_pack_command: Callable[[tuple[Arg, ...]], bytes] | None
try:  # hiredis packs a command in C; redis-py's asyncio connection packs in Python
    import hiredis

    _pack_command = cast(Callable[[tuple[Arg, ...]], bytes], hiredis.pack_command)
except ImportError:  # pragma: no cover - hiredis comes with the redis extra
    _pack_command = None


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

    @abstractmethod
    async def evalsha(self, sha: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """``EVALSHA`` with the raw reply."""

    @abstractmethod
    async def script_load(self, source: str) -> None:
        """``SCRIPT LOAD``."""

    @abstractmethod
    async def get(self, key: str) -> bytes | None:
        """``GET``."""

    @abstractmethod
    async def xread(
        self, stream: str, after: str, count: int, block_ms: int
    ) -> list[tuple[bytes, bytes]]:
        """``XREAD COUNT count BLOCK block_ms STREAMS stream after``: (id, field ``c``)."""


def _entries(raw: Any) -> list[tuple[bytes, bytes]]:
    """(id, value of field ``c``) from a stream reply's entries."""
    out: list[tuple[bytes, bytes]] = []
    for entry_id, fields in raw:
        if isinstance(fields, dict):
            blob = fields.get(b"c")
        else:
            blob = fields[1] if len(fields) >= 2 else None
        if blob is not None:
            out.append((_bytes(entry_id), _bytes(blob)))
    return out


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


class RedisPyDriver(Driver):
    """redis-py's ``redis.asyncio.Redis`` (asyncio only).

    A client the driver made (``owned``) over TCP or a unix socket also gets
    a connection of the driver's own for keeps, a :class:`~._redis_wire.Wire`
    (an anyio stream read by hiredis in the calling task), opened with the
    client's address, credentials, database, client name and timeouts
    (``socket_timeout`` is the deadline of each command, 5 s by default). A
    command that finds it free goes there, which skips redis-py's pool
    checkout, its per-send task and asyncio's stream reader: about a third
    of a plain command's time here. Concurrent commands, TLS connections and
    clients with a credential provider take the client's usual path. A
    failed or cancelled command closes the wire (nothing is left unread)
    and the next one opens another. A user's client keeps its own path and
    policy throughout.
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
        self._wire: Any = None  # the Wire kept for direct commands
        self._wire_busy = False
        self._wire_plan = _wire_plan(client) if owned else None
        self._reply_error = _reply_error() if self._wire_plan is not None else Exception
        self._closed = False
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
        self._closed = True
        wire, self._wire = self._wire, None
        if wire is not None:
            await wire.aclose()
        if self.owned:
            await self.client.aclose()

    def _direct_free(self) -> bool:
        return self._wire_plan is not None and not self._wire_busy and not self._closed

    async def _direct(self, *command: Arg) -> Any:
        """``command`` on the kept wire (the caller checked it is free)."""
        import redis.exceptions

        from ._redis_wire import WireError

        plan = self._wire_plan
        assert plan is not None
        self._wire_busy = True
        wire = self._wire
        try:
            if wire is None:
                wire = await plan.open()
                if self._closed:  # the store closed meanwhile
                    await wire.aclose()
                    raise redis.exceptions.ConnectionError("the store closed")
                self._wire = wire
            reply = await wire.call(command)
        except BaseException as exc:
            if wire is not None and self._wire is wire:
                self._wire = None
                await wire.aclose()
            if isinstance(exc, WireError) and not isinstance(exc, TimeoutError):
                raise redis.exceptions.ConnectionError(f"connection lost: {exc!r}") from exc
            if isinstance(exc, self._reply_error):
                raise _response_error(exc) from None
            raise
        finally:
            self._wire_busy = False
        if isinstance(reply, self._reply_error):
            raise _response_error(reply)  # an error reply, read whole: the wire stays
        return reply

    async def evalsha(self, sha: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        if self._direct_free():
            return await self._direct("EVALSHA", sha, len(keys), *keys, *args)
        return await self.client.evalsha(sha, len(keys), *keys, *args)

    async def script_load(self, source: str) -> None:
        await self.client.script_load(source)

    async def get(self, key: str) -> bytes | None:
        if self._direct_free():
            direct: bytes | None = await self._direct("GET", key)
            return direct
        result: bytes | None = await self.client.get(key)
        return result

    async def xread(
        self, stream: str, after: str, count: int, block_ms: int
    ) -> list[tuple[bytes, bytes]]:
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


class _WirePlan:
    """How to open a :class:`~._redis_wire.Wire` like a redis-py client's connections."""

    def __init__(
        self,
        connect: Callable[[], Any],
        setup: list[tuple[Arg, ...]],
        timeout: float | None,
        connect_timeout: float | None,
    ) -> None:
        self.connect = connect
        self.setup = setup
        self.timeout = timeout
        self.connect_timeout = connect_timeout

    async def open(self) -> Any:
        from ._redis_wire import Wire

        try:
            return await Wire.open(
                self.connect,
                self.setup,
                command_timeout=self.timeout,
                connect_timeout=self.connect_timeout,
            )
        except _reply_error() as exc:
            raise _response_error(exc) from None


def _wire_plan(client: Any) -> _WirePlan | None:
    """A plan for ``client``'s plain TCP or unix-socket connections, else None."""
    try:
        import hiredis  # noqa: F401  (the wire parses with hiredis)
        import redis.asyncio.connection as connections
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
    return _WirePlan(connect, setup, template.socket_timeout, template.socket_connect_timeout)


def _reply_error() -> type[Exception]:
    import hiredis

    error: type[Exception] = hiredis.ReplyError
    return error


def _response_error(reply: Exception) -> Exception:
    """redis-py's exception for an error reply (NoScriptError for NOSCRIPT)."""
    import redis.exceptions

    message = str(reply)
    if message.startswith("NOSCRIPT"):
        return redis.exceptions.NoScriptError(message)
    if message.startswith(("NOAUTH", "WRONGPASS")):
        return redis.exceptions.AuthenticationError(message)
    return redis.exceptions.ResponseError(message)


class CoredisDriver(Driver):
    """coredis's ``coredis.Redis`` (anyio: asyncio and trio).

    coredis 6 has no way to send a command and read its reply in the
    caller's task: a connection's writer task sends, its reader task parses
    and wakes the caller, and the client checks a connection out of the pool
    around that, three task switches and several cancel scopes per command
    (a GET here: about 220 us on trio against 35 us for the bare round trip,
    235 us against 60 on asyncio). So a client the driver made (``owned``)
    comes with one connection of the driver's own: its transport opened by
    the pool's connection class (``_connect``: the same TCP, TLS or unix
    socket and connect timeout as the client's), then the handshake coredis
    does (``HELLO 3`` with the credentials, ``SELECT``, ``CLIENT SETNAME``),
    and after that a command that finds it free is packed (hiredis when
    installed, else coredis's packer), sent and parsed (coredis's RESP3
    parser, with coredis's exceptions for error replies) in the calling task
    under one deadline, the pool's ``stream_timeout`` (none by default, as
    on coredis's own path). Concurrent commands take the client's usual
    path. A failed or cancelled command closes that connection (nothing is
    left unread on it) and the next one reconnects.
    A user's client keeps its own path and policy throughout.
    """

    def __init__(self, client: Any, *, owned: bool) -> None:
        import coredis.exceptions

        self.client = client
        self.owned = owned
        self._own: _KeptConnection | None = None  # the connection kept for direct commands
        self._own_busy = False
        # Owned clients only, and only while run() holds the pool open.
        self._direct_ok = False
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
                # A URL's noreply=true leaves no reply to read: coredis's path only.
                self._direct_ok = not self.client.connection_pool.connection_kwargs.get("noreply")
                task_status.started()
                await anyio.sleep_forever()
        finally:
            await self._close_own()

    async def aclose(self) -> None:
        await self._close_own()  # run() closed it and the pool when the store's group ended

    async def _close_own(self) -> None:
        self._direct_ok = False
        own, self._own = self._own, None
        if own is not None:
            await anyio.aclose_forcefully(own.stream)

    async def _direct(self, *command: Arg) -> Any:
        """``command`` on the kept connection (the caller checked it is free)."""
        self._own_busy = True
        own = self._own
        try:
            if own is None:
                own = await _KeptConnection.open(self.client.connection_pool)
                if not self._direct_ok:  # the store closed meanwhile
                    await anyio.aclose_forcefully(own.stream)
                    raise _connection_error("the store closed")
                self._own = own
            reply = await own.call(command)
        except BaseException as exc:
            if own is not None and self._own is own:
                self._own = None
                await anyio.aclose_forcefully(own.stream)
            if isinstance(exc, _STREAM_ERRORS):
                raise _connection_error(f"connection lost: {exc!r}") from exc
            raise
        finally:
            self._own_busy = False
        if isinstance(reply, BaseException):
            raise reply  # an error reply (NOSCRIPT, ...): read whole, the connection stays
        return reply

    async def evalsha(self, sha: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        if self._direct_ok and not self._own_busy:
            return await self._direct("EVALSHA", sha, len(keys), *keys, *args)
        return await self.client.evalsha(sha, keys=list(keys), args=list(args))

    async def script_load(self, source: str) -> None:
        await self.client.script_load(source)

    async def get(self, key: str) -> bytes | None:
        if self._direct_ok and not self._own_busy:
            direct: bytes | None = await self._direct("GET", key)
            return direct
        result: bytes | None = await self.client.get(key)
        return result

    async def xread(
        self, stream: str, after: str, count: int, block_ms: int
    ) -> list[tuple[bytes, bytes]]:
        reply = await self.client.xread({stream: after}, count=count, block=block_ms)
        if not reply:
            return []
        out: list[tuple[bytes, bytes]] = []
        for entries in reply.values():
            for entry in entries:
                blob = entry.field_values.get(b"c")
                if blob is not None:
                    out.append((_bytes(entry.identifier), _bytes(blob)))
        return out


class _KeptConnection:
    """A coredis transport read and written in the caller's task, one command at a time."""

    def __init__(self, stream: anyio.abc.ByteStream, timeout: float | None) -> None:
        from coredis.parser import NotEnoughData, Parser

        self.stream = stream
        self.timeout = timeout
        self._parser = Parser()
        self._not_enough = NotEnoughData
        self._pack = _pack_command or _coredis_pack

    @classmethod
    async def open(cls, pool: Any) -> _KeptConnection:
        """Connect as the pool's connections do, then coredis's handshake."""
        kwargs = pool.connection_kwargs
        # The connection class opens the transport; its own tasks never run.
        template = pool.connection_class(pool.location, **kwargs)
        try:
            stream = await template._connect()
        finally:
            _close_buffers(template)
        own = cls(stream, kwargs.get("stream_timeout"))
        try:
            hello: list[Arg] = ["HELLO", 3]
            provider = kwargs.get("credential_provider")
            if provider is not None:
                creds = await provider.get_credentials()
                hello += ["AUTH", creds.username, creds.password or b""]
            elif kwargs.get("username") or kwargs.get("password"):
                hello += ["AUTH", kwargs.get("username") or "default", kwargs.get("password") or ""]
            setup: list[tuple[Arg, ...]] = [tuple(hello)]
            if kwargs.get("db"):
                setup.append(("SELECT", kwargs["db"]))
            if kwargs.get("client_name") is not None:
                setup.append(("CLIENT", "SETNAME", kwargs["client_name"]))
            if kwargs.get("noevict"):
                setup.append(("CLIENT", "NO-EVICT", "ON"))
            if kwargs.get("notouch"):
                setup.append(("CLIENT", "NO-TOUCH", "ON"))
            for command in setup:
                reply = await own.call(command)
                if isinstance(reply, BaseException):
                    raise reply
        except BaseException:
            await anyio.aclose_forcefully(stream)
            raise
        return own

    async def call(self, command: tuple[Arg, ...]) -> Any:
        """Send ``command`` and read its reply (an error reply is returned, not raised)."""
        if self.timeout is None:
            return await self._round_trip(command)
        with anyio.fail_after(self.timeout):
            return await self._round_trip(command)

    async def _round_trip(self, command: tuple[Arg, ...]) -> Any:
        stream, parser = self.stream, self._parser
        await stream.send(self._pack(command))
        while True:
            parsed = parser.parse(decode=False, encoding=None)
            if isinstance(parsed, self._not_enough):
                parser.feed(await stream.receive())
            elif parsed[0] != _PUSH:  # a push message is no command's reply
                return parsed[1]


def _coredis_pack(command: tuple[Arg, ...]) -> bytes:
    """coredis's own packer, for when hiredis is not installed."""
    from coredis._packer import Packer

    return b"".join(Packer("utf-8").pack_command(_bytes(command[0]), *command[1:]))


_PUSH = ord(">")  # RESP3 push messages' type (coredis's DataType.PUSH)
_STREAM_ERRORS = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError)


def _connection_error(message: str) -> Exception:
    from coredis.exceptions import ConnectionError as CoredisConnectionError

    return CoredisConnectionError(message)


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
