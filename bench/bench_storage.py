"""R065's storage: a search by one tag through the index, next to a full scan, on asyncio and trio.

    python bench/bench_storage.py [--quick] [--items N]

Fills a provider with ``N`` items (100,000 by default; 10,000 with
``--quick``), 100 of them tagged ``run=hot``, over ``LocalStorageProvider``
(memory), ``SqliteStorageProvider`` (a file in a temporary directory) and
``RedisStorageProvider`` (a private redis-server on a free loopback port,
started by the bench; redis-py on asyncio, coredis on trio).
Then measures:

* ``search(StorageQuery(tags={"run": "hot"}))`` to its end, through the
  store's index;
* the same answer by a full scan, as R065's sketch searches: every key
  (``store.scan()``), each item loaded and its tags checked;
* R065's latency targets: a save under 50 ms and a load under 20 ms, at
  the 99th percentile, over 1,000 of each on the filled provider.

Prints a table per backend and whether the targets were met (the index at
least 50x faster than the scan; the latencies). Always exits 0: it is a
report.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import sniffio
from _servers import private_redis

from pepperflow import (
    LocalStorageProvider,
    RedisStorageProvider,
    SqliteStorageProvider,
    StorageQuery,
)
from pepperflow.storage.stores import _StoreStorage

HOT = 100
_namespaces = itertools.count()
QUERY = StorageQuery(tags={"run": "hot"})


async def fill(provider: _StoreStorage[Any], items: int) -> None:
    """``items`` saves from 64 writer tasks (a SQLite file commits them in groups)."""
    every = items // HOT

    async def writer(start: int) -> None:
        for i in range(start, items, 64):
            run = "hot" if i % every == 0 else f"r{i % 997}"
            await provider.save(f"item:{i}", {"n": i, "text": "x" * 64}, "doc", tags={"run": run})

    async with anyio.create_task_group() as group:
        for start in range(64):
            group.start_soon(writer, start)


async def by_index(provider: _StoreStorage[Any]) -> int:
    return len([result async for result in provider.search(QUERY)])


async def by_scan(provider: _StoreStorage[Any]) -> int:
    found = 0
    async for key in provider.store.scan():
        item = await provider.load(key)
        if item.metadata.tags.get("run") == "hot":
            found += 1
    return found


async def best_seconds(search: Callable[[], Any], repeat: int) -> tuple[float, int]:
    best, count = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        count = await search()
        best = min(best, time.perf_counter() - start)
    return best, count


async def p99_ms(op: Callable[[int], Any], n: int = 1000) -> float:
    times = []
    for i in range(n):
        start = time.perf_counter()
        await op(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.quantiles(times, n=100)[98]


async def measure(name: str, provider: _StoreStorage[Any], items: int) -> list[str]:
    async with provider:
        started = time.perf_counter()
        await fill(provider, items)
        filled = time.perf_counter() - started
        index_s, index_n = await best_seconds(lambda: by_index(provider), 5)
        scan_s, scan_n = await best_seconds(lambda: by_scan(provider), 1)
        assert index_n == scan_n == HOT, (index_n, scan_n)
        save = await p99_ms(
            lambda i: provider.save(f"item:{i}", {"n": -i}, "doc", tags={"run": "w"})
        )
        load = await p99_ms(lambda i: provider.load(f"item:{i}"))
    speedup = scan_s / index_s

    def verdict(met: bool) -> str:
        return "met" if met else "NOT met"

    return [
        f"{name}: {items:,} items filled in {filled:.1f} s",
        f"  search by one tag ({HOT} matches), index: {index_s * 1000:9.2f} ms",
        f"  the same by a full scan:                 {scan_s * 1000:9.2f} ms",
        f"  index / scan: {speedup:,.0f}x faster (target >= 50x: {verdict(speedup >= 50)})",
        f"  save p99 {save:.2f} ms (target < 50 ms: {verdict(save < 50)}),"
        f" load p99 {load:.3f} ms (target < 20 ms: {verdict(load < 20)})",
    ]


async def run(items: int, directory: Path, redis_url: str) -> None:
    lines = await measure("memory", LocalStorageProvider(name="bench"), items)
    path = directory / f"bench-{time.monotonic_ns()}.db"
    lines += await measure("sqlite", SqliteStorageProvider(path), items)
    namespace = f"bench-{next(_namespaces)}"
    lines += await measure("redis", RedisStorageProvider(redis_url, namespace=namespace), items)
    print(f"-- {sniffio.current_async_library()}")
    print("\n".join(lines), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 items instead of 100,000")
    parser.add_argument("--items", type=int, default=None)
    args = parser.parse_args()
    items = args.items or (10_000 if args.quick else 100_000)
    with tempfile.TemporaryDirectory() as directory, private_redis() as redis_url:
        for backend in ("asyncio", "trio"):
            anyio.run(run, items, Path(directory), redis_url, backend=backend)


if __name__ == "__main__":
    main()
