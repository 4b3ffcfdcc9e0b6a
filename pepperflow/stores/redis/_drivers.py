"""Two thin Redis drivers under one command layer.

:class:`~pepperflow.stores.redis.RedisStore` speaks to Redis through
:class:`Driver`: ``EVALSHA`` (raw replies, the same shape from every
client), ``SCRIPT LOAD``, ``GET`` and a blocking ``XREAD``.
:func:`open_driver` picks one for a URL or a client.
:class:`RedisPyDriver` runs redis-py's asyncio client (asyncio
only; hiredis parses when installed); :class:`CoredisDriver` runs coredis,
which is built on anyio and so runs on trio too.

Drivers never retry a command on their own: a write whose reply was lost
may have been applied, so the store decides (see ``RedisStore``). Clients
the store creates are made without retries; a client the user passes keeps
its own policy (documented).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Literal

import anyio
import anyio.abc

from ._kept import closing_tcp_connection, coredis_wire, redis_py_wire
from ._protocol import Arg, LogEntry
from ._replicated import coredis_waited, redis_py_waited
from ._target import Target
from ._urls import ClientURL
from ._wire import Elsewhere

__all__ = ["CoredisDriver", "Driver", "DriverName", "RedisPyDriver"]

DriverName = Literal["auto", "redis-py", "coredis"]


class Driver(ABC):
    """The commands RedisStore needs, with raw replies (bytes, ints, lists)."""

    #: exceptions meaning "the connection failed": the command may or may not have run
    connection_errors: tuple[type[BaseException], ...] = (OSError,)
    #: the exception of a ``LOADING`` reply (Redis loads its dataset): nothing ran
    loading_error: type[BaseException] = ConnectionError
    #: exceptions of a refused login (``AUTH``): nothing ran
    login_errors: tuple[type[BaseException], ...] = ()
    #: the exception of any other error reply
    response_error: type[BaseException] = Exception
    #: the exception a missing script raises
    noscript_error: type[BaseException] = Exception
    #: what a cluster raises when it did not run the command now: ``CLUSTERDOWN``,
    #: ``TRYAGAIN``, redirects not followed, no node reachable (nothing ran)
    not_run_errors: tuple[type[BaseException], ...] = ()
    #: the ``not_run_errors`` (exact types) of a slot being migrated: ``TRYAGAIN``
    #: (a script's keys split between the slot's nodes), or the cluster client's
    #: redirects and retries ran out (:mod:`._running` waits them out)
    migration_errors: tuple[type[BaseException], ...] = ()
    #: error replies that may be an ACL refusing this client (``NOPERM``); a
    #: refused login is one of ``login_errors``, handled with the unavailable ones
    refusal_errors: tuple[type[BaseException], ...] = ()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Hold what the client needs open while the store runs (a task of its group)."""
        task_status.started()

    @abstractmethod
    async def aclose(self) -> None:
        """Release the connections this driver opened (not a user's client)."""

    #: the redis-py or coredis client
    client: Any
    #: the driver's own connection (a ``KeptWire``; on a cluster a
    #: ``SlotWire``) while it has one
    _kept: Any = None

    async def cluster_enabled(self) -> bool:
        """Whether the server is a node of a Redis Cluster (``INFO cluster``)."""
        info = await self.client.info("cluster")
        return bool(info.get("cluster_enabled", info.get(b"cluster_enabled")))

    async def evalsha(self, sha: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """``EVALSHA`` with the raw reply: on the driver's own connection when
        it is free, else on the client's usual path."""
        kept = self._kept
        if kept is None:
            return await self._client_evalsha(sha, keys, args)
        key = str(keys[0]) if keys else ""
        if kept.free(key):
            try:
                return await kept.call("EVALSHA", sha, len(keys), *keys, *args)
            except Elsewhere:
                pass  # nothing ran: the cluster client's path follows the cluster
        reply = await self._client_evalsha(sha, keys, args)
        kept.answered(key)
        return reply

    @abstractmethod
    async def _client_evalsha(self, sha: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """``EVALSHA`` through the client."""

    async def evalsha_waited(
        self, sha: str, keys: Sequence[Arg], args: Sequence[Arg], replicas: int, timeout_ms: int
    ) -> Any:
        """``EVALSHA``, then ``WAIT replicas timeout_ms`` on its connection
        (:mod:`._replicated`; NotReplicated when too few acknowledged)."""
        raise NotImplementedError(
            f"{type(self).__name__} cannot wait for replicas; use durability='acknowledged'"
        )

    async def script_load(self, source: str) -> None:
        """``SCRIPT LOAD``."""
        await self.client.script_load(source)

    async def get(self, key: str) -> bytes | None:
        """``GET``, on the driver's own connection when it is free."""
        kept = self._kept
        if kept is not None and kept.free(key):
            try:
                direct: bytes | None = await kept.call("GET", key)
                return direct
            except Elsewhere:
                pass  # nothing ran: the cluster client's path follows the cluster
        result: bytes | None = await self.client.get(key)
        if kept is not None:
            kept.answered(key)
        return result

    async def xread(self, stream: str, after: str, count: int, block_ms: int) -> list[LogEntry]:
        """``XREAD COUNT count BLOCK block_ms STREAMS stream after``: the
        changelog's entries (ids ``0-<seq>``)."""
        reply = await self.client.xread({stream: after}, count=count, block=block_ms)
        return self._entries(reply) if reply else []

    @abstractmethod
    def _entries(self, reply: Any) -> list[LogEntry]:
        """The entries of the client's non-empty ``XREAD`` reply."""


def _entry(entry_id: Any, values: Any) -> LogEntry:
    return LogEntry(int(_bytes(entry_id)[2:]), [_bytes(value) for value in values])


def _stream_entries(raw: Any) -> list[LogEntry]:
    """The entries of a stream reply (RESP2's field lists or RESP3's maps)."""
    return [
        _entry(entry_id, fields.values() if isinstance(fields, dict) else fields[1::2])
        for entry_id, fields in raw
    ]


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


class RedisPyDriver(Driver):
    """redis-py's ``redis.asyncio.Redis`` (asyncio only).

    A client the driver made (``owned``) over TCP or a unix socket also gets
    a connection of the driver's own, a :class:`~._wire.KeptWire`,
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

        kwargs = getattr(client, "connection_pool", client).connection_kwargs
        if kwargs.get("decode_responses"):
            raise ValueError(
                "RedisStore needs a redis-py client with decode_responses=False (values"
                " are msgpack bytes); create one with redis.asyncio.Redis(...,"
                " decode_responses=False) or pass a URL"
            )
        self.client = client
        self.owned = owned
        self._kept = self._own_wire(client) if owned else None
        self.connection_errors = (
            redis.exceptions.ConnectionError,
            redis.exceptions.TimeoutError,
            OSError,
        )
        self.loading_error = redis.exceptions.BusyLoadingError
        self.login_errors = (redis.exceptions.AuthenticationError,)
        self.response_error = redis.exceptions.ResponseError
        self.noscript_error = redis.exceptions.NoScriptError
        self.refusal_errors = (redis.exceptions.ResponseError,)

    @classmethod
    def from_url(cls, target: Target, options: ClientURL) -> RedisPyDriver:
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        client = cls._client_from_url(
            target,
            options.url,
            decode_responses=False,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=options.connect_timeout,
            **target.client_options(),
        )
        return cls(client, owned=True)

    @staticmethod
    def _client_from_url(target: Target, url: str, **options: Any) -> Any:
        """The client for ``url`` (``target``'s client URL)."""
        import redis.asyncio

        return redis.asyncio.Redis.from_url(url, **options)

    @staticmethod
    def _own_wire(client: Any) -> Any:
        """The driver's own connection for ``client`` (one it made), or None."""
        return redis_py_wire(client)

    async def aclose(self) -> None:
        if self._kept is not None:
            await self._kept.aclose()
        if self.owned:
            await self.client.aclose()

    async def _client_evalsha(self, sha: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        return await self.client.evalsha(sha, len(keys), *keys, *args)

    async def evalsha_waited(
        self, sha: str, keys: Sequence[Arg], args: Sequence[Arg], replicas: int, timeout_ms: int
    ) -> Any:
        return await redis_py_waited(self.client, sha, keys, args, replicas, timeout_ms)

    def _entries(self, reply: Any) -> list[LogEntry]:
        streams = reply.values() if isinstance(reply, dict) else (e for _n, e in reply)
        return [entry for entries in streams for entry in _stream_entries(_unwrap(entries))]


def _unwrap(entries: Any) -> Any:
    """A stream's entries, from RESP2's list or RESP3's (possibly nested) list."""
    if entries and isinstance(entries[0], list) and entries[0] and isinstance(entries[0][0], list):
        return entries[0]
    return entries


class CoredisDriver(Driver):
    """coredis's ``coredis.Redis`` (anyio: asyncio and trio).

    A client the driver made (``owned``) also gets a connection of the
    driver's own while :meth:`run` holds its pool open, a
    :class:`~._wire.KeptWire`: its transport opened by the pool's
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
        self.loading_error = coredis.exceptions.BusyLoadingError
        self.login_errors = (coredis.exceptions.AuthenticationError,)
        self.response_error = coredis.exceptions.ResponseError
        self.noscript_error = coredis.exceptions.NoScriptError
        self.refusal_errors = (coredis.exceptions.ResponseError,)

    @classmethod
    def from_url(cls, target: Target, options: ClientURL) -> CoredisDriver:
        from coredis.connection import ClusterConnection, TCPConnection
        from coredis.retry import NoRetryPolicy

        client = cls._client_from_url(
            target,
            options.url,
            # Percent-decode the user and password (a '@' written %40), as redis-py does.
            decode_components=True,
            decode_responses=False,
            retry_policy=NoRetryPolicy(),
            verify_version=False,
            connect_timeout=options.connect_timeout,
            **target.client_options(),
        )
        pool = client.connection_pool
        if pool.connection_class in (TCPConnection, ClusterConnection):
            pool.connection_class = closing_tcp_connection(pool.connection_class)
        return cls(client, owned=True)

    @staticmethod
    def _client_from_url(target: Target, url: str, **options: Any) -> Any:
        """The client for ``url`` (``target``'s client URL)."""
        import coredis

        return coredis.Redis.from_url(url, **options)

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Keep the client's connection pool open until cancelled (a task of the store's group)."""
        if not self.owned:
            task_status.started()
            await anyio.sleep_forever()
        try:
            async with self.client:
                self._kept = self._own_wire(self.client.connection_pool)
                task_status.started()
                await anyio.sleep_forever()
        finally:
            await self.aclose()

    @staticmethod
    def _own_wire(pool: Any) -> Any:
        """The driver's own connection beside ``pool`` (the client's), or None."""
        return coredis_wire(pool)

    async def aclose(self) -> None:
        kept, self._kept = self._kept, None  # run() closed the pool
        if kept is not None:
            await kept.aclose()

    async def _client_evalsha(self, sha: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        return await self.client.evalsha(sha, keys=list(keys), args=list(args))

    async def evalsha_waited(
        self, sha: str, keys: Sequence[Arg], args: Sequence[Arg], replicas: int, timeout_ms: int
    ) -> Any:
        return await coredis_waited(self.client, sha, keys, args, replicas, timeout_ms)

    def _entries(self, reply: Any) -> list[LogEntry]:
        return [
            _entry(entry.identifier, entry.field_values.values())
            for entries in reply.values()
            for entry in entries
        ]
