"""Storage providers of each backend for the storage tests, and what they share.

The ``providers`` fixture is parametrized over ``memory``, ``sqlite`` and
``redis`` (the session's private server; redis-py on asyncio, coredis on
trio); it gives a :class:`Providers`, which each call makes a provider of
its backend over a store of its own (``name``), or, given the same name
again on SQLite or Redis, over the same store's data (a restart).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from pepperflow import LocalStorageProvider, RedisStorageProvider, SqliteStorageProvider
from pepperflow.storage.stores import _StoreStorage
from tests.support.redis_server import RedisServer

__all__ = ["Providers", "make_providers", "providers"]

_names = itertools.count()


class Providers:
    """Makes storage providers of one backend (``memory``, ``sqlite`` or ``redis``)."""

    def __init__(self, backend: str, directory: Path, server: RedisServer | None = None) -> None:
        self.backend = backend
        self.directory = directory
        self.server = server

    @property
    def persistent(self) -> bool:
        """Whether a provider made again with the same name sees the items."""
        return self.backend != "memory"

    def new_name(self) -> str:
        return f"storage-{next(_names)}"

    def __call__(self, name: str | None = None, **options: Any) -> _StoreStorage[Any]:
        """A provider over the store ``name`` (a new one by default); ``options``: ``type=``."""
        name = self.new_name() if name is None else name
        if self.backend == "memory":
            return LocalStorageProvider(name=name, **options)
        if self.backend == "redis":
            assert self.server is not None
            config = {"host": self.server.host, "port": self.server.port}
            return RedisStorageProvider(config, namespace=name, **options)
        return SqliteStorageProvider(self.directory / "storage.db", namespace=name, **options)


def make_providers(request: pytest.FixtureRequest, backend: str, directory: Path) -> Providers:
    """A :class:`Providers` of ``backend``; on ``redis``, over the session's
    server; on ``redis-cluster``, over the session's cluster (the provider's
    ``host`` and ``port`` name one of its nodes)."""
    server: RedisServer | None = None
    if backend == "redis-cluster":
        server = request.getfixturevalue("redis_cluster").nodes[0]
        return Providers("redis", directory, server)
    if backend == "redis":
        server = request.getfixturevalue("redis_server")
        server.ensure_running()
    return Providers(backend, directory, server)


@pytest.fixture(params=["memory", "sqlite", "redis"])
def providers(request: pytest.FixtureRequest, tmp_path: Path) -> Providers:
    """A :class:`Providers` of each backend in turn."""
    return make_providers(request, str(request.param), tmp_path)
