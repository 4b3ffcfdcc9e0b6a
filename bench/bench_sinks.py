"""Write-behind throughput: a MemoryStore in front of SqliteStore and RedisStore.

    python bench/bench_sinks.py [--quick]

Each figure is changes per second from the first ``set`` on the MemoryStore
to the return of the write-behind's ``aclose()`` (every change in the
target), best of several runs, on asyncio and trio:

- *distinct keys*: every change sets a new key (nothing to coalesce: every
  change is written to the target);
- *1,000 hot keys*: the changes cycle over 1,000 keys (a batch writes each
  key once, however often it changed in the batch window).

For the runs into SQLite with distinct keys, the CPU time each change cost
is printed too: in the event loop's thread (the source's ``set``, its
delivery into the sink's feed, the sink's batches, the target folding in
each commit) and in the other threads (SqliteStore's connection thread:
building the changelog rows, SQLite's inserts and commits; its checkpoints'
thread). The threads share the interpreter lock: only SQLite's own work
(with the lock released: the checkpoints, most of all) overlaps the loop's.

Next to them, the bounds, in the same run: MemoryStore ``set`` alone (the
source); the target's own ``set_many`` of 1,000 keys (what a batch costs
at best); and for SQLite, the stdlib ``sqlite3`` module inserting the same
changelog rows (the same table, WAL mode, ``synchronous=NORMAL``, 1,000
rows and a commit per transaction), with ``executemany`` and with
SqliteStore's statements of 199 rows: what the file costs at least.
SqliteStore files go in a fresh temporary directory; Redis is a private
``redis-server`` on a free port of 127.0.0.1 (bench_redis.py's).
Target: the write-behind moves at least 200,000 changes/s into SqliteStore
(distinct keys). Always exits 0: it is a report.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
from _redis_bench import private_server
from _scale import load_average

from pepperflow.sinks import WriteBehind
from pepperflow.stores import MemoryStore, RedisStore, SqliteStore, Store
from pepperflow.stores.sqlite._schema import MIGRATIONS
from pepperflow.stores.sqlite._transaction import ROWS_PER_INSERT
from pepperflow.streams import SetChange

TARGET = 200_000  # changes/s into SqliteStore
HOT_KEYS = 1000
DISTINCT = "write-behind -> SQLite, distinct keys"
RAW = "sqlite3 executemany(1000) (raw)"
_runs = itertools.count()

Target = Callable[[], Any]  # an async context manager of an open target store
#: (changes or keys per second, loop CPU µs per change, other threads' CPU µs per change)
Figure = tuple[float, float, float]


@asynccontextmanager
async def sqlite_target(directory: str) -> AsyncIterator[Store[Any]]:
    async with SqliteStore(os.path.join(directory, f"t{next(_runs)}.db")) as store:
        yield store


@asynccontextmanager
async def redis_target(url: str) -> AsyncIterator[Store[Any]]:
    async with RedisStore(url, namespace=f"bench-{next(_runs)}") as store:
        yield store


async def write_behind(target: Target, n: int, keys: int | None) -> Figure:
    """Changes/s through a write-behind into ``target()``, until aclose() returns,
    and the CPU each change cost in the loop's thread and in the others."""
    names = [f"key:{i}" for i in range(n if keys is None else keys)]
    width = len(names)
    async with MemoryStore() as cache, target() as store:
        gc.collect()
        start, loop, process = time.perf_counter(), time.thread_time(), time.process_time()
        async with WriteBehind(cache, store):
            for i in range(n):
                await cache.set(names[i % width], i)
        elapsed = time.perf_counter() - start
        loop = time.thread_time() - loop
        others = time.process_time() - process - loop
        assert store.statistics().keys == width or isinstance(store, RedisStore)
    return n / elapsed, loop / n * 1e6, others / n * 1e6


async def memory_set(n: int) -> Figure:
    async with MemoryStore() as cache:
        names = [f"key:{i}" for i in range(n)]
        start = time.perf_counter()
        for name in names:
            await cache.set(name, 1)
        return n / (time.perf_counter() - start), 0.0, 0.0


async def set_many(target: Target, n: int) -> Figure:
    async with target() as store:
        batches = [{f"key:{i}": i for i in range(j, j + 1000)} for j in range(0, n, 1000)]
        start = time.perf_counter()
        for batch in batches:
            await store.set_many(batch)
        return n / (time.perf_counter() - start), 0.0, 0.0


def changelog_rows(n: int) -> list[tuple[str, int, str, int, bytes]]:
    """SqliteStore's changelog rows of ``n`` first sets of distinct keys."""
    encode = msgspec.msgpack.Encoder().encode
    now = time.time()
    return [
        ("default", seq, key, 1, encode(SetChange("default", key, 1, seq, now, seq, now)))
        for seq, key in ((seq, f"key:{seq}") for seq in range(1, n + 1))
    ]


def raw_sqlite(directory: str, n: int, per_statement: int | None) -> Figure:
    """Rows/s of the stdlib sqlite3 module inserting ``n`` changelog rows, 1,000
    per transaction: ``executemany`` (``per_statement=None``) or INSERTs of
    ``per_statement`` rows."""
    rows = changelog_rows(n)
    conn = sqlite3.connect(os.path.join(directory, f"raw{next(_runs)}.db"), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        for statement in MIGRATIONS[1]:
            conn.execute(statement)
        one = "INSERT INTO pepperflow_changes VALUES (?, ?, ?, ?, ?)"
        start = time.perf_counter()
        for batch in _chunks(rows, 1000):
            conn.execute("BEGIN IMMEDIATE")
            if per_statement is None:
                conn.executemany(one, batch)
            else:
                for part in _chunks(batch, per_statement):
                    values = ", ".join(["(?, ?, ?, ?, ?)"] * len(part))
                    flat = list(itertools.chain.from_iterable(part))
                    conn.execute(f"INSERT INTO pepperflow_changes VALUES {values}", flat)
            conn.execute("COMMIT")
        return n / (time.perf_counter() - start), 0.0, 0.0
    finally:
        conn.close()


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def run_backend(
    directory: str, url: str, n: int, n_redis: int, repeat: int
) -> dict[str, Figure]:
    sqlite = lambda: sqlite_target(directory)  # noqa: E731
    redis = lambda: redis_target(url)  # noqa: E731

    async def raw(per_statement: int | None) -> Figure:
        return raw_sqlite(directory, n, per_statement)

    figures: dict[str, Callable[[], Any]] = {
        "MemoryStore set (source bound)": lambda: memory_set(n),
        RAW: lambda: raw(None),
        f"sqlite3 INSERTs of {ROWS_PER_INSERT} rows (raw)": lambda: raw(ROWS_PER_INSERT),
        "SqliteStore set_many(1000) (bound)": lambda: set_many(sqlite, n),
        DISTINCT: lambda: write_behind(sqlite, n, None),
        "write-behind -> SQLite, 1,000 hot keys": lambda: write_behind(sqlite, n, HOT_KEYS),
        "RedisStore set_many(1000) (bound)": lambda: set_many(redis, n_redis),
        "write-behind -> Redis, distinct keys": lambda: write_behind(redis, n_redis, None),
        "write-behind -> Redis, 1,000 hot keys": lambda: write_behind(redis, n_redis, HOT_KEYS),
    }
    best: dict[str, Figure] = dict.fromkeys(figures, (0.0, 0.0, 0.0))
    for _ in range(repeat):  # round-robin: a slow spell of the machine hits all alike
        for name, measure in figures.items():
            best[name] = max(best[name], await measure())
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer changes, fewer runs")
    args = parser.parse_args()
    n, n_redis, repeat = (50_000, 20_000, 2) if args.quick else (200_000, 100_000, 4)
    print(
        f"pepperflow write-behind benchmark: best of {repeat}; {n:,} changes into SQLite,"
        f" {n_redis:,} into Redis per figure"
    )
    print(f"python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version},", end=" ")
    print(f"{platform.machine()}, {os.cpu_count()} cores, load average {load_average()}\n")
    results: dict[str, dict[str, Figure]] = {}
    with private_server() as server, tempfile.TemporaryDirectory() as directory:
        for backend in ("asyncio", "trio"):
            results[backend] = anyio.run(
                run_backend, directory, server.url, n, n_redis, repeat, backend=backend
            )
    print(f"{'changes/s (rows or keys/s for the bounds)':<46}{'asyncio':>12}{'trio':>12}")
    print("-" * 70)
    for name in results["asyncio"]:
        line = f"{name:<46}"
        for backend in ("asyncio", "trio"):
            line += f"{results[backend][name][0]:>12,.0f}"
        print(line)
    print(f"\nload average after the run: {load_average()}\n")
    for backend, figures in results.items():
        got, loop, others = figures[DISTINCT]
        bound = figures["SqliteStore set_many(1000) (bound)"][0]
        raw = figures[RAW][0]
        verdict = "met" if got >= TARGET else "NOT met"
        print(
            f"{backend}: write-behind into SqliteStore {got:,.0f} changes/s: target >="
            f" {TARGET:,} {verdict} ({got / bound:.2f}x the target's own set_many(1000),"
            f" {got / raw:.2f}x the stdlib's executemany of the same rows); CPU per change:"
            f" {loop:.2f} us in the event loop's thread, {others:.2f} us in the others"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
