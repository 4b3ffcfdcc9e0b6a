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
``callback_timeout`` (seconds) and ``driver`` (``auto``, ``redis-py`` or
``coredis``). Other query options are the Redis client's (e.g.
``ssl_cert_reqs``).

``open_store(url, type=T, metadata_type=M)`` opens a store of values of
type ``T`` (a ``Store[T]``; see :mod:`pepperflow.stores._codec`).

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
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._errors import MissingExtra, UnknownStoreURL
from .._lifecycle import hold
from ._codec import Metadata
from .base import Store

__all__ = ["BACKENDS", "StoreOpening", "open_store", "require"]

T = TypeVar("T")


def _memory(url: str, **types: Any) -> Store[Any]:
    from .memory import MemoryStore

    parts = urlsplit(url)
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    name = options.pop("name", None) or parts.netloc or "default"
    if parts.path not in ("", "/"):
        raise UnknownStoreURL(
            f"{url!r}: a memory:// URL has no path; name the store as memory://NAME"
        )
    if options:
        raise UnknownStoreURL(
            f"{url!r}: memory:// takes only the option 'name', not {sorted(options)}"
        )
    return MemoryStore(name, **types)


#: A sqlite URL's query options and how each is read.
_SQLITE_OPTIONS: dict[str, Callable[[str], Any]] = {
    "namespace": str,
    "durability": str,
    "busy_timeout": float,
    "poll_interval": float,
    "retain": int,
    "callback_timeout": float,
}


def _sqlite(url: str, **types: Any) -> Store[Any]:
    from .sqlite import SqliteStore

    parts = urlsplit(url)
    if parts.netloc:
        raise UnknownStoreURL(
            f"{url!r}: a sqlite URL has no host; write sqlite:///relative.db or"
            " sqlite:////absolute/path.db"
        )
    path = parts.path[1:]
    if not path:
        raise UnknownStoreURL(f"{url!r}: name the file, e.g. sqlite:///app.db")
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    try:
        kwargs = {
            name: convert(options.pop(name))
            for name, convert in _SQLITE_OPTIONS.items()
            if name in options
        }
    except ValueError as exc:
        raise UnknownStoreURL(f"{url!r}: {exc}") from exc
    if options:
        raise UnknownStoreURL(
            f"{url!r}: unknown sqlite option(s) {sorted(options)}; known: namespace,"
            " durability, busy_timeout, poll_interval, retain, callback_timeout"
        )
    try:
        return SqliteStore(path, **kwargs, **types)
    except ValueError as exc:
        raise UnknownStoreURL(f"{url!r}: {exc}") from exc


_REDIS_OPTIONS = ("namespace", "changelog_length", "sweep_interval", "driver", "callback_timeout")


def _redis(url: str, **types: Any) -> Store[Any]:
    from .redis import RedisStore

    parts = urlsplit(url)
    if not parts.hostname:
        raise UnknownStoreURL(f"{url!r}: name the server, e.g. redis://127.0.0.1:6379/0")
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = {name: value for name, value in query if name in _REDIS_OPTIONS}
    client_query = [(name, value) for name, value in query if name not in _REDIS_OPTIONS]
    client_url = urlunsplit(parts._replace(query=urlencode(client_query)))
    kwargs: dict[str, Any] = {}
    try:
        if "namespace" in options:
            kwargs["namespace"] = options["namespace"]
        if "changelog_length" in options:
            kwargs["changelog_length"] = int(options["changelog_length"])
        if "sweep_interval" in options:
            kwargs["sweep_interval"] = float(options["sweep_interval"])
        if "driver" in options:
            kwargs["driver"] = options["driver"]
        if "callback_timeout" in options:
            kwargs["callback_timeout"] = float(options["callback_timeout"])
        return RedisStore(client_url, **kwargs, **types)
    except ValueError as exc:
        raise UnknownStoreURL(f"{url!r}: {exc}") from exc


#: URL scheme -> function that builds an (unopened) store from the URL:
#: called as ``factory(url)`` for an untyped store, and as
#: ``factory(url, type=T, metadata_type=M)`` for a typed one.
BACKENDS: dict[str, Callable[..., Store[Any]]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "redis": _redis,
    "rediss": _redis,
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


def store_from_url(url: str, *, type: Any = Any, metadata_type: Any = Metadata) -> Store[Any]:
    """Build the store ``url`` names, of values ``type``, without opening it.

    Raises:
        UnknownStoreURL: the scheme or an option is unknown.
        MissingExtra: the backend's optional dependency is not installed.
    """
    if not isinstance(url, str):
        raise UnknownStoreURL(
            f"a store URL must be a str, got {builtins.type(url).__name__}: {url!r}"
        )
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise UnknownStoreURL(
            f"{url!r} is not a store URL; write SCHEME://..., e.g. 'memory://'"
            f" (schemes: {', '.join(sorted(BACKENDS))})"
        )
    factory = BACKENDS.get(scheme.lower())
    if factory is None:
        raise UnknownStoreURL(
            f"{url!r}: unknown store scheme {scheme!r}; known schemes:"
            f" {', '.join(sorted(BACKENDS))}"
        )
    if type == Any and metadata_type == Metadata:
        return factory(url)
    return factory(url, type=type, metadata_type=metadata_type)


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
def open_store(url: str, *, metadata_type: Any = ...) -> StoreOpening[Any]: ...


@overload
def open_store(
    url: str, *, type: builtins.type[T], metadata_type: Any = ...
) -> StoreOpening[T]: ...


@overload
def open_store(url: str, *, type: object, metadata_type: Any = ...) -> StoreOpening[Any]: ...


def open_store(url: str, *, type: Any = Any, metadata_type: Any = Metadata) -> StoreOpening[Any]:
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

    Raises:
        UnknownStoreURL: the scheme or an option is unknown.
        MissingExtra: the backend's optional dependency is not installed.
    """
    return StoreOpening(store_from_url(url, type=type, metadata_type=metadata_type))
