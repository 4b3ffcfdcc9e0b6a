"""``open_store(url)``: open any store from a URL.

Schemes are looked up in :data:`BACKENDS`; each backend is imported only
when its scheme is used, and a missing optional dependency raises
:class:`~pepperflow.MissingExtra` naming the extra to install.

``memory://`` and ``memory://NAME`` open a :class:`~pepperflow.stores.MemoryStore`
(``NAME`` defaults to ``"default"``; ``?name=`` works too).

``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` open a
:class:`~pepperflow.stores.SqliteStore`; options go in the query string:
``namespace``, ``durability`` (``normal`` or ``full``), ``busy_timeout``,
``poll_interval`` and ``callback_timeout`` (seconds), ``retain`` (changes).

``redis://[[user]:password@]host[:port][/db]`` and ``rediss://...`` (TLS)
open a :class:`~pepperflow.stores.RedisStore`; its options go in the query
string: ``namespace``, ``changelog_length``, ``sweep_interval``,
``callback_timeout`` (seconds), ``driver`` (``auto``, ``redis-py`` or
``coredis``), ``durability`` (``acknowledged`` or ``replicated``) and
``replication_timeout`` (seconds). Other query options are the Redis client's (e.g.
``ssl_cert_reqs``). ``redis+cluster://host:port,host:port/...`` (and
``rediss+cluster://``) names a Redis Cluster's seed nodes; a plain URL may
name any node of one (docs/redis.md, "Redis Cluster").

Every part of the URL is read here, before anything opens: a URL that is
malformed, has an unknown scheme, no host, a port outside 1-65535, a Redis
path that is not a database number, a ``#fragment``, an option given
twice, an unknown option (sqlite, memory) or an option's value not of its
form (:mod:`._url_parts`) raises :class:`~pepperflow.UnknownStoreURL`
naming the part, the value and what to write. Every message shows the URL
:func:`~pepperflow._redact.redacted`: never its password.

``open_store(url, type=T, metadata_type=M)`` opens a store of values of
type ``T`` (a ``Store[T]``; see :mod:`pepperflow.stores._codec`);
``open_store(url, metrics=registry)`` one that reports into a
:class:`~pepperflow.MetricsRegistry` (:mod:`pepperflow.sinks.metrics._stores`).

What :func:`open_store` returns is used one of two ways:

* ``async with open_store(url) as store:`` runs the store for the block,
  in the task that enters it;
* ``store = await open_store(url)`` opens the store and keeps it open,
  beyond the task that awaited it, until ``await store.aclose()`` (from any
  task). This is for notebooks and REPLs, where each cell runs in a task of
  its own: the store runs in a detached host task
  (:func:`pepperflow._lifecycle.hold`), which enters it, waits until asked
  to stop, and closes it, so its background tasks' task group is entered
  and exited by one task.
"""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar, overload
from urllib.parse import urlencode, urlsplit, urlunsplit

from .._errors import MissingExtra, UnknownStoreURL
from .._lifecycle import hold
from .._redact import redacted
from ..sinks.metrics import MetricsRegistry
from ._codec import Metadata
from ._url_parts import read_options, seconds, text, whole
from .base import Store

__all__ = ["BACKENDS", "StoreOpening", "open_store", "require"]

T = TypeVar("T")


#: A memory URL's query option.
_MEMORY_OPTIONS = {"name": text("a store name", "cache")}


def _memory(url: str, **options: Any) -> Store[Any]:
    from .memory import MemoryStore

    parts = urlsplit(url)
    query, unknown = read_options(parts.query, _MEMORY_OPTIONS)
    if "@" in parts.netloc:
        raise UnknownStoreURL("a memory:// URL has no user or password; write memory://NAME")
    if parts.path not in ("", "/"):
        raise UnknownStoreURL("a memory:// URL has no path; name the store as memory://NAME")
    if unknown:
        raise UnknownStoreURL(
            f"memory:// takes only the option 'name', not {sorted(dict(unknown))}"
        )
    name = query.get("name") or parts.netloc or "default"
    return MemoryStore(name, **options)


#: A sqlite URL's query options: how each is read into SqliteStore's argument.
_SQLITE_OPTIONS = {
    "namespace": text("a name", "app"),
    "durability": text("'normal' or 'full'", "full"),
    "busy_timeout": seconds("5"),
    "poll_interval": seconds("0.1"),
    "retain": whole("a whole number of changes", "100000"),
    "callback_timeout": seconds("5"),
}


def _sqlite(url: str, **options: Any) -> Store[Any]:
    from .sqlite import SqliteStore

    parts = urlsplit(url)
    if parts.netloc:
        raise UnknownStoreURL(
            "a sqlite URL has no host; write sqlite:///relative.db or sqlite:////absolute/path.db"
        )
    path = parts.path[1:]
    if not path:
        raise UnknownStoreURL("name the file, e.g. sqlite:///app.db")
    kwargs, unknown = read_options(parts.query, _SQLITE_OPTIONS)
    if unknown:
        raise UnknownStoreURL(
            f"unknown sqlite option(s) {sorted(dict(unknown))}; known: {', '.join(_SQLITE_OPTIONS)}"
        )
    return _built(SqliteStore, path, **kwargs, **options)


#: A redis URL's options that are RedisStore's; the other options are the
#: Redis client's, passed on in the URL it connects with.
_REDIS_OPTIONS = {
    "namespace": text("a name", "app"),
    "changelog_length": whole("a whole number of changes", "100000"),
    "sweep_interval": seconds("1"),
    "driver": text("'auto', 'redis-py' or 'coredis'", "auto"),
    "durability": text("'acknowledged' or 'replicated'", "replicated"),
    "replication_timeout": seconds("1"),
    "callback_timeout": seconds("5"),
}


def _redis(url: str, **options: Any) -> Store[Any]:
    from .redis import RedisStore

    parts = urlsplit(url)  # RedisStore checks the host, port and database (its _target)
    kwargs, client_query = read_options(parts.query, _REDIS_OPTIONS)
    client_url = urlunsplit(parts._replace(query=urlencode(client_query)))
    return _built(RedisStore, client_url, **kwargs, **options)


def _built(backend: Callable[..., Store[Any]], *args: Any, **kwargs: Any) -> Store[Any]:
    """``backend(*args, **kwargs)``; a ValueError of its options is UnknownStoreURL."""
    try:
        return backend(*args, **kwargs)
    except ValueError as exc:
        raise UnknownStoreURL(str(exc)) from exc


#: URL scheme -> function that builds an (unopened) store from the URL:
#: called as ``factory(url)`` for an untyped store without metrics, with
#: ``type=T, metadata_type=M`` for a typed one and ``metrics=registry``
#: for one reporting into a registry (the store's own arguments). A factory
#: raises ``UnknownStoreURL(reason)`` for a URL it cannot open; the
#: reason never quotes the URL: :func:`store_from_url` puts it in front,
#: redacted.
BACKENDS: dict[str, Callable[..., Store[Any]]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "redis": _redis,
    "rediss": _redis,
    "redis+cluster": _redis,
    "rediss+cluster": _redis,
}


def require(module: str, extra: str, feature: str) -> object:
    """Import ``module`` or raise MissingExtra telling how to install ``extra``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is None or module.split(".")[0] != exc.name.split(".")[0]:
            raise
        raise MissingExtra(
            f"{feature} needs the {module!r} package, which is not installed;"
            f" install it with: pip install 'pepperflow[{extra}]'"
        ) from exc


def store_from_url(
    url: str,
    *,
    type: Any = Any,
    metadata_type: Any = Metadata,
    shown: str | None = None,
    metrics: MetricsRegistry | None = None,
) -> Store[Any]:
    """Build the store ``url`` names, of values ``type``, without opening it.

    ``shown`` is the URL errors name (``url`` by default; a façade that
    added its view's name to the user's URL names the user's), always
    :func:`~pepperflow._redact.redacted`. ``metrics`` is the registry the
    store reports into (its ``metrics=``).

    Raises:
        UnknownStoreURL: the URL is malformed, or its scheme or an option is
            unknown or bad; the message says which and what to write.
        MissingExtra: the backend's optional dependency is not installed.
        TypeError: ``metrics`` is not a :class:`~pepperflow.MetricsRegistry`.
    """
    if not isinstance(url, str):
        raise UnknownStoreURL(
            f"a store URL must be a str, got {builtins.type(url).__name__}: {redacted(url)}"
        )
    where = repr(redacted(url if shown is None else shown))
    options: dict[str, Any] = {}
    if type != Any or metadata_type != Metadata:
        options.update(type=type, metadata_type=metadata_type)
    if metrics is not None:
        options["metrics"] = metrics
    try:
        return _factory(url)(url, **options)
    except UnknownStoreURL as exc:
        raise UnknownStoreURL(f"{where}: {exc}") from exc.__cause__


def _factory(url: str) -> Callable[..., Store[Any]]:
    """The backend's factory for ``url``'s scheme, once the URL parses.

    Raises:
        UnknownStoreURL: the reason (without the URL).
    """
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise UnknownStoreURL(
            "not a store URL; write SCHEME://..., e.g. 'memory://'"
            f" (schemes: {', '.join(sorted(BACKENDS))})"
        )
    factory = BACKENDS.get(scheme.lower())
    if factory is None:
        raise UnknownStoreURL(
            f"unknown store scheme {scheme!r}; known schemes: {', '.join(sorted(BACKENDS))}"
        )
    if "#" in url:
        raise UnknownStoreURL("a store URL has no #fragment; write a '#' in a password as %23")
    try:
        urlsplit(url)
    except ValueError as exc:  # e.g. an unclosed '[' of an IPv6 address
        raise UnknownStoreURL(f"a malformed URL ({exc})") from None
    return factory


class StoreOpening(Generic[T]):
    """What :func:`open_store` returns: a store to run for a block, or to hold open.

    ``async with opening as store:`` runs the store for the block;
    ``store = await opening`` opens it and keeps it open until
    ``await store.aclose()`` (see the module docstring). Either once.
    """

    __slots__ = ("store",)

    def __init__(self, store: Store[T]) -> None:
        #: The store, built and not yet open.
        self.store = store

    async def __aenter__(self) -> Store[T]:
        return await self.store.__aenter__()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.store.aclose()

    def __await__(self) -> Generator[Any, None, Store[T]]:
        return hold(self.store).__await__()

    def __repr__(self) -> str:
        return f"<StoreOpening of {self.store!r}>"

    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> NoReturn:
            raise AttributeError(
                f"{name!r}: open_store(url) gives no store until it is opened; write"
                " `store = await open_store(url)` or `async with open_store(url) as store:`"
            )


@overload
def open_store(
    url: str, *, metadata_type: Any = ..., metrics: MetricsRegistry | None = ...
) -> StoreOpening[Any]: ...


@overload
def open_store(
    url: str,
    *,
    type: builtins.type[T],
    metadata_type: Any = ...,
    metrics: MetricsRegistry | None = ...,
) -> StoreOpening[T]: ...


@overload
def open_store(
    url: str, *, type: object, metadata_type: Any = ..., metrics: MetricsRegistry | None = ...
) -> StoreOpening[Any]: ...


def open_store(
    url: str,
    *,
    type: Any = Any,
    metadata_type: Any = Metadata,
    metrics: MetricsRegistry | None = None,
) -> StoreOpening[Any]:
    """Open the store ``url`` names: ``async with`` it, or ``await`` it.

    ::

        async with open_store("memory://") as store:  # runs for the block
            await store.set("k", "v")

        store = await open_store("sqlite:///notes.db")  # in a notebook cell
        await store.set("k", "v")  # in a later cell
        await store.aclose()

    ``type`` is the values' type (``Any`` by default): with
    ``type=Msg`` the store is a ``Store[Msg]``, refuses values that are not
    ``Msg`` and reads give ``Msg`` instances on every backend;
    ``metadata_type`` is the metadata's (``dict[str, Any]`` by default). A
    type that is not a class (a union such as ``type=Ask | Answer``) gives
    a ``Store[Any]`` to type checkers: annotate the variable
    (``store: Store[Ask | Answer] = await open_store(...)``).

    ``metrics`` is a :class:`~pepperflow.MetricsRegistry` the store
    reports into: the standard store metrics (docs/sinks.md), as the
    backend's own ``metrics=`` gives them.

    Raises:
        UnknownStoreURL: the scheme or an option is unknown.
        MissingExtra: the backend's optional dependency is not installed.
        TypeError: ``metrics`` is not a :class:`~pepperflow.MetricsRegistry`.
    """
    return StoreOpening(
        store_from_url(url, type=type, metadata_type=metadata_type, metrics=metrics)
    )
