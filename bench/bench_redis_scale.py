"""RedisStore at the scale of applications: many writers, many keys.

    python bench/bench_redis_scale.py [--quick]

Starts a private ``redis-server`` on a free port of 127.0.0.1 (never the
shared 6379 server) and measures, in one run:

- **writers**: 1 to 64 writer tasks spread over 1 to 4 processes (this
  script run as ``--writer`` children), each task awaiting
  ``RedisStore.set`` of one key after another among 100,000, on asyncio
  with the redis-py and coredis drivers and on trio with coredis; the
  sets/s of all of them together, the Redis time per set (``INFO
  commandstats``: the scripts' ``usec`` over the sets) and the ratio to
  ``redis-benchmark -t set -c 64`` (the server's SET throughput with 64
  clients) measured on the same server right before each backend's rows;
- **keys**: a namespace filled to 100,000 and 1,000,000 keys by
  ``set_many(1,000)`` (keys/s), then one awaited get, set and set with a
  ttl at a time on keys drawn from all of them, next to redis-py's plain
  ``GET`` and ``SET`` on the same number of keys.

Each figure is one run (the writers') or the best of a few (the keys');
plots of how they grow go to docs/img (bench/_plots.py). Prints the
tables, then the target (64 writers over 4 processes >= 0.5x
redis-benchmark's SET with 64 clients, on every backend) and whether it was
met. Always exits 0: it is a report.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time

import anyio
from _plots import plot
from _redis_bench import Server, private_server, redis_benchmark_rate

from pepperflow.stores.redis import DriverName, RedisStore

#: (writer tasks, processes) of the writers' rows
WRITERS = [(1, 1), (4, 1), (16, 1), (16, 4), (64, 1), (64, 4)]
BACKENDS: list[tuple[str, DriverName]] = [
    ("asyncio", "redis-py"),
    ("asyncio", "coredis"),
    ("trio", "coredis"),
]
SPACE = 100_000  # keys the writers draw from
SCALES = [100_000, 1_000_000]
BATCH = 1_000


class Sizes:
    """How many operations each figure takes."""

    def __init__(self, quick: bool) -> None:
        self.sets = 20_000 if quick else 60_000  # sets per writers' row, all tasks together
        self.single = 2_000 if quick else 5_000  # awaited ops per keys' figure
        self.repeat = 2 if quick else 3
        self.scales = SCALES[:1] if quick else SCALES


# -- writers: child processes ------------------------------------------------------


async def writer_main(url: str, driver: DriverName, namespace: str, tasks: int, n: int) -> None:
    """Run ``tasks`` tasks setting ``n`` keys each once the parent says go;
    print the start and end times (time.time())."""
    async with RedisStore(url, namespace=namespace, driver=driver) as store:
        rng = random.Random(tasks * 7919 + n)
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
    children = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--writer",
                backend,
                driver,
                server.url,
                namespace,
                str(tasks // procs),
                str(per_task),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(procs)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a {backend} {driver} writer did not start")
        server.sync.config_resetstat()
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        spans = [json.loads(child.communicate(timeout=600)[0]) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    usec, calls = server.script_usec()
    elapsed = max(end for _, end in spans) - min(start for start, _ in spans)
    sets = per_task * tasks
    return sets / elapsed, usec / max(calls, 1) * (calls / sets)


def writers(
    server: Server, sizes: Sizes
) -> tuple[dict[str, dict[tuple[int, int], tuple[float, float]]], dict[str, float]]:
    """Every backend's writers' rows, and the redis-benchmark figure before each."""
    rows: dict[str, dict[tuple[int, int], tuple[float, float]]] = {}
    limits: dict[str, float] = {}
    for backend, driver in BACKENDS:
        label = f"{backend} {driver}"
        server.flush()
        limits[label] = redis_benchmark_rate(server, clients=64, n=sizes.sets * 2)
        server.flush()
        rows[label] = {
            (tasks, procs): writers_row(server, backend, driver, tasks, procs, sizes.sets)
            for tasks, procs in WRITERS
        }
    return rows, limits


def writers_report(
    rows: dict[str, dict[tuple[int, int], tuple[float, float]]], limits: dict[str, float]
) -> list[tuple[bool, str]]:
    """Print the writers' table and plot it; the target's verdicts."""
    head = f"{'writers (tasks/procs)':<22}" + "".join(f"{label:>20}" for label in rows)
    print(head + "  sets/s (Redis us/set)")
    print("-" * (len(head) + 23))
    for tasks, procs in WRITERS:
        cells = []
        for label in rows:
            rate, us = rows[label][(tasks, procs)]
            cells.append(f"{rate:>10,.0f} ({us:5.1f})")
        print(f"{f'{tasks} / {procs}':<22}" + "".join(f"{c:>20}" for c in cells))
    print(
        f"{'redis-benchmark -c 64':<22}"
        + "".join(f"{f'{limits[label]:,.0f}':>20}" for label in rows)
        + "  SET requests/s, right before the column's rows"
    )
    print()
    plot(
        "redis_writers",
        "RedisStore.set by concurrent writer tasks (1 to 4 processes)",
        "writer tasks",
        "sets/s",
        {
            label: [
                (tasks, rows[label][(tasks, procs)][0])
                for tasks, procs in WRITERS
                if procs == max(p for t, p in WRITERS if t == tasks)
            ]
            for label in rows
        },
    )
    out = []
    for label in rows:
        rate = rows[label][(64, 4)][0]
        ratio = rate / limits[label]
        out.append(
            (
                ratio >= 0.5,
                f"{label}: 64 writers / 4 processes {rate:,.0f} sets/s, {ratio:.2f}x"
                f" redis-benchmark's SET with 64 clients ({'>=' if ratio >= 0.5 else '<'} 0.5x)",
            )
        )
    return out


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        backend, driver, url, namespace, tasks, n = sys.argv[2:8]
        anyio.run(writer_main, url, driver, namespace, int(tasks), int(n), backend=backend)
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations")
    args = parser.parse_args()
    sizes = Sizes(args.quick)
    with private_server() as server:
        checks = writers_report(*writers(server, sizes))
    for met, text in checks:
        print(("met: " if met else "missed: ") + text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
