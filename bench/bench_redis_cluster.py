"""RedisStore on a Redis Cluster next to a single server, in one run.

    python bench/bench_redis_cluster.py [--quick]

Starts a private Redis Cluster (3 primaries with a replica each, the test
fixture's: tests/support/redis_cluster.py) and a private single
``redis-server``, all on free ports of 127.0.0.1, and measures on each, on
asyncio (redis-py driver) and on trio (coredis driver):

- **set** and **set_many(1000)**: one awaited call at a time on one store,
  1,000 keys (best of a few runs; the places' runs take turns), also on a
  single server with a replica of its own (``REPLICAOF``): each cluster
  primary has one, and a write's replication costs its primary (and, on
  one machine, the cores the replica takes);
- **change latency** from a writer process to a reader process following
  the feed (``_redis_latency.py``: a set carrying ``time.time()`` once per
  millisecond, the reader's callback time minus it): p50 and p99, the rows
  in turn, rounds pooled;
- **namespaces**: 1, 3, 6 and 12 namespaces written in parallel, each by
  4 tasks awaiting ``set`` one after another, over up to 2 writer
  processes (this script run as ``--writer`` children): the sets/s of all
  of them together, how many primaries served them and Redis's time per
  script (``INFO commandstats``: the scripts each primary ran; a script
  may carry several sets of one namespace). A namespace
  lives on one slot, so on one primary; the names are picked so that they
  take the cluster's 3 primaries in turn (hashed names spread less evenly).

The table of namespaces is drawn to docs/img/redis_cluster.svg
(bench/_plots.py). Always exits 0: it is a report.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import TYPE_CHECKING, cast

import anyio
import redis
from _plots import plot
from _redis_bench import Server, describe, private_server
from _redis_latency import latency, latency_report
from _servers import private_cluster
from _timing import children_elapsed, rate
from redis.crc import key_slot

from pepperflow.stores.redis import DriverName, RedisStore

if TYPE_CHECKING:
    from tests.support.redis_cluster import RedisCluster

BACKENDS: list[tuple[str, DriverName]] = [("asyncio", "redis-py"), ("trio", "coredis")]
NAMESPACES = [1, 3, 6, 12]
TASKS = 4  # writer tasks per namespace
PROCS = 2  # writer processes at most: the machine's cores
KEYS = [f"k{i}" for i in range(1_000)]
TURNS = 2  # turns of the places in the set and set_many rows


class Sizes:
    """How many operations each figure takes."""

    def __init__(self, quick: bool) -> None:
        self.ops = 1_000 if quick else 2_000  # awaited sets per run
        self.batches = 3 if quick else 5  # set_many(1000) calls per run
        self.repeat = 3 if quick else 5  # runs, the best kept
        self.rounds = 2 if quick else 4  # latency rounds, pooled
        self.samples = 400 if quick else 2_000  # latency samples per row
        self.sets = 12_000 if quick else 48_000  # sets per namespaces' row


class Place:
    """A single server or a cluster: the store's URL, and a synchronous
    client on each primary with its slot ranges (to empty the primaries,
    place namespaces on them, and count the scripts each ran)."""

    def __init__(self, name: str, url: str, primaries: dict[int, list[tuple[int, int]]]) -> None:
        self.name = name
        self.url = url
        self.slots = list(primaries.values())
        self.primaries = [redis.Redis(host="127.0.0.1", port=port) for port in primaries]

    @classmethod
    def of_cluster(cls, cluster: RedisCluster) -> Place:
        ranges = {node.port: slots for node, slots in cluster.primaries().items()}
        return cls("cluster", cluster.url, ranges)

    def primary_of(self, namespace: str) -> int:
        """The index of the primary serving ``namespace``'s slot (its hash tag's)."""
        slot = key_slot(f"pf:{{{namespace}}}:".encode())
        return next(
            i for i, ranges in enumerate(self.slots) if any(a <= slot <= b for a, b in ranges)
        )

    def flush(self) -> None:
        for client in self.primaries:
            client.flushall()

    def reset(self) -> None:
        for client in self.primaries:
            client.config_resetstat()

    def scripts(self) -> list[tuple[int, int]]:
        """(scripts run, microseconds in them) of each primary since :meth:`reset`."""
        counts = []
        for client in self.primaries:
            stats = cast(dict[str, dict[str, int]], client.info("commandstats"))
            entry = stats.get("cmdstat_evalsha", {})
            counts.append((int(entry.get("calls", 0)), int(entry.get("usec", 0))))
        return counts

    def close(self) -> None:
        for client in self.primaries:
            client.close()


@contextmanager
def replicated_server() -> Iterator[Server]:
    """A private redis-server with a private replica of its own, linked."""
    with private_server() as primary, private_server() as replica:
        replica.sync.replicaof("127.0.0.1", primary.port)
        deadline = time.monotonic() + 30
        while replica.sync.info("replication").get("master_link_status") != "up":
            if time.monotonic() > deadline:
                raise RuntimeError("the replica did not link to its primary in 30 s")
            time.sleep(0.05)
        yield primary


def spread_names(cluster: Place, count: int) -> list[str]:
    """``count`` namespace names taking the cluster's primaries in turn
    (``ns0``, ``ns1``, ... each kept when its primary is the next one due)."""
    names: list[str] = []
    for i in range(100_000):
        if len(names) == count:
            break
        if cluster.primary_of(f"ns{i}") == len(names) % len(cluster.primaries):
            names.append(f"ns{i}")
    return names


# -- set and set_many, in this process ---------------------------------------------


async def ops_row(url: str, driver: DriverName, sizes: Sizes) -> tuple[float, float]:
    """(sets/s, set_many(1000) keys/s) of one store on ``url``."""
    async with RedisStore(url, namespace="ops", driver=driver) as store:
        await store.set_many(dict.fromkeys(KEYS, 0))
        sets = await rate(lambda i: store.set(KEYS[i % len(KEYS)], i), sizes.ops, sizes.repeat)
        batch = await rate(
            lambda i: store.set_many(dict.fromkeys(KEYS, i)), sizes.batches, sizes.repeat
        )
    return sets, batch * len(KEYS)


def ops(places: list[Place], sizes: Sizes) -> dict[str, dict[str, tuple[float, float]]]:
    """backend -> place -> (sets/s, keys/s); the places take turns."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for backend, driver in BACKENDS:
        rows = out.setdefault(f"{backend} {driver}", {})
        for _ in range(TURNS):
            for place in places:
                place.flush()
                row = anyio.run(ops_row, place.url, driver, sizes, backend=backend)
                rows[place.name] = max(rows.get(place.name, (0.0, 0.0)), row)
    return out


def ops_report(rows: dict[str, dict[str, tuple[float, float]]]) -> None:
    head = (
        f"{'one store, awaited':<22}{'single':>10}{'+replica':>10}{'cluster':>10}"
        f"{'cluster/single':>16}{'/+replica':>11}"
    )
    print(head + "  unit")
    print("-" * (len(head) + 8))
    for backend, by_place in rows.items():
        for i, what, unit in ((0, "set", "ops/s"), (1, "set_many(1000)", "keys/s")):
            single, replicated = by_place["single"][i], by_place["single+replica"][i]
            cluster = by_place["cluster"][i]
            print(
                f"{what + ', ' + backend.split()[0]:<22}{single:>10,.0f}{replicated:>10,.0f}"
                f"{cluster:>10,.0f}{cluster / single:>15.2f}x{cluster / replicated:>10.2f}x  {unit}"
            )
    print(
        f"  1,000 keys; +replica: a single server with a replica; the best of {TURNS}"
        " turns of each place, each the best of its runs\n"
    )


# -- change latency, across processes -----------------------------------------------


def latencies(places: list[Place], sizes: Sizes) -> dict[str, list[float]]:
    """'backend driver, place' -> delays (s); the rows in turn, rounds pooled."""
    out: dict[str, list[float]] = {}
    n = sizes.samples // sizes.rounds
    for _ in range(sizes.rounds):
        for backend, driver in BACKENDS:
            for place in places:
                label = f"{backend} {driver}, {place.name}"
                out.setdefault(label, []).extend(latency(backend, driver, place, n))
    return out


# -- namespaces written in parallel ---------------------------------------------------


async def writer_main(url: str, driver: DriverName, namespaces: list[str], n: int) -> None:
    """TASKS tasks per namespace, each awaiting ``n`` sets, once the parent
    says go; print the start and end times (time.time())."""
    async with AsyncExitStack() as stack:
        stores = [
            await stack.enter_async_context(RedisStore(url, namespace=name, driver=driver))
            for name in namespaces
        ]
        for store in stores:
            await store.set(KEYS[0], 0)

        async def write(store: RedisStore[object], task: int) -> None:
            for i in range(n):
                await store.set(KEYS[(task * n + i) % len(KEYS)], i)

        print("ready", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
        start = time.time()
        async with anyio.create_task_group() as tg:
            for store in stores:
                for task in range(TASKS):
                    tg.start_soon(write, store, task)
        print(json.dumps([start, time.time()]), flush=True)


def namespaces_row(
    place: Place, backend: str, driver: DriverName, names: list[str], total: int
) -> tuple[float, list[tuple[int, int]]]:
    """Sets/s of the namespaces ``names`` written in parallel, and each
    primary's (scripts, microseconds)."""
    count = len(names)
    per_task = max(1, total // (count * TASKS))
    procs = min(count, PROCS)
    command = [sys.executable, __file__, "--writer", backend, driver, place.url, str(per_task)]
    elapsed = children_elapsed(
        [[*command, ",".join(names[p::procs])] for p in range(procs)], place.reset
    )
    return per_task * TASKS * count / elapsed, place.scripts()


#: 'backend driver, place' -> namespaces -> (sets/s, (scripts, usec) per primary)
Spread = dict[str, dict[int, tuple[float, list[tuple[int, int]]]]]


def namespaces(places: list[Place], sizes: Sizes) -> Spread:
    """Every row, one run each; the places take turns at each count. The
    names take the cluster's primaries in turn (the last place's)."""
    out: Spread = {}
    for backend, driver in BACKENDS:
        for count in NAMESPACES:
            names = spread_names(places[-1], count)
            for place in places:
                place.flush()
                row = namespaces_row(place, backend, driver, names, sizes.sets)
                out.setdefault(f"{backend} {driver}, {place.name}", {})[count] = row
    return out


def primaries_used(scripts: list[tuple[int, int]]) -> str:
    """'busy primaries, Redis us per script' of each primary's (scripts, usec)."""
    calls = sum(n for n, _ in scripts) or 1
    busy = sum(1 for n, _ in scripts if n > calls * 0.05)
    return f"{busy}, {sum(us for _, us in scripts) / calls:.1f} us"


def namespaces_report(rows: Spread) -> None:
    head = f"{'namespaces in parallel':<30}" + "".join(f"{n:>10}" for n in NAMESPACES)
    print(head + "  (sets/s, all writers together)")
    print("-" * (len(head) + 32))
    for label, by_count in rows.items():
        print(f"{label:<30}" + "".join(f"{by_count[n][0]:>10,.0f}" for n in NAMESPACES))
    print()
    print(f"{'primaries, Redis us/script':<30}" + "".join(f"{n:>14}" for n in NAMESPACES))
    for label, by_count in rows.items():
        spread = "".join(f"{primaries_used(by_count[n][1]):>14}" for n in NAMESPACES)
        print(f"{label:<30}{spread}")
    print(
        f"  {TASKS} tasks per namespace awaiting set one after another, over"
        f" min(namespaces, {PROCS}) processes; one run each\n"
    )
    series = {
        label: [(float(n), by_count[n][0]) for n in NAMESPACES] for label, by_count in rows.items()
    }
    path = plot(
        "redis_cluster",
        "RedisStore: namespaces written in parallel",
        "namespaces (4 writer tasks each)",
        "sets/s, all writers together",
        series,
        logx=False,
    )
    print(f"  plot: {path.relative_to(path.parents[2])}\n")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--writer":
        backend, driver, url, n, names = sys.argv[2:7]
        name = cast(DriverName, driver)
        anyio.run(writer_main, url, name, names.split(","), int(n), backend=backend)
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations")
    sizes = Sizes(parser.parse_args().quick)
    with private_server() as server, replicated_server() as primary, private_cluster() as cluster:
        describe(server)
        print(f"private Redis Cluster: {cluster.seeds_url} (3 primaries, a replica each)\n")
        single = Place("single", server.url, {server.port: [(0, 16383)]})
        replicated = Place("single+replica", primary.url, {primary.port: [(0, 16383)]})
        places = [single, Place.of_cluster(cluster)]
        try:
            ops_report(ops([single, replicated, places[1]], sizes))
            latency_report(latencies(places, sizes), sizes.rounds)
            namespaces_report(namespaces(places, sizes))
        finally:
            for place in (*places, replicated):
                place.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
