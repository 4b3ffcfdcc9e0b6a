"""``open_store(url)``: open any store from a URL.

Schemes are looked up in :data:`BACKENDS`; each backend is imported only
when its scheme is used, and a missing optional dependency raises
:class:`~pepperflow.MissingExtra` naming the extra to install.

``memory://`` and ``memory://NAME`` open a :class:`~pepperflow.stores.MemoryStore`
(``NAME`` defaults to ``"default"``; ``?name=`` works too).
"""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import parse_qsl, urlsplit

from .._errors import MissingExtra, UnknownStoreURL
from .base import Store

__all__ = ["BACKENDS", "open_store", "require"]


def _memory(url: str) -> Store:
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


#: URL scheme -> function that builds an (unopened) store from the URL.
BACKENDS: dict[str, Callable[[str], Store]] = {"memory": _memory}


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


def store_from_url(url: str) -> Store:
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
async def open_store(url: str) -> AsyncIterator[Store]:
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
