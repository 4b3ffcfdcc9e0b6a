"""A new store of each backend, per call: for tests that open many (Hypothesis examples).

The ``new_store`` fixture is parametrized over ``memory``, ``sqlite`` and
``redis``; it gives a :class:`NewStore`, which each call opens a new, empty
store of its backend (a new SQLite file, a new namespace on the session's
private Redis server) or, given a name, another store over that store's data::

    async with new_store() as store:
        await store.set("k", 1)
        async with new_store(store.name) as again:  # SQLite, Redis: sees "k"
            ...

It only uses fixtures of the session, so a Hypothesis test may take it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from pepperflow.stores import MemoryStore, RedisStore, SqliteStore
from pepperflow.stores.base import Store
from tests.support.redis_server import RedisServer

__all__ = ["NewStore", "new_store"]

_names = itertools.count()


class NewStore:
    """Opens stores of one backend (``memory``, ``sqlite`` or ``redis``)."""

    def __init__(self, backend: str, directory: Path, server: RedisServer | None) -> None:
        self.backend = backend
        self._directory = directory
        self._server = server

    @asynccontextmanager
    async def __call__(self, name: str | None = None, **options: Any) -> AsyncIterator[Store[Any]]:
        """An open store: new and empty, or over the data of the store ``name``
        (``options``: ``type=``, ``metadata_type=``)."""
        new = name is None
        name = f"new-{next(_names)}" if name is None else name
        store: Store[Any]
        if self.backend == "memory":
            store = MemoryStore(name, **options)
        elif self.backend == "sqlite":
            store = SqliteStore(self._directory / f"{name}.db", namespace=name, **options)
        else:
            assert self._server is not None
            store = RedisStore(self._server.url, namespace=name, **options)
        try:
            async with store:
                yield store
        finally:
            if new and self._server is not None:
                _drop_namespace(self._server, name)


def _drop_namespace(server: RedisServer, namespace: str) -> None:
    client = redis.Redis(host=server.host, port=server.port)
    try:
        keys = list(client.scan_iter(match=f"pf:{{{namespace}}}:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def new_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> NewStore:
    """A :class:`NewStore` of each backend in turn."""
    backend = str(request.param)
    server: RedisServer | None = None
    if backend == "redis":
        server = request.getfixturevalue("redis_server")
        server.ensure_running()
    return NewStore(backend, tmp_path_factory.mktemp(backend), server)
