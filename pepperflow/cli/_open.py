"""Opening the store a command's URL names, the way a command-line user expects.

:func:`opened` is :func:`~pepperflow.open_store` with one difference: a
command that only reads (``get``, ``ls``, ``rm``, ``stats``, ``watch``,
``copy``'s source) refuses a SQLite URL whose file does not exist, where
opening it would quietly create an empty store (a typo in a path then
reads as "no keys"). ``set``, ``copy``'s destination and ``demo`` create it.
"""

from __future__ import annotations

import os
from typing import Any

from .._errors import StoreUnavailable
from .._redact import redacted
from ..stores.url import StoreOpening, store_from_url

__all__ = ["opened"]


def opened(url: str, *, create: bool = False) -> StoreOpening[Any]:
    """The store ``url`` names, to ``async with``; see the module docstring.

    Raises:
        StoreUnavailable: ``url`` is a SQLite file that does not exist and
            ``create`` is false.
        UnknownStoreURL, MissingExtra: as :func:`~pepperflow.open_store`.
    """
    store = store_from_url(url)
    path = getattr(store, "path", None) if store.backend == "sqlite" else None
    if not create and isinstance(path, str | os.PathLike) and not os.path.exists(path):
        raise StoreUnavailable(
            f"{redacted(url)}: there is no SQLite file {os.path.abspath(path)!r};"
            " check the path (sqlite:///relative.db, sqlite:////absolute.db);"
            " `pepperflow set` creates the file"
        )
    return StoreOpening(store)
