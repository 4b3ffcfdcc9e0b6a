"""What the sink tests share: a real target store, a real outage of it, and
waiting for what a sink logs or a store receives."""

from __future__ import annotations

import contextlib
import itertools
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from pepperflow.stores import RedisStore, SqliteStore, Store
from tests.support.redis_server import RedisServer

__all__ = ["LogWaiter", "entries_of", "locked", "target_store"]

_namespaces = itertools.count()


@asynccontextmanager
async def target_store(
    kind: str, tmp_path: Path, server: RedisServer, name: str = "target", **options: Any
) -> AsyncIterator[SqliteStore[Any] | RedisStore[Any]]:
    """An open SqliteStore in ``tmp_path`` or a RedisStore (a namespace of its
    own) on ``server``; ``name`` names the file or the namespace."""
    if kind == "sqlite":
        async with SqliteStore(tmp_path / f"{name}.db", namespace=name, **options) as store:
            yield store
    else:
        ns = f"{name}-{next(_namespaces)}"
        async with RedisStore(server.url, namespace=ns, **options) as store:
            yield store


async def entries_of(store: Store[Any], pattern: str | None = None) -> dict[str, tuple[Any, ...]]:
    """key -> (value, metadata, expires_at) of every live key matching ``pattern``."""
    keys = [key async for key in store.scan(pattern)]
    out: dict[str, tuple[Any, ...]] = {}
    for key in keys:
        entry = await store.entry(key)
        if entry is not None:
            out[key] = (entry.value, entry.metadata, entry.expires_at)
    return out


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the write lock of the SQLite file ``path``: its writers get
    "database is locked" (after their busy_timeout) until the block ends."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


class LogWaiter(logging.Handler):
    """Keeps the records of a logger; :meth:`wait` until one passes a test."""

    def __init__(self, logger: str) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._logger = logging.getLogger(logger)
        self._changed = anyio.Event()

    def __enter__(self) -> LogWaiter:
        self._logger.addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._logger.removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self._changed.set()

    async def wait(self, attempt: int) -> logging.LogRecord:
        """The first record whose ``attempt`` field reaches ``attempt`` (10 s at most)."""
        with anyio.fail_after(10):
            while True:
                for record in self.records:
                    if getattr(record, "attempt", 0) >= attempt:
                        return record
                self._changed = anyio.Event()
                await self._changed.wait()
