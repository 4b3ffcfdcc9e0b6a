"""``open_store(url)``: open any store from a URL.

Schemes are looked up in :data:`BACKENDS`; each backend is imported only
when its scheme is used, and a missing optional dependency raises
:class:`~pepperflow.MissingExtra` naming the extra to install.

``memory://`` and ``memory://NAME`` open a :class:`~pepperflow.stores.MemoryStore`
(``NAME`` defaults to ``"default"``; ``?name=`` works too).

``sqlite:///relative/path.db`` and ``sqlite:////absolute/path.db`` open a
:class:`~pepperflow.stores.SqliteStore`; options go in the query string:
``namespace``, ``durability`` (``normal`` or ``full``), ``busy_timeout`` and
``poll_interval`` (seconds), ``retain`` (changes).

``redis://[[user]:password@]host[:port][/db]`` and ``rediss://...`` (TLS)
open a :class:`~pepperflow.stores.RedisStore`; its options go in the query
string: ``namespace``, ``changelog_length``, ``sweep_interval`` and
``driver`` (``auto``, ``redis-py`` or ``coredis``). Other query options
are the Redis client's (e.g. ``ssl_cert_reqs``).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .._errors import MissingExtra, UnknownStoreURL
from .base import Store

__all__ = ["BACKENDS", "open_store", "require"]


def _memory(url: str) -> Store[Any]:
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
    return MemoryStore(name)


#: A sqlite URL's query options and how each is read.
_SQLITE_OPTIONS: dict[str, Callable[[str], Any]] = {
    "namespace": str,
    "durability": str,
    "busy_timeout": float,
    "poll_interval": float,
    "retain": int,
}


def _sqlite(url: str) -> Store[Any]:
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
            " durability, busy_timeout, poll_interval, retain"
        )
    try:
        return SqliteStore(path, **kwargs)
    except ValueError as exc:
        raise UnknownStoreURL(f"{url!r}: {exc}") from exc


_REDIS_OPTIONS = ("namespace", "changelog_length", "sweep_interval", "driver")


def _redis(url: str) -> Store[Any]:
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
        return RedisStore(client_url, **kwargs)
    except ValueError as exc:
        raise UnknownStoreURL(f"{url!r}: {exc}") from exc


#: URL scheme -> function that builds an (unopened) store from the URL.
BACKENDS: dict[str, Callable[[str], Store[Any]]] = {
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


def store_from_url(url: str) -> Store[Any]:
    """Build the store ``url`` names, without opening it."""
    if not isinstance(url, str):
        raise UnknownStoreURL(f"a store URL must be a str, got {type(url).__name__}: {url!r}")
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
    return factory(url)


@asynccontextmanager
async def open_store(url: str) -> AsyncIterator[Store[Any]]:
    """Open the store ``url`` names, running it for the block; close it after.

    ::

        async with open_store("memory://") as store:
            await store.set("k", "v")

    Raises:
        UnknownStoreURL: the scheme or an option is unknown.
        MissingExtra: the backend's optional dependency is not installed.
    """
    store = store_from_url(url)
    async with store:
        yield store
