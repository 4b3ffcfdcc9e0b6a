"""What a write costs with many change feeds open, on every backend, asyncio and trio.

    python bench/bench_feeds.py [--quick] [--no-redis]

For 1, 10, 100, 1,000 and 10,000 feeds open on one store (MemoryStore,
SqliteStore on a new file, RedisStore on a private ``redis-server``), each
feed read by a task of its own (``async for``): one feed's pattern matches
the written keys (``hot:``), the others' (``feed{i}:``) match nothing.
Measures, per backend and scale, the wall time of one awaited ``set`` of a
``hot:`` key (delivered to the one matching feed, whose reader keeps up)
and of a ``cold:`` key (no feed matches), best of 3 runs; and, on another
store, of a key that every feed matches (``all``: each write is delivered
to every feed, whose readers keep up: the cost per matching feed). Prints each
figure and its ratio to the same store's with one feed open, measured in
the same run; the targets: with 1,000 feeds open a write costs at most 2x
what it costs with one, and a feed that does not match costs next to
nothing (the 10,000-feed figure against the 1-feed one). Draws the
``hot:`` figures into docs/img/feeds.svg (bench/_plots.py). Always exits
0: it is a report.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, AsyncExitStack, nullcontext
from typing import Any

import anyio
from _plots import plot
from _servers import private_redis

from pepperflow.stores import MemoryStore, SqliteStore
from pepperflow.stores.base import Store
from pepperflow.stores.feed import ChangeFeed

SCALES = (1, 10, 100, 1_000, 10_000)
TARGET_AT = 1_000  # feeds
TARGET = 2.0  # at most this times the cost with one feed
KINDS = ("hot", "cold", "all")

Opener = Callable[[], Any]


async def drain(feed: ChangeFeed) -> None:
    async for _change in feed:
        pass


async def per_write(store: Store[Any], prefix: str, n: int, repeat: int) -> float:
    """Best µs of one awaited set of ``prefix:{i}`` over ``repeat`` runs of ``n``."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for i in range(n):
            await store.set(f"{prefix}:{i % 100}", i)
        best = min(best, (time.perf_counter() - start) / n * 1e6)
    return best


async def measure(opener: Opener, feeds: int, n: int, kinds: tuple[str, ...]) -> dict[str, float]:
    """Per-write µs of a set of each of ``kinds`` with ``feeds`` feeds open: with
    ``all``, every feed's pattern is ``all:``; else one's is ``hot:``."""
    async with opener() as store, AsyncExitStack() as stack, anyio.create_task_group() as tg:
        for i in range(feeds):
            pattern = "all:" if kinds == ("all",) else "hot:" if i == 0 else f"feed{i}:"
            feed = await stack.enter_async_context(store.changes(pattern))
            tg.start_soon(drain, feed)
        await anyio.sleep(0.05)  # every reader is waiting for its first change
        figures = {kind: await per_write(store, kind, n, 3) for kind in kinds}
        tg.cancel_scope.cancel()
    return figures


def openers(directory: str, redis_url: str | None) -> dict[str, Callable[[int], Opener]]:
    """Per backend: given a run number, how to open a new, empty store."""
    from pepperflow.stores.redis import RedisStore

    def memory(_: int) -> Opener:
        return MemoryStore

    def sqlite(run: int) -> Opener:
        return lambda: SqliteStore(os.path.join(directory, f"feeds-{run}.db"))

    def redis(run: int) -> Opener:
        assert redis_url is not None
        return lambda: RedisStore(redis_url, namespace=f"feeds-{run}")

    found: dict[str, Callable[[int], Opener]] = {"memory": memory, "sqlite": sqlite}
    if redis_url is not None:
        found["redis"] = redis
    return found


async def run_backend(
    directory: str, redis_url: str | None, quick: bool
) -> dict[str, dict[int, dict[str, float]]]:
    """backend -> feeds -> kind -> µs per write."""
    results: dict[str, dict[int, dict[str, float]]] = {}
    run = 0
    for name, opener in openers(directory, redis_url).items():
        results[name] = {}
        for feeds in SCALES:
            n = 300 if quick else 1_000
            run += 2
            figures = await measure(opener(run), feeds, n, ("hot", "cold"))
            figures |= await measure(opener(run + 1), feeds, max(20, n // feeds), ("all",))
            results[name][feeds] = figures
    return results


def report(backend: str, results: dict[str, dict[int, dict[str, float]]]) -> list[str]:
    """Print the table; return the missed targets."""
    print(f"{'µs per set (' + backend + ')':<30}" + "".join(f"{n:>16,}" for n in SCALES))
    missed = []
    for name, by_scale in results.items():
        for kind in KINDS:
            base = by_scale[1][kind]
            cells = "".join(
                f"{by_scale[n][kind]:>9.1f} ({by_scale[n][kind] / base:.1f}x)" for n in SCALES
            )
            print(f"{name + ', ' + kind + ' key':<30}{cells}")
            ratio = by_scale[TARGET_AT][kind] / base
            if ratio > TARGET and kind != "all":
                missed.append(
                    f"{backend}: {name} {kind} set with {TARGET_AT:,} feeds {ratio:.2f}x one feed"
                    f" (target <= {TARGET}x)"
                )
    print(
        "  one feed matches the hot: keys (its reader keeps up), every other none; all: every"
        " feed matches (no target);\n  in brackets: against the same store with one feed\n"
    )
    return missed


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer writes per figure")
    parser.add_argument("--no-redis", action="store_true", help="memory and sqlite only")
    args = parser.parse_args()
    print(f"pepperflow: a write with 1 to {SCALES[-1]:,} feeds open, best of 3")
    missed: list[str] = []
    series: dict[str, dict[str, list[tuple[float, float]]]] = {"hot": {}, "all": {}}
    with tempfile.TemporaryDirectory(prefix="bench-feeds-") as directory:
        server: AbstractContextManager[str | None]
        server = nullcontext(None) if args.no_redis else private_redis()
        with server as url:
            for backend in ("asyncio", "trio"):
                results = anyio.run(run_backend, directory, url, args.quick, backend=backend)
                missed += report(backend, results)
                for name, by_scale in results.items():
                    for kind, lines in series.items():
                        lines[f"{name}, {backend}"] = [(n, by_scale[n][kind]) for n in SCALES]
    paths = [
        plot(
            "feeds",
            "A set with N feeds open, one matching",
            "feeds open",
            "µs per set",
            series["hot"],
            logy=True,
        ),
        plot(
            "feeds_all",
            "A set with N feeds open, every one matching",
            "feeds open",
            "µs per set",
            series["all"],
            logy=True,
        ),
    ]
    print("figures: " + ", ".join(str(path) for path in paths))
    if missed:
        print("targets missed:\n  " + "\n  ".join(missed))
    else:
        print(f"all targets met: a set with {TARGET_AT:,} feeds <= {TARGET}x one feed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
