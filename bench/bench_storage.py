"""R065's storage: a search by one tag through the index, next to a full scan, on asyncio and trio.

    python bench/bench_storage.py [--quick] [--items N] [--scale]

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

``--scale`` measures the same at 1,000, 10,000, 100,000 and 1,000,000
items (``--quick``: 1,000 and 10,000; 1,000,000 on asyncio, memory and
SQLite only: a fill and a full scan of that many take minutes), prints a table per
backend and the targets at each scale (the index's 50x from 100,000 items
on, where issue #16 set it: with fewer, the 100 matches are a tenth of the
items or more), and draws docs/img/storage_scale_*.svg.
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
from _plots import plot
from _scale import check, load_average
from _servers import private_redis

from pepperflow import (
    LocalStorageProvider,
    RedisStorageProvider,
    SqliteStorageProvider,
    StorageQuery,
)
from pepperflow.storage.stores import _StoreStorage

HOT = 100
PROVIDERS = ("memory", "sqlite", "redis")
SPEEDUP = 50  # the index at least this many times faster than the scan
SAVE_MS, LOAD_MS = 50, 20  # R065's p99 latencies
#: ``--scale``: the numbers of items; Redis and trio up to REDIS_ITEMS (a
#: fill and a full scan of 1,000,000 items take minutes each).
SCALES = (1_000, 10_000, 100_000, 1_000_000)
REDIS_ITEMS = 100_000
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


async def measure(provider: _StoreStorage[Any], items: int) -> dict[str, float]:
    """The figures of one provider filled with ``items`` items."""
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
    return {
        "fill, s": filled,
        "index, ms": index_s * 1000,
        "scan, ms": scan_s * 1000,
        "save p99, ms": save,
        "load p99, ms": load,
    }


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def lines(name: str, items: int, figures: dict[str, float]) -> list[str]:
    speedup = figures["scan, ms"] / figures["index, ms"]
    save, load = figures["save p99, ms"], figures["load p99, ms"]
    return [
        f"{name}: {items:,} items filled in {figures['fill, s']:.1f} s",
        f"  search by one tag ({HOT} matches), index: {figures['index, ms']:9.2f} ms",
        f"  the same by a full scan:                 {figures['scan, ms']:9.2f} ms",
        f"  index / scan: {speedup:,.0f}x faster"
        f" (target >= {SPEEDUP}x: {verdict(speedup >= SPEEDUP)})",
        f"  save p99 {save:.2f} ms (target < {SAVE_MS} ms: {verdict(save < SAVE_MS)}),"
        f" load p99 {load:.3f} ms (target < {LOAD_MS} ms: {verdict(load < LOAD_MS)})",
    ]


async def run(
    items: int, directory: Path, redis_url: str, providers: tuple[str, ...] = PROVIDERS
) -> dict[str, dict[str, float]]:
    """Fill and measure each provider named in ``providers``; print and return the figures."""
    made: dict[str, Callable[[], _StoreStorage[Any]]] = {
        "memory": lambda: LocalStorageProvider(name="bench"),
        "sqlite": lambda: SqliteStorageProvider(directory / f"bench-{time.monotonic_ns()}.db"),
        "redis": lambda: RedisStorageProvider(redis_url, namespace=f"bench-{next(_namespaces)}"),
    }
    results = {name: await measure(made[name](), items) for name in providers}
    print(f"-- {sniffio.current_async_library()}")
    for name, figures in results.items():
        print("\n".join(lines(name, items, figures)), flush=True)
    return results


def scale(scales: tuple[int, ...], directory: Path, redis_url: str) -> list[str]:
    """The figures at each number of items, on asyncio and trio: tables, plots, targets missed."""
    results: dict[str, dict[int, dict[str, dict[str, float]]]] = {"asyncio": {}, "trio": {}}
    for items in scales:
        providers = PROVIDERS if items <= REDIS_ITEMS else PROVIDERS[:2]
        for backend, figures in results.items():
            if backend == "asyncio" or items <= REDIS_ITEMS:
                figures[items] = anyio.run(
                    run, items, directory, redis_url, providers, backend=backend
                )
    failures: list[str] = []
    search: dict[str, list[tuple[float, float]]] = {}
    latency: dict[str, list[tuple[float, float]]] = {}
    for backend, figures in results.items():
        print(
            f"\n{'items (' + backend + ')':<26}{'index ms':>10}{'scan ms':>11}{'scan/index':>12}",
            end="",
        )
        print(f"{'save p99 ms':>13}{'load p99 ms':>13}")
        for name in PROVIDERS:
            runs = {items: row[name] for items, row in figures.items() if name in row}
            for items, row in runs.items():
                print(
                    f"{name + f' {items:,}':<26}{row['index, ms']:>10.2f}{row['scan, ms']:>11.1f}"
                    f"{row['scan, ms'] / row['index, ms']:>11,.0f}x"
                    f"{row['save p99, ms']:>13.2f}{row['load p99, ms']:>13.3f}"
                )
            for figure in ("index, ms", "scan, ms"):
                search[f"{name} {figure[:-4]} ({backend})"] = [
                    (n, r[figure]) for n, r in runs.items()
                ]
            for figure in ("save p99, ms", "load p99, ms"):
                latency[f"{name} {figure[:-4]} ({backend})"] = [
                    (n, r[figure]) for n, r in runs.items()
                ]
        print(f"targets ({backend})")
        for items, by_provider in figures.items():
            for name, fig in by_provider.items():
                if items >= 100_000:
                    speedup = fig["scan, ms"] / fig["index, ms"]
                    failures += check(backend, f"{name}, {items:,}: scan / index", speedup, SPEEDUP)
                failures += check(
                    backend, f"{name}, {items:,}: save p99, ms", fig["save p99, ms"], SAVE_MS, False
                )
                failures += check(
                    backend, f"{name}, {items:,}: load p99, ms", fig["load p99, ms"], LOAD_MS, False
                )
    plot(
        "storage_scale_search",
        "Search by one tag: index and full scan",
        "items",
        "ms",
        search,
        logy=True,
    )
    plot(
        "storage_scale_latency", "Save and load, 99th percentile", "items", "ms", latency, logy=True
    )
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 items instead of 100,000")
    parser.add_argument("--items", type=int, default=None)
    parser.add_argument(
        "--scale", action="store_true", help="1,000 to 1,000,000 items (--quick: to 10,000)"
    )
    args = parser.parse_args()
    items = args.items or (10_000 if args.quick else 100_000)
    print(f"load average {load_average()}")
    with tempfile.TemporaryDirectory() as directory, private_redis() as redis_url:
        if args.scale:
            scales = SCALES[:2] if args.quick else SCALES
            for failure in scale(scales, Path(directory), redis_url):
                print("target missed:", failure)
        else:
            for backend in ("asyncio", "trio"):
                anyio.run(run, items, Path(directory), redis_url, backend=backend)
    print(f"load average after the run: {load_average()}")


if __name__ == "__main__":
    main()
