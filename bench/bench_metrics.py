"""What metrics cost: a registry's record, and a store's set with metrics on and off.

    python bench/bench_metrics.py [--quick]

1. A counter increment, a gauge set and a histogram observation on a
   :class:`~pepperflow.MetricsRegistry` for a series recorded before (two
   labels), next to a plain dict increment in the same run (the limit).
   Target: a counter increment under 1 µs (CPU time: what the record
   costs, whatever else the machine runs).
2. ``await store.set(key, i)`` on MemoryStore (asyncio and trio),
   SqliteStore and RedisStore (asyncio; a private ``redis-server`` on a free
   port of 127.0.0.1), without and with ``metrics=MetricsRegistry()``, each
   in a fresh process, alternately, the best of several rounds. Target:
   metrics cost at most 10% of MemoryStore's set. On a loaded machine the
   figures move by more than that between runs: read the load average
   printed beside them.

Prints the figures, then the targets and whether they were met. Always
exits 0: it is a report.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
from _servers import private_redis
from _timing import rate

from pepperflow import MetricsRegistry
from pepperflow.stores import MemoryStore, RedisStore, SqliteStore, Store

KEYS = [f"user:{i}" for i in range(1000)]
MakeStore = Callable[[MetricsRegistry | None], Store[Any]]


def ns_per_call(fn: Callable[[], object], n: int, repeat: int = 7) -> float:
    """Best CPU nanoseconds per call of ``fn`` over ``repeat`` runs of ``n`` calls."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.process_time()
        for _ in range(n):
            fn()
        best = min(best, (time.process_time() - start) / n * 1e9)
    return best


def record_rows(n: int) -> dict[str, float]:
    registry = MetricsRegistry()
    plain: dict[tuple[str, str, str], int] = {}
    key = ("pepperflow_store_operations", "app", "set")

    def dict_increment() -> None:
        plain[key] = plain.get(key, 0) + 1

    rows = {"plain dict increment": ns_per_call(dict_increment, n)}
    registry.counter("ops", 1, store="app", operation="set")
    rows["registry counter"] = ns_per_call(
        lambda: registry.counter("ops", 1, store="app", operation="set"), n
    )
    rows["registry gauge"] = ns_per_call(lambda: registry.gauge("depth", 3, store="app"), n)
    rows["registry histogram"] = ns_per_call(
        lambda: registry.histogram("seconds", 0.00042, store="app", operation="set"), n
    )
    return rows


async def set_rate(make: MakeStore, metrics: bool, n: int, cpu: bool) -> float:
    """Best set/s of one store, made with or without a registry; ``cpu``: per
    second of this process's CPU time (for a store that never waits)."""
    async with make(MetricsRegistry() if metrics else None) as store:
        for key in KEYS:
            await store.set(key, 0)
        if not cpu:
            return await rate(lambda i: store.set(KEYS[i % 1000], i), n, 3)
        best = 0.0
        for _ in range(3):
            gc.collect()
            start = time.process_time()
            for i in range(n):
                await store.set(KEYS[i % 1000], i)
            best = max(best, n / (time.process_time() - start))
        return best


def child(argv: list[str]) -> None:
    """Measure one configuration in this process (``--child STORE LOOP on|off N [URL]``)."""
    name, loop, mode, n, where = argv
    makers: dict[str, MakeStore] = {
        "memory": lambda m: MemoryStore("m", metrics=m),
        "sqlite": lambda m: SqliteStore(Path(where) / f"{mode}.db", metrics=m),
        "redis": lambda m: RedisStore(where, namespace=f"bench-{mode}", metrics=m),
    }
    cpu = name == "memory"
    print(anyio.run(set_rate, makers[name], mode == "on", int(n), cpu, backend=loop))


def set_rates(name: str, loop: str, n: int, rounds: int, where: str) -> tuple[float, float]:
    """Best set/s without and with metrics (see :func:`fresh_rates`)."""
    return fresh_rates([__file__, "--child", name, loop, "{mode}", str(n), where], rounds)


def fresh_rates(command: list[str], rounds: int) -> tuple[float, float]:
    """Best figures the Python script ``command`` prints without and with
    metrics (``{mode}`` in it: ``off`` or ``on``): each measured in a fresh
    process, alternately, ``rounds`` times (a process measures one store of
    one class, as an application that meters its stores would run)."""
    best = {"off": 0.0, "on": 0.0}
    for _ in range(rounds):
        for mode in best:
            args = [sys.executable, *(part.replace("{mode}", mode) for part in command)]
            out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
            best[mode] = max(best[mode], float(out))
    return best["off"], best["on"]


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations")
    args = parser.parse_args()
    n_record = 200_000 if args.quick else 1_000_000
    n_set, rounds = (20_000, 3) if args.quick else (100_000, 7)
    print(
        f"pepperflow metrics benchmark: python {sys.version.split()[0]},"
        f" {platform.machine()}, {os.cpu_count()} cores"
    )
    print(
        f"\nrecording into a MetricsRegistry (a series seen before), CPU time,"
        f" best of 7 x {n_record:,}"
    )
    records = record_rows(n_record)
    for name, ns in records.items():
        print(f"  {name:<24} {ns:8.0f} ns")

    print(
        f"\nawait store.set(key, i): the best of {rounds} fresh processes per figure,"
        f" alternating; MemoryStore per CPU second, the others per wall-clock second"
        f" (load average now {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
    )
    print(f"  {'store':<22} {'off set/s':>12} {'on set/s':>12} {'cost':>7}")
    costs: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, private_redis() as redis_url:
        for name, loop, n, where in (
            ("memory", "asyncio", n_set, tmp),
            ("memory", "trio", n_set, tmp),
            ("sqlite", "asyncio", n_set // 10, tmp),
            ("redis", "asyncio", n_set // 20, redis_url),
        ):
            off, on = set_rates(name, loop, n, rounds, where)
            label = f"{name} ({loop})"
            costs[label] = cost = off / on - 1
            print(f"  {label:<22} {off:12,.0f} {on:12,.0f} {cost:7.1%}")

    print("\ntargets")
    counter_ok = records["registry counter"] < 1000
    print(f"  {'met' if counter_ok else 'MISSED'}: a counter increment under 1 µs")
    for backend in ("asyncio", "trio"):
        cost = costs[f"memory ({backend})"]
        verdict = "met" if cost <= 0.10 else "MISSED"
        print(f"  {verdict}: metrics cost {cost:.1%} of MemoryStore set on {backend} (<= 10%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
