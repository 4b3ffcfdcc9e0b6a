"""RedisStore at the scale of applications: many writers, many keys.

    python bench/bench_redis_scale.py [--quick]

Starts a private ``redis-server`` on a free port of 127.0.0.1 (never the
shared 6379 server) and measures, in one run:

- **writers**: 1 to 64 writer tasks spread over 1 to 4 processes (this
  script run as ``--writer`` children), each task awaiting
  ``RedisStore.set`` of one key after another among 100,000, on asyncio
  with the redis-py and coredis drivers and on trio with coredis: the
  sets/s of all of them together and the Redis time per set (``INFO
  commandstats``: the scripts' ``usec`` over the sets). The row of 64
  tasks over 4 processes takes turns with ``redis-benchmark -t set -c 64
  -r 100000`` (the server's SET throughput with 64 clients) for a few
  rounds, the best of each kept; the other rows are one run each;
- **keys**: a namespace filled to 1,000, 100,000 and 1,000,000 keys by
  ``set_many(1,000)`` (keys/s, and Redis's memory per key), then one
  awaited get, set and set with a ttl at a time on keys drawn from all of
  them, next to the plain client (redis-py on asyncio, coredis on trio)
  doing ``GET``, ``SET`` and ``SET EX`` on as many keys (best of a few
  runs each, ``_redis_scale_keys.py``).

Plots of how the figures grow go to docs/img (bench/_plots.py). Prints the
tables, then the target (64 writers over 4 processes >= 0.5x
redis-benchmark's SET with 64 clients, on every backend) and whether it
was met. Always exits 0: it is a report.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from typing import cast

import anyio
from _plots import plot
from _redis_bench import Server, describe, private_server, redis_benchmark_rate
from _redis_scale_keys import OPS, Figures, keys_section
from _timing import children_elapsed

from pepperflow.stores.redis import DriverName, RedisStore

#: (writer tasks, processes) of the writers' rows
WRITERS = [(1, 1), (4, 1), (16, 1), (64, 1), (4, 4), (16, 4), (64, 4)]
BACKENDS: list[tuple[str, DriverName]] = [
    ("asyncio", "redis-py"),
    ("asyncio", "coredis"),
    ("trio", "coredis"),
]
#: the backends of the keys' section: each one's default driver, and its plain client
KEY_BACKENDS: list[tuple[str, DriverName, str]] = [
    ("asyncio", "redis-py", "redis-py"),
    ("trio", "coredis", "coredis"),
]
SPACE = 100_000  # keys the writers draw from
SCALES = [1_000, 100_000, 1_000_000]
#: backend label -> (tasks, processes) -> (sets/s, Redis us/set)
Table = dict[str, dict[tuple[int, int], tuple[float, float]]]


class Sizes:
    """How many operations each figure takes."""

    def __init__(self, quick: bool) -> None:
        self.sets = 20_000 if quick else 60_000  # sets per writers' row, all tasks together
        self.single = 2_000 if quick else 5_000  # awaited ops per keys' figure
        self.repeat = 2 if quick else 3
        self.rounds = 2 if quick else 3  # turns of the target's row and redis-benchmark
        self.scales = SCALES[:2] if quick else SCALES


# -- writers: child processes ------------------------------------------------------


async def writer_main(url: str, driver: DriverName, namespace: str, tasks: int, n: int) -> None:
    """Run ``tasks`` tasks setting ``n`` keys each once the parent says go;
    print the start and end times (time.time())."""
    async with RedisStore(url, namespace=namespace, driver=driver) as store:
        rng = random.Random(os.getpid())
        keys = [f"user:{rng.randrange(SPACE)}" for _ in range(n)]
        await store.set(keys[0], 0)

        async def write(task: int) -> None:
            for i in range(task, n * tasks, tasks):
                await store.set(keys[i % n], i)

        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        start = time.time()
        async with anyio.create_task_group() as tg:
            for task in range(tasks):
                tg.start_soon(write, task)
        print(json.dumps([start, time.time()]), flush=True)


def writers_row(
    server: Server, backend: str, driver: DriverName, tasks: int, procs: int, total: int
) -> tuple[float, float]:
    """Sets/s of ``tasks`` writer tasks over ``procs`` processes, and Redis's
    microseconds per set."""
    namespace = f"w-{backend}-{driver}"
    per_task = max(1, total // tasks)
    command = [sys.executable, __file__, "--writer", backend, driver, server.url, namespace]
    elapsed = children_elapsed(
        [[*command, str(tasks // procs), str(per_task)]] * procs, server.sync.config_resetstat
    )
    usec, _ = server.script_usec()
    sets = per_task * tasks
    return sets / elapsed, usec / sets


def writers(server: Server, sizes: Sizes) -> tuple[Table, dict[str, float]]:
    """Every backend's writers' rows (one run each), and redis-benchmark's
    SET with 64 clients. The row of 64 writers over 4 processes, the
    target's, and redis-benchmark take turns for a few rounds, the best of
    each kept: a slow spell of the machine falls on both alike."""
    rows: Table = {}
    limits: dict[str, float] = {}
    target = WRITERS[-1]
    for backend, driver in BACKENDS:
        label = f"{backend} {driver}"
        rows[label] = {}
        for tasks, procs in WRITERS[:-1]:
            server.flush()
            rows[label][(tasks, procs)] = writers_row(
                server, backend, driver, tasks, procs, sizes.sets
            )
        best, limit = (0.0, 0.0), 0.0
        for _ in range(sizes.rounds):
            limit = max(limit, redis_benchmark_rate(server, clients=64, n=sizes.sets * 2))
            server.flush()
            row = writers_row(server, backend, driver, *target, sizes.sets)
            best = max(best, row)
        rows[label][target], limits[label] = best, limit
    return rows, limits


def writers_report(rows: Table, limits: dict[str, float]) -> list[tuple[bool, str]]:
    """Print the writers' table and plot it; the target's verdicts."""
    head = f"{'writers (tasks/procs)':<22}" + "".join(f"{label:>20}" for label in rows)
    print(head + "  sets/s (Redis us/set)")
    print("-" * (len(head) + 23))
    for tasks, procs in WRITERS:
        cells = [
            f"{rate:>10,.0f} ({us:5.1f})" for rate, us in (r[(tasks, procs)] for r in rows.values())
        ]
        print(f"{f'{tasks} / {procs}':<22}" + "".join(f"{c:>20}" for c in cells))
    print(
        f"{'redis-benchmark -c 64':<22}"
        + "".join(f"{f'{limits[label]:,.0f}':>20}" for label in rows)
        + "  SET requests/s; it and the 64 / 4 row: best of rounds in turn"
    )
    print()
    series: dict[str, list[tuple[float, float]]] = {}
    for label in rows:
        for procs in (1, 4):
            points = [(float(t), rows[label][(t, p)][0]) for t, p in WRITERS if p == procs]
            series[f"{label}, {procs} process{'es' if procs > 1 else ''}"] = points
    plot(
        "redis_writers",
        "RedisStore.set by concurrent writer tasks",
        "writer tasks",
        "sets/s (all processes)",
        series,
    )
    out = []
    for label in rows:
        rate = rows[label][(64, 4)][0]
        ratio = rate / limits[label] if limits[label] else 0.0
        out.append(
            (
                ratio >= 0.5,
                f"{label}: 64 writers / 4 processes {rate:,.0f} sets/s, {ratio:.2f}x"
                f" redis-benchmark's SET with 64 clients ({'>=' if ratio >= 0.5 else '<'} 0.5x)",
            )
        )
    return out


# -- keys ------------------------------------------------------------------------


def keys_report(backend: str, plain_name: str, figures: dict[int, tuple[Figures, Figures]]) -> None:
    """Print one backend's keys table."""
    scales = list(figures)
    head = f"{'keys (' + backend + ')':<24}" + "".join(f"{f'{s:,}':>24}" for s in scales)
    print(head + "  ops/s (Redis us/op); pf/plain")
    print("-" * (len(head) + 32))
    fill = [figures[s][0]["fill"][0] for s in scales]
    print(f"{'pf set_many(1000) fill':<24}" + "".join(f"{f'{v:,.0f} keys/s':>24}" for v in fill))
    for op in OPS:
        for who, at in (("pf", 0), (plain_name, 1)):
            cells = [figures[s][at][op] for s in scales]
            print(
                f"{who + ' ' + op:<24}" + "".join(f"{f'{r:,.0f} ({u:.1f})':>24}" for r, u in cells)
            )
        ratios = [figures[s][0][op][0] / figures[s][1][op][0] for s in scales]
        print(f"{'  pf/' + plain_name:<24}" + "".join(f"{f'{r:.2f}x':>24}" for r in ratios))
    for who, at in (("pf", 0), (plain_name, 1)):
        sizes = [figures[s][at]["bytes/key"][0] for s in scales]
        print(f"{who + ' Redis bytes/key':<24}" + "".join(f"{f'{b:,.0f}':>24}" for b in sizes))
    print()
    series = {f"pf {op}": [(float(s), figures[s][0][op][0]) for s in scales] for op in OPS} | {
        f"{plain_name} {op}": [(float(s), figures[s][1][op][0]) for s in scales] for op in OPS
    }
    plot(
        f"redis_keys_{backend}",
        f"One awaited op at a time by key count ({backend})",
        "keys in the namespace",
        "ops/s",
        series,
    )


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        backend, driver, url, namespace, tasks, n = sys.argv[2:8]
        name = cast(DriverName, driver)
        anyio.run(writer_main, url, name, namespace, int(tasks), int(n), backend=backend)
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations")
    args = parser.parse_args()
    sizes = Sizes(args.quick)
    print(
        f"pepperflow RedisStore at scale: {sizes.sets:,} sets per writers' row (one run);"
        f" {sizes.single:,} awaited ops per keys' figure, best of {sizes.repeat}"
    )
    with private_server() as server:
        describe(server)
        checks = writers_report(*writers(server, sizes))
        for backend, driver, plain_name in KEY_BACKENDS:
            figures = keys_section(
                server, backend, driver, sizes.scales, sizes.single, sizes.repeat
            )
            keys_report(backend, plain_name, figures)
    for met, text in checks:
        print(("met: " if met else "missed: ") + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
