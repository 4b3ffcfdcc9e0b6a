"""bench_sqlite.py's peers and sizes: stdlib ``sqlite3`` (the limit) and aiosqlite.

stdlib ``sqlite3`` does the same work directly and synchronously on a
``(key TEXT PRIMARY KEY, value BLOB)`` table in WAL mode; aiosqlite (asyncio
only) awaits each statement through its thread. See bench_sqlite.py.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from _timing import rate

__all__ = [
    "BATCH",
    "KEYS",
    "Sizes",
    "aiosqlite_rows",
    "batch",
    "connect",
    "fmt",
    "sqlite3_rows",
    "sync_rate",
]

SyncOp = Callable[[int], Any]
KEYS = [f"user:{i}" for i in range(1000)]
BATCH = 1000  # keys per set_many / executemany


class Sizes:
    """How many operations each figure takes."""

    def __init__(self, quick: bool) -> None:
        self.get = 50_000 if quick else 200_000
        self.set = 1_000 if quick else 4_000
        self.set_full = 200 if quick else 1_000
        self.batches = 5 if quick else 20  # set_many(1,000) calls per run
        self.replay = 20_000 if quick else 100_000
        self.aio = 500 if quick else 2_000
        self.repeat = 3


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}"


def sync_rate(op: SyncOp, n: int, repeat: int) -> float:
    """Best ops/s of ``repeat`` runs of ``n`` calls of ``op``."""
    best = 0.0
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for i in range(n):
            op(i)
        best = max(best, n / (time.perf_counter() - start))
    return best


def batch(round_: int) -> dict[str, int]:
    return dict.fromkeys(KEYS, round_)


# -- stdlib sqlite3: the limit ---------------------------------------------------

SCHEMA = "CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID"
UPSERT = "INSERT OR REPLACE INTO kv VALUES (?, ?)"
SELECT = "SELECT value FROM kv WHERE key = ?"
VALUE = b"\x01"


def connect(path: str, synchronous: str = "NORMAL") -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(SCHEMA)
    conn.executemany(UPSERT, [(key, VALUE) for key in KEYS])
    conn.commit()
    return conn


def sqlite3_rows(directory: str, sizes: Sizes) -> dict[str, float]:
    rows: dict[str, float] = {}
    repeat = sizes.repeat
    for synchronous, n in (("NORMAL", sizes.set), ("FULL", sizes.set_full)):
        conn = connect(os.path.join(directory, f"sqlite3-{synchronous}.db"), synchronous)

        def upsert(i: int, conn: sqlite3.Connection = conn) -> None:
            conn.execute(UPSERT, (KEYS[i % 1000], VALUE))
            conn.commit()

        rows[f"set ({synchronous.lower()})"] = sync_rate(upsert, n, repeat)
        conn.close()

    conn = connect(os.path.join(directory, "sqlite3.db"))

    def select(i: int) -> None:
        conn.execute(SELECT, (KEYS[i % 1000],)).fetchone()

    rows["get"] = sync_rate(select, sizes.get, 5)

    def executemany(i: int) -> None:
        conn.executemany(UPSERT, [(key, VALUE) for key in KEYS])
        conn.commit()

    rows["set_many(1000)"] = BATCH * sync_rate(executemany, sizes.batches, repeat)

    total = sizes.replay
    conn.executemany(UPSERT, [(f"item:{i}", VALUE) for i in range(total)])
    conn.commit()
    conn.execute("DELETE FROM kv WHERE key NOT LIKE 'item:%'")
    conn.commit()

    def read_all(_: int) -> None:
        assert len(conn.execute("SELECT key, value FROM kv").fetchall()) == total

    rows["full read"] = total * sync_rate(read_all, 1, repeat)
    conn.close()
    return rows


# -- aiosqlite (asyncio only) ------------------------------------------------------


async def aiosqlite_rows(directory: str, sizes: Sizes) -> dict[str, float]:
    try:
        import aiosqlite  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        print("aiosqlite is not installed (pip install aiosqlite): its column is empty\n")
        return {}
    rows: dict[str, float] = {}
    repeat = sizes.repeat
    path = os.path.join(directory, "aiosqlite.db")
    connect(path).close()
    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA synchronous=NORMAL")

        async def upsert(i: int) -> None:
            await db.execute(UPSERT, (KEYS[i % 1000], VALUE))
            await db.commit()

        async def select(i: int) -> None:
            await db.execute_fetchall(SELECT, (KEYS[i % 1000],))

        async def executemany(i: int) -> None:
            await db.executemany(UPSERT, [(key, VALUE) for key in KEYS])
            await db.commit()

        rows["set (normal)"] = await rate(upsert, sizes.aio, repeat)
        rows["get"] = await rate(select, sizes.aio * 2, repeat)
        rows["set_many(1000)"] = BATCH * await rate(executemany, sizes.batches, repeat)
    return rows
