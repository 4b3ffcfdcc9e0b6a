"""Storage providers of each backend for the storage tests, and what they share.

The ``providers`` fixture is parametrized over ``memory`` and ``sqlite``; it
gives a :class:`Providers`, which each call makes a provider of its backend
over a store of its own (``name``), or, given the same name again on SQLite,
over the same store's data (a restart).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from pepperflow import LocalStorageProvider, SqliteStorageProvider
from pepperflow.storage.stores import _StoreStorage

__all__ = ["Providers", "providers"]

_names = itertools.count()


class Providers:
    """Makes storage providers of one backend (``memory`` or ``sqlite``)."""

    def __init__(self, backend: str, directory: Path) -> None:
        self.backend = backend
        self.directory = directory

    @property
    def persistent(self) -> bool:
        """Whether a provider made again with the same name sees the items."""
        return self.backend == "sqlite"

    def new_name(self) -> str:
        return f"storage-{next(_names)}"

    def __call__(self, name: str | None = None, **options: Any) -> _StoreStorage[Any]:
        """A provider over the store ``name`` (a new one by default); ``options``: ``type=``."""
        name = self.new_name() if name is None else name
        if self.backend == "memory":
            return LocalStorageProvider(name=name, **options)
        return SqliteStorageProvider(self.directory / "storage.db", namespace=name, **options)


@pytest.fixture(params=["memory", "sqlite"])
def providers(request: pytest.FixtureRequest, tmp_path: Path) -> Providers:
    """A :class:`Providers` of each backend in turn."""
    return Providers(str(request.param), tmp_path)
