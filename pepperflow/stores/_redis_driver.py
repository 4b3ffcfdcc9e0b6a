"""Two thin Redis drivers under one command layer.

:class:`~pepperflow.stores.redis.RedisStore` speaks to Redis through
:class:`Driver`: ``EVALSHA`` (raw replies, the same shape from every
client), ``SCRIPT LOAD``, ``HGET`` and a blocking ``XREAD``.
:class:`RedisPyDriver` runs redis-py's asyncio client (asyncio
only; hiredis parses when installed); :class:`CoredisDriver` runs coredis,
which is built on anyio and so runs on trio too.

Drivers never retry a command on their own: a write whose reply was lost
may have been applied, so the store decides (see ``RedisStore``). Clients
the store creates are made without retries; a client the user passes keeps
its own policy (documented).
"""

from __future__ import annotations

import asyncio
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
    async def hget(self, key: str, field: str) -> bytes | None:
        """``HGET``."""

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

    A client the driver made (``owned``) also lends it one connection of its
    pool for keeps: a command that finds it free is sent and read on it
    directly (redis-py's ``send_packed_command``/``read_response``), which
    skips the pool's checkout and the client's bookkeeping, a third of a
    plain command's time here; concurrent commands take the client's usual
    path. A failed or cancelled command drops that connection (redis-py
    disconnects it) and the next one reconnects. A user's client keeps its
    own path and policy throughout.
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
        self._own: Any = None  # the connection kept for direct commands
        self._own_busy = False
        self._own_timeout: float | None = None
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
        if self.owned:
            own, self._own = self._own, None
            if own is not None:
                await self.client.connection_pool.release(own)
            await self.client.aclose()

    async def _direct(self, *command: Arg) -> Any:
        """``command`` on the kept connection (the caller checked it is free)."""
        self._own_busy = True
        try:
            own = self._own
            if own is None:
                own = self._own = await self.client.connection_pool.get_connection()
                # One deadline for the send and the read instead of redis-py's
                # per-send task (asyncio.wait_for).
                self._own_timeout = own.socket_timeout
                own.socket_timeout = None
            packed = own.pack_command(*command) if _pack_command is None else _pack_command(command)
            async with asyncio.timeout(self._own_timeout):
                await own.send_packed_command(packed, check_health=False)
                return await own.read_response()
        finally:
            self._own_busy = False

    async def evalsha(self, sha: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        if self.owned and not self._own_busy:
            return await self._direct("EVALSHA", sha, len(keys), *keys, *args)
        return await self.client.evalsha(sha, len(keys), *keys, *args)

    async def script_load(self, source: str) -> None:
        await self.client.script_load(source)

    async def hget(self, key: str, field: str) -> bytes | None:
        if self.owned and not self._own_busy:
            direct: bytes | None = await self._direct("HGET", key, field)
            return direct
        result: bytes | None = await self.client.hget(key, field)
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


class CoredisDriver(Driver):
    """coredis's ``coredis.Redis`` (anyio: asyncio and trio)."""

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
        async with self.client:
            task_status.started()
            await anyio.sleep_forever()

    async def aclose(self) -> None:
        return None  # run() closed the pool when the store's group ended

    async def evalsha(self, sha: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        return await self.client.evalsha(sha, keys=list(keys), args=list(args))

    async def script_load(self, source: str) -> None:
        await self.client.script_load(source)

    async def hget(self, key: str, field: str) -> bytes | None:
        result: bytes | None = await self.client.hget(key, field)
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
                for name in _CONNECTION_STREAMS:
                    stream = getattr(self, name, None)
                    if stream is not None:
                        stream.close()

    return ClosingTCPConnection


_CONNECTION_STREAMS = (
    "_write_buffer_in",
    "_write_buffer_out",
    "_push_message_buffer_in",
    "_push_message_buffer_out",
    "_streamed_message_buffer_in",
    "_streamed_message_buffer_out",
)
