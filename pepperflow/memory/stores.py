"""R055's memory stores: views over one pepperflow store each.

``get`` returns a :class:`~pepperflow.MemoryEntry` built from the store's
entry; ``set``, ``delete``, ``exists``, ``scan`` and ``clear`` are the
store's own operations under R055's names. Every write and every expiry is
a change in the store's change feed (``memory.store.changes()``).

* :class:`BaseMemoryStore` works over any pepperflow store (or a store URL).
* :class:`LocalMemoryStore` keeps entries in process.
* :class:`RedisMemoryStore` keeps them in Redis, shared across processes.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, overload
from urllib.parse import parse_qsl

from .._binding import StoreBinding
from .._patterns import compile_pattern
from .._redact import redacted
from .._runner import Runner
from .._store_specs import StoreSpec, check_type, named_url, resolve, store_options
from .._view import StoreView, view_meter
from ..sinks.metrics import MetricsSink
from ..sinks.metrics._meter import measured, store_registry
from ..stores.base import Store
from ..stores.memory import MemoryStore as _MemoryBackend
from ..stores.redis import RedisStore
from ._types import MemoryEntry, MemoryStore

__all__ = ["BaseMemoryStore", "LocalMemoryStore", "RedisMemoryStore"]

T = TypeVar("T")

_DEFAULT_NAMESPACE = "memory"


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _found(entry: MemoryEntry[Any] | None) -> str:
    return "not_found" if entry is None else "ok"


class BaseMemoryStore(StoreView, MemoryStore[T]):
    """R055's memory store over a pepperflow store.

    Args:
        store: a pepperflow store (the application's: it opens and closes
            it), or a store URL or SQLite file path (the memory store then
            owns the store it builds: ``async with`` runs it, ``aclose()``
            closes it; without ``async with`` it opens on first use).
        type: the values' type (``Any`` by default). A store built from a
            URL or path keeps values of that type, so ``get`` gives a
            :class:`~pepperflow.MemoryEntry` whose ``value`` is a ``type``
            instance on every backend, and a value that is not one is
            refused (:class:`~pepperflow.InvalidValue`); a store given as
            it is must have been built with the same ``type=`` (without
            ``type=`` the memory store keeps the store's type).
        metrics: the application's :class:`~pepperflow.MetricsSink`, if
            operations are to be recorded. A store the memory store builds
            (from a URL or a path; a LocalMemoryStore's, a
            RedisMemoryStore's) reports the standard store metrics into it
            too when it is a :class:`~pepperflow.MetricsRegistry` (another
            sink gets the operations only).

    ``get``, ``set``, ``delete``, ``exists`` and ``clear`` are each recorded
    as :mod:`pepperflow.sinks.metrics._meter` describes, with ``component="memory"`` and
    the store's name as ``store``; a ``get`` or ``delete`` that finds no
    key (absent or expired) has the outcome ``"not_found"``.
    """

    @overload
    def __init__(
        self: BaseMemoryStore[Any], store: StoreSpec, *, metrics: MetricsSink | None = None
    ) -> None: ...

    @overload
    def __init__(
        self,
        store: StoreSpec,
        *,
        type: builtins.type[T],
        metrics: MetricsSink | None = None,
    ) -> None: ...

    def __init__(
        self, store: StoreSpec, *, type: Any = Any, metrics: MetricsSink | None = None
    ) -> None:
        what = f"{builtins.type(self).__name__}(store=...)"
        registry = store_registry(metrics)
        built, make = resolve(store, None, what=what, value_type=type, metrics=registry)
        self._setup(built, make, metrics)

    def _setup(self, store: Store[Any], make: Any, metrics: MetricsSink | None) -> None:
        owner = f"{type(self).__name__} {store.name!r}"
        runner = None if make is None else Runner(owner)
        binding = StoreBinding(owner, store, make=make, runner=runner)
        self._init_view(binding, runner, view_meter(metrics, "memory", store=store.name))

    @property
    def name(self) -> str:
        """The store's name (its namespace)."""
        return self.store.name

    def __repr__(self) -> str:
        return f"<{type(self).__name__} over {self.store!r}>"

    @measured("get", outcome=_found)
    async def get(self, key: str) -> MemoryEntry[T] | None:
        store = self._binding.ready or await self._binding.open()
        entry = await store.entry(key)
        if entry is None:
            return None
        value: T = entry.value
        return MemoryEntry(
            entry.key,
            value,
            None if entry.expires_at is None else _time(entry.expires_at),
            entry.metadata,
            created_at=_time(entry.created_at),
            updated_at=_time(entry.updated_at),
            version=entry.version,
        )

    @measured("set")
    async def set(
        self,
        key: str,
        value: T,
        ttl: timedelta | float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        store = self._binding.ready or await self._binding.open()
        await store.set(key, value, ttl=ttl, metadata=metadata)

    def scan(self, pattern: str | None = None, batch_size: int = 100) -> AsyncIterator[str]:
        if type(batch_size) is not int or batch_size < 1:
            raise ValueError(f"{self!r}: batch_size must be an int >= 1, got {batch_size!r}")
        compile_pattern(pattern)
        return _Scan(self._binding, pattern, batch_size)

    @measured("clear")
    async def clear(self, pattern: str | None = None) -> int:
        store = self._binding.ready or await self._binding.open()
        return await store.clear(pattern)


class _Scan:
    """The keys of a scan; the store opens (if it must) on the first step."""

    __slots__ = ("_batch", "_binding", "_keys", "_pattern")

    def __init__(self, binding: StoreBinding, pattern: str | None, batch_size: int) -> None:
        self._binding = binding
        self._pattern = pattern
        self._batch = batch_size
        self._keys: AsyncIterator[str] | None = None

    def __aiter__(self) -> _Scan:
        return self

    async def __anext__(self) -> str:
        keys = self._keys
        if keys is None:
            store = self._binding.ready or await self._binding.open()
            keys = self._keys = store.scan(self._pattern, batch_size=self._batch)
        return await keys.__anext__()


class LocalMemoryStore(BaseMemoryStore[T]):
    """Entries in process memory (an in-process :class:`~pepperflow.stores.MemoryStore`).

    Works as made; ``async with local:`` also runs its expiry task, so
    expiries are changes within 50 ms of their deadline (otherwise on the
    next access of the key, or of a scan over it).

    Args:
        name: the store's name, carried by its changes.
        type: the values' type (``Any`` by default); see :class:`BaseMemoryStore`.
        metrics: see :class:`BaseMemoryStore`.
    """

    @overload
    def __init__(
        self: LocalMemoryStore[Any], *, name: str = "local", metrics: MetricsSink | None = None
    ) -> None: ...

    @overload
    def __init__(
        self,
        *,
        name: str = "local",
        type: builtins.type[T],
        metrics: MetricsSink | None = None,
    ) -> None: ...

    def __init__(
        self, *, name: str = "local", type: Any = Any, metrics: MetricsSink | None = None
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"LocalMemoryStore name must be a non-empty str, got {name!r}")
        options = store_options(type, store_registry(metrics))

        def make() -> Store[Any]:
            return _MemoryBackend(name, **options)

        self._setup(make(), make, metrics)


class RedisMemoryStore(BaseMemoryStore[T]):
    """Entries in Redis (a :class:`~pepperflow.stores.RedisStore`), shared across processes.

    Args:
        url: ``redis://host:port/db`` (``?namespace=`` included), a
            redis-py or coredis client, or a RedisStore the application
            opened (used as it is).
        namespace: the namespace of the store built from ``url`` or a
            client (``"memory"`` unless the URL names one).
        type: the values' type (``Any`` by default): entries come back as
            ``type`` instances, also those another process wrote; see
            :class:`BaseMemoryStore`.
        metrics: see :class:`BaseMemoryStore`.

    ``async with RedisMemoryStore(url) as memory:`` opens it for a block;
    without it, it opens on first use (in a host task of its own) and
    ``await memory.aclose()``, from any task, closes it.

    Raises:
        ValueError: a URL that is not ``redis://``/``rediss://``, or two
            different namespaces (in the URL and the argument).
    """

    @overload
    def __init__(
        self: RedisMemoryStore[Any],
        url: str | RedisStore[Any] | Any = "redis://127.0.0.1:6379/0",
        *,
        namespace: str | None = None,
        metrics: MetricsSink | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        url: str | RedisStore[Any] | Any = "redis://127.0.0.1:6379/0",
        *,
        namespace: str | None = None,
        type: builtins.type[T],
        metrics: MetricsSink | None = None,
    ) -> None: ...

    def __init__(
        self,
        url: str | RedisStore[Any] | Any = "redis://127.0.0.1:6379/0",
        *,
        namespace: str | None = None,
        type: Any = Any,
        metrics: MetricsSink | None = None,
    ) -> None:
        what = "RedisMemoryStore(url=...)"
        if isinstance(url, RedisStore):
            if namespace is not None and namespace != url.namespace:
                raise ValueError(
                    f"RedisMemoryStore: the store's namespace is {url.namespace!r},"
                    f" not {namespace!r}; drop namespace= or pass a URL"
                )
            self._setup(check_type(url, type, what=what), None, metrics)
            return
        if isinstance(url, Store):
            raise TypeError(
                f"RedisMemoryStore needs a RedisStore, got {url!r}; use"
                " BaseMemoryStore(store) for other stores"
            )
        registry = store_registry(metrics)
        if isinstance(url, str):
            spec = _redis_url(url, namespace)

            def make() -> Store[Any]:
                built, _ = resolve(spec, None, what=what, value_type=type, metrics=registry)
                return built

        else:
            client, options = url, store_options(type, registry)

            def make() -> Store[Any]:
                return RedisStore(client, namespace=namespace or _DEFAULT_NAMESPACE, **options)

        self._setup(make(), make, metrics)


def _redis_url(url: str, namespace: str | None) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("redis", "rediss"):
        raise ValueError(
            f"RedisMemoryStore needs a redis:// or rediss:// URL, got {redacted(url)!r};"
            " use BaseMemoryStore(url) for other stores"
        )
    options = dict(parse_qsl(rest.partition("?")[2].partition("#")[0], keep_blank_values=True))
    given = options.get("namespace")
    if given is not None:
        if namespace is not None and namespace != given:
            raise ValueError(
                f"RedisMemoryStore: the URL names namespace {given!r} and the argument"
                f" {namespace!r}; give one"
            )
        return url
    return named_url(url, namespace or _DEFAULT_NAMESPACE)
