"""Change-stream pipelines next to aioreactive's and reactivex's, on asyncio and trio.

    python bench/bench_streams.py [--quick]

Events/s pushed through, in one run, per backend:

- ``store -> filter -> map -> observer``: a MemoryStore's ``changes()``
  subscribed through aioreactive's ``filter`` and ``map``; the writer does
  one ``set`` per event, or ``set_many`` of 1,000 keys per batch; next to
  ``store -> async callback`` (``store.subscribe``, no operators: the cost
  of the write and its delivery alone);
- ``subject -> map -> filter``: pepperflow's ``Subject`` through aioreactive's
  ``map`` and ``filter``, the same chain on aioreactive's own ``AsyncSubject``
  (asyncio only: it is built on asyncio), and reactivex's synchronous
  ``Subject`` with its ``map`` and ``filter`` (the no-await floor);
- ``latest subject -> map -> filter``: the same chain on a keyed
  ``LatestSubject`` (it records each value's key before delivering);
- ``subject -> skip -> distinct -> take``: three pepperflow operators;
- ``subject -> map -> filter (fused)`` and ``store -> filter -> map (set,
  fused)``: the same chains on pepperflow's own ``map``/``filter``, which
  fuse into one observer;
- ``subject -> debounce`` and ``subject -> buffer(100)`` / ``buffer(100,
  seconds=1)``: the producer's side of the time operators.

Every pipeline ends in an observer that counts, and each figure is the best
of 5 runs. The target: a three-stage pepperflow pipeline carries at least
1,000,000 events/s. The machine is shared, so compare ratios within a run.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aioreactive as rx
import anyio
import anyio.abc
import reactivex
import reactivex.operators as ops
from aioreactive import AsyncObserver

from pepperflow.stores import MemoryStore
from pepperflow.streams import (
    Change,
    LatestSubject,
    Operator,
    SetChange,
    Subject,
    buffer,
    debounce,
    distinct_until_changed,
    filter,
    map,
    pipe,
    skip,
    take,
)

TARGET = 1_000_000
THREE_STAGE = "subject -> map -> filter"


class Count(AsyncObserver[Any]):
    def __init__(self) -> None:
        self.n = 0

    async def asend(self, value: Any) -> None:
        self.n += 1

    async def athrow(self, error: Exception) -> None:
        raise error

    async def aclose(self) -> None:
        return None


def is_even(x: int) -> bool:
    return x % 2 == 0


def plus_one(x: int) -> int:
    return x + 1


def is_set(change: Change) -> bool:
    return isinstance(change, SetChange)


def value_of(change: Change) -> Any:
    return change.value if isinstance(change, SetChange) else None


async def best(run: Callable[[int], Awaitable[int]], n: int, repeat: int = 5) -> float:
    """Best events/s of ``repeat`` runs; ``run(n)`` returns the events it pushed."""
    rate = 0.0
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        events = await run(n)
        rate = max(rate, events / (time.perf_counter() - start))
    return rate


async def store_set(n: int) -> int:
    async with MemoryStore() as store:
        count = Count()
        chain = rx.pipe(store.changes(), rx.filter(is_set), rx.map(value_of))
        await chain.subscribe_async(count)
        for i in range(n):
            await store.set("k", i)
        assert count.n == n
    return n


async def store_set_fused(n: int) -> int:
    async with MemoryStore() as store:
        count = Count()
        await pipe(store.changes(), filter(is_set), map(value_of)).subscribe_async(count)
        for i in range(n):
            await store.set("k", i)
        assert count.n == n
    return n


async def store_callback(n: int) -> int:
    """The store's own cost: one awaited async callback per set, no operators."""
    async with MemoryStore() as store:
        seen = [0]

        async def callback(change: Change) -> None:
            seen[0] += 1

        store.subscribe(None, callback)
        for i in range(n):
            await store.set("k", i)
        assert seen[0] == n
    return n


async def store_set_many(n: int) -> int:
    async with MemoryStore() as store:
        count = Count()
        chain = rx.pipe(store.changes(), rx.filter(is_set), rx.map(value_of))
        await chain.subscribe_async(count)
        batch = [f"k{i}" for i in range(1000)]
        for _ in range(n // 1000):
            await store.set_many(dict.fromkeys(batch, 1))
        assert count.n == n // 1000 * 1000
    return count.n


async def push(subject: Any, n: int) -> int:
    for i in range(n):
        await subject.asend(i)
    return n


async def pepperflow_subject_rx_ops(n: int) -> int:
    subject: Subject[int] = Subject()
    count = Count()
    await rx.pipe(subject, rx.map(plus_one), rx.filter(is_even)).subscribe_async(count)
    return await push(subject, n)


async def pepperflow_fused(n: int) -> int:
    subject: Subject[int] = Subject()
    count = Count()
    await pipe(subject, map(plus_one), filter(is_even)).subscribe_async(count)
    return await push(subject, n)


async def pepperflow_latest_subject(n: int) -> int:
    subject: LatestSubject[int] = LatestSubject(key=is_even)
    count = Count()
    await rx.pipe(subject, rx.map(plus_one), rx.filter(is_even)).subscribe_async(count)
    return await push(subject, n)


async def aioreactive_subject(n: int) -> int:
    subject: rx.AsyncSubject[int] = rx.AsyncSubject()
    count = Count()
    await rx.pipe(subject, rx.map(plus_one), rx.filter(is_even)).subscribe_async(count)
    return await push(subject, n)


async def reactivex_subject(n: int) -> int:
    subject: reactivex.subject.Subject[int] = reactivex.subject.Subject()
    seen = [0]

    def on_next(value: int) -> None:
        seen[0] += 1

    subject.pipe(ops.map(plus_one), ops.filter(is_even)).subscribe(on_next)
    for i in range(n):
        subject.on_next(i)
    return n


async def pepperflow_operators(n: int) -> int:
    subject: Subject[int] = Subject()
    count = Count()
    first: Operator[int, int] = skip(1)  # typed: mypy cannot infer generic operators here
    second: Operator[int, int] = distinct_until_changed()
    third: Operator[int, int] = take(n)
    await pipe(subject, first, second, third).subscribe_async(count)
    return await push(subject, n)


def with_task_group(
    make: Callable[[anyio.abc.TaskGroup], Any],
) -> Callable[[int], Awaitable[int]]:
    async def run(n: int) -> int:
        async with anyio.create_task_group() as tg:
            subject: Subject[int] = Subject()
            count = Count()
            await pipe(subject, make(tg)).subscribe_async(count)
            await push(subject, n)
            await subject.aclose()
        return n

    return run


async def run_backend(backend: str, n: int) -> dict[str, float]:
    rows: dict[str, float] = {}
    rows["store -> async callback (set)"] = await best(store_callback, n)
    rows["store -> filter -> map (set)"] = await best(store_set, n)
    rows["store -> filter -> map (set, fused)"] = await best(store_set_fused, n)
    rows["store -> filter -> map (set_many)"] = await best(store_set_many, n)
    rows[THREE_STAGE] = await best(pepperflow_subject_rx_ops, n)
    if backend == "asyncio":
        rows["  aioreactive AsyncSubject"] = await best(aioreactive_subject, n)
    rows["  reactivex Subject (sync)"] = await best(reactivex_subject, n)
    rows["subject -> map -> filter (fused)"] = await best(pepperflow_fused, n)
    rows["latest subject -> map -> filter"] = await best(pepperflow_latest_subject, n)
    rows["subject -> skip -> distinct -> take"] = await best(pepperflow_operators, n)
    rows["subject -> debounce(1s)"] = await best(
        with_task_group(lambda tg: debounce(1, task_group=tg)), n
    )
    rows["subject -> buffer(100)"] = await best(with_task_group(lambda tg: buffer(100)), n)
    rows["subject -> buffer(100, seconds=1)"] = await best(
        with_task_group(lambda tg: buffer(100, seconds=1, task_group=tg)), n
    )
    return rows


def report(backend: str, rows: dict[str, float]) -> list[str]:
    print(f"\npipeline ({backend}){'events/s':>35}   vs aioreactive")
    print("-" * 66)
    peer = rows.get("  aioreactive AsyncSubject")
    for name, value in rows.items():
        ratio = f"{value / peer:10.2f}x" if peer else ""
        print(f"{name:<36}{value:>14,.0f}{ratio}")
    failures = []
    for name in (THREE_STAGE, "subject -> skip -> distinct -> take"):
        if rows[name] < TARGET:
            failures.append(f"{backend}: {name} {rows[name]:,.0f} events/s < {TARGET:,}")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 events per figure")
    n = 20_000 if parser.parse_args().quick else 200_000
    print(f"pepperflow streams benchmark: {n:,} events per figure, best of 5")
    print(f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores")
    failures: list[str] = []
    for backend in ("asyncio", "trio"):
        rows = anyio.run(run_backend, backend, n, backend=backend)
        failures += report(backend, rows)
    print()
    for failure in failures:
        print("target missed:", failure)
    if not failures:
        print(f"target met on asyncio and trio: three-stage pipelines >= {TARGET:,} events/s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
