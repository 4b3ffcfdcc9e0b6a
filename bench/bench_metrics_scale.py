"""What metrics cost at application scale: many label series, many keys, many writers.

    python bench/bench_metrics_scale.py [--quick]

bench_metrics.py's figures where real applications live:

- series: a counter increment and a histogram observation on a
  :class:`~pepperflow.MetricsRegistry` holding 1, 100, 10,000 and 100,000
  series of the metric (a label value each, visited round-robin), next to
  a plain dict increment over as many keys (CPU time, best of 3 x 100,000);
  and a Prometheus scrape of those series (``generate_latest`` over
  :func:`~pepperflow.sinks.metrics.prometheus.prometheus_registry`) next to
  prometheus_client's own Counter with as many labelled children;
- keys: ``await store.set(key, i)`` on a MemoryStore of 1,000, 100,000 and
  1,000,000 keys (``--quick``: up to 100,000; visited in a shuffled order)
  without and with ``metrics=MetricsRegistry()``;
- writers: 1, 4, 16 and 64 tasks setting keys of their own in a MemoryStore
  of 100,000 keys, without and with metrics.

The store figures are sets per second of CPU time, each measured in a fresh
process, the two alternately, the best of 3 rounds (5 in the full run).
Targets (bench_metrics.py's, at every scale): a counter increment under
1 µs, and metrics cost at most 10% of MemoryStore's set. Draws
docs/img/metrics_scale_*.svg.
"""

from __future__ import annotations

import itertools
import sys
import time
from typing import Any

import anyio
from _plots import plot
from _scale import TARGET_KEYS, check, scale_main, shuffled_keys
from bench_metrics import fresh_rates, ns_per_call

from pepperflow import MetricsRegistry
from pepperflow.stores import MemoryStore

SERIES = (1, 100, 10_000, 100_000)
WRITERS = (1, 4, 16, 64)
RECORDS = 100_000
SETS = 100_000  # per process and round
COST = 0.10
COUNTER_NS = 1000


def series_rows(count: int) -> dict[str, float]:
    """ns per record and ms per scrape with ``count`` series, their peers beside."""
    from prometheus_client import CollectorRegistry, Counter, generate_latest

    from pepperflow.sinks.metrics.prometheus import prometheus_registry

    names = [f"s{j}" for j in range(count)]
    registry = MetricsRegistry()
    plain: dict[tuple[str, str, str], float] = {}
    for name in names:
        registry.counter("ops", 1, store=name, operation="set")
        registry.histogram("seconds", 0.0004, store=name, operation="set")
        plain[("ops", name, "set")] = 1
    cycles = [itertools.cycle(names) for _ in range(3)]

    def dict_increment() -> None:
        key = ("ops", next(cycles[0]), "set")
        plain[key] = plain.get(key, 0) + 1

    rows = {"plain dict increment": ns_per_call(dict_increment, RECORDS, 3)}
    rows["registry counter"] = ns_per_call(
        lambda: registry.counter("ops", 1, store=next(cycles[1]), operation="set"), RECORDS, 3
    )
    rows["registry histogram"] = ns_per_call(
        lambda: registry.histogram("seconds", 0.0004, store=next(cycles[2]), operation="set"),
        RECORDS,
        3,
    )
    theirs = CollectorRegistry()
    counter = Counter("ops", "operations", ["store", "operation"], registry=theirs)
    for name in names:
        counter.labels(name, "set").inc()
    counters = MetricsRegistry()  # the counter's series alone, as the peer holds
    for name in names:
        counters.counter("ops", 1, store=name, operation="set")
    ours = prometheus_registry(counters)
    rows["scrape, ms"] = ns_per_call(lambda: generate_latest(ours), 1, 3) / 1e6
    rows["prometheus_client scrape, ms"] = ns_per_call(lambda: generate_latest(theirs), 1, 3) / 1e6
    return rows


async def set_rate(keys: int, writers: int, metrics: bool) -> float:
    """Best sets per CPU second of ``writers`` tasks into a MemoryStore of ``keys`` keys."""
    names = shuffled_keys(keys)
    share = SETS // writers
    async with MemoryStore("m", metrics=MetricsRegistry() if metrics else None) as store:
        for name in names:
            await store.set(name, 0)

        async def write(w: int) -> None:
            own = names[w::writers]
            for i in range(share):
                await store.set(own[i % len(own)], i)

        best = 0.0
        for _ in range(3):
            start = time.process_time()
            async with anyio.create_task_group() as group:
                for w in range(writers):
                    group.start_soon(write, w)
            best = max(best, share * writers / (time.process_time() - start))
        return best


def store_costs(
    backend: str, rounds: int, runs: list[tuple[int, int]]
) -> dict[str, tuple[float, float]]:
    """(off, on) sets/s for each (keys, writers) in ``runs``, each side in fresh processes."""
    command = [__file__, "--child", backend, "{mode}"]
    return {
        f"{keys} {writers}": fresh_rates([*command, str(keys), str(writers)], rounds)
        for keys, writers in runs
    }


async def run_backend(backend: str, key_counts: tuple[int, ...], rounds: int) -> dict[str, Any]:
    runs = [(keys, 1) for keys in key_counts] + [(TARGET_KEYS, w) for w in WRITERS[1:]]
    return {
        "series": {count: series_rows(count) for count in SERIES} if backend == "asyncio" else {},
        "stores": store_costs(backend, rounds, runs),
        "keys": key_counts,
    }


def report(backend: str, results: dict[str, Any]) -> list[str]:
    failures: list[str] = []
    series, stores = results["series"], results["stores"]
    if series:  # the registry has no event loop: measured once
        print(f"{'series':>8}{'dict ns':>10}{'counter ns':>12}{'histogram ns':>14}", end="")
        print(f"{'scrape ms':>12}{'prometheus_client ms':>22}")
        for count, row in series.items():
            print(
                f"{count:>8,}{row['plain dict increment']:>10.0f}{row['registry counter']:>12.0f}"
                f"{row['registry histogram']:>14.0f}{row['scrape, ms']:>12.1f}"
                f"{row['prometheus_client scrape, ms']:>22.1f}"
            )
        print()
    print(f"MemoryStore set ({backend}), sets per CPU second: off, on, what metrics cost")
    for run, (off, on) in stores.items():
        keys, writers = (int(part) for part in run.split())
        print(
            f"  {keys:>9,} keys, {writers:>2} writers"
            f"  {off:>11,.0f}  {on:>11,.0f}  {off / on - 1:6.1%}"
        )
    print(f"targets ({backend})")
    for count, row in series.items():
        failures += check(
            backend,
            f"counter increment, {count:,} series, ns",
            row["registry counter"],
            COUNTER_NS,
            False,
        )
    for run, (off, on) in stores.items():
        keys, writers = (int(part) for part in run.split())
        name = f"metrics cost, {keys:,} keys, {writers} writers"
        failures += check(backend, name, off / on - 1, COST, False)
    print()
    return failures


def draw(all_results: dict[str, dict[str, Any]]) -> None:
    series = all_results["asyncio"]["series"]
    records = {
        name: [(count, row[name]) for count, row in series.items()]
        for name in ("plain dict increment", "registry counter", "registry histogram")
    }
    scrapes = {
        name: [(count, row[name]) for count, row in series.items()]
        for name in ("scrape, ms", "prometheus_client scrape, ms")
    }
    costs: dict[str, list[tuple[float, float]]] = {}
    for backend, results in all_results.items():
        for dimension, index in (("keys", 0), ("writers", 1)):
            points: list[tuple[float, float]] = []
            for run, (off, on) in results["stores"].items():
                keys, writers = (int(part) for part in run.split())
                if (writers == 1) if index == 0 else (keys == TARGET_KEYS):
                    points.append(((keys, writers)[index], 100 * (off / on - 1)))
            costs[f"by {dimension} ({backend})"] = points
    plot("metrics_scale_records", "A record's CPU ns by series", "series", "ns", records)
    plot(
        "metrics_scale_scrape", "A Prometheus scrape by series", "series", "ms", scrapes, logy=True
    )
    plot(
        "metrics_scale_stores",
        "What metrics cost a MemoryStore set, by keys (1 writer) and by writers",
        "keys, or writer tasks",
        "% of the set",
        costs,
    )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        backend, mode, keys, writers = sys.argv[2:]
        print(anyio.run(set_rate, int(keys), int(writers), mode == "on", backend=backend))
        return 0
    return scale_main(__doc__, run_backend, report, draw)


if __name__ == "__main__":
    sys.exit(main())
