"""RedisStore next to its peers, on asyncio and trio, in one run.

    python bench/bench_redis.py [--quick]

Starts a private ``redis-server`` on a free port of 127.0.0.1 (never the
shared 6379 server; ``FLUSHALL`` before each section) and measures, one
awaited operation at a time on one connection:

- RedisStore get / set / set with a ttl / set_many(1,000) (keys/s): on
  asyncio with the redis-py driver (the default there) and the coredis
  driver, on trio with coredis (the default there);
- the same work with plain clients: redis-py's asyncio client (GET, SET,
  SET EX, a non-transactional pipeline of 1,000 SETs) and coredis (the
  same, on asyncio and trio), aiocache's ``RedisCache`` and cashews'
  ``redis://`` (asyncio only: both are built on asyncio);
- where a set's time goes: the time Redis spends per operation (``INFO
  commandstats``) next to the wall time, for the plain SET, ``EVALSHA`` of
  a script doing one SET, and ``RedisStore.set``;
- a change's latency across processes: ``_redis_latency.py`` runs as a
  child process (``--child``) that subscribes to the namespace; the parent sets a
  key to ``time.time()`` once per millisecond and the child records its
  ``time.time()`` minus that value in the callback (p50/p90/p99/max), for
  each backend and driver, next to the floor: a bare ``XADD`` in the parent
  read by a bare ``XREAD BLOCK`` in the child (redis-py). The rows take
  turns in rounds (4, 2 with ``--quick``) whose samples are pooled, so a
  slow spell of the machine hits every row alike;
- ``redis-benchmark`` (when installed) as the server's limit: ``-t set,get``
  with 50 clients, with ``-P 16``, and with one client;
- a declared type against none (``_redis_typed.py``): get, set and
  set_many of a Struct by a ``RedisStore(type=Msg)`` and of the same data
  (a dict) by an untyped one, decoding alone, and what a set spends
  admitting the value and encoding it again, on each backend's default
  driver.

The columns run round-robin (each operation in turn on every column, best
of the rounds), so load from elsewhere on the machine hits the figures of a
ratio alike. Prints one table per backend with the ratios to the plain
client of the same type, the latencies, the server's limits, then the
targets and whether they were met. Always exits 0: it is a report.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
from _redis_bench import Server, describe, private_server, redis_benchmark
from _redis_latency import latency_report, latency_rounds, percentile
from _redis_peers import (
    BATCH,
    KEYS,
    TTL,
    Sizes,
    Suite,
    aiocache_suite,
    cashews_suite,
    coredis_suite,
    redis_py_suite,
)
from _redis_typed import COLUMNS as TYPED_COLUMNS
from _redis_typed import ROWS as TYPED_ROWS
from _redis_typed import UNITS as TYPED_UNITS
from _redis_typed import typed_suite, typed_verdicts

from pepperflow.stores.redis import DriverName, RedisStore
from pepperflow.streams import Change

ROOT = Path(__file__).resolve().parent.parent
Rows = dict[str, float]


async def measure(
    server: Server, suites: dict[str, Suite], repeat: int
) -> tuple[dict[str, Rows], dict[str, Rows]]:
    """Best ops/s (keys/s for batches) of every operation of every column,
    and the least server time per op (per key for batches) in microseconds.

    Runs round-robin, operation by operation, so a burst of load on the
    machine hits the columns compared in a ratio alike. The server time is
    the ``usec`` of every command in ``INFO commandstats``, reset before
    each run.
    """
    best: dict[str, Rows] = {name: dict.fromkeys(suite, 0.0) for name, suite in suites.items()}
    server_us: dict[str, Rows] = {
        name: dict.fromkeys(suite, float("inf")) for name, suite in suites.items()
    }
    ops = list(dict.fromkeys(op for suite in suites.values() for op in suite))
    for _ in range(repeat):
        for op in ops:
            for name, suite in suites.items():
                if op not in suite:
                    continue
                call, n, keys = suite[op]
                gc.collect()
                server.sync.config_resetstat()
                start = time.perf_counter()
                for i in range(n):
                    await call(i)
                elapsed = time.perf_counter() - start
                best[name][op] = max(best[name][op], n * keys / elapsed)
                used = server.command_usec(scripts=name.startswith("pf ") or "evalsha" in op)
                server_us[name][op] = min(server_us[name][op], used / (n * keys))
    return best, server_us


# -- RedisStore ----------------------------------------------------------------


@asynccontextmanager
async def store_suite(server: Server, driver: DriverName, sizes: Sizes) -> AsyncIterator[Suite]:
    n = sizes.ops

    def callback(change: Change) -> None:
        return None

    async with (
        RedisStore(server.url, namespace=f"bench-{driver}", driver=driver) as store,
        RedisStore(server.url, namespace=f"bench-{driver}-sub", driver=driver) as watched,
    ):
        await store.set_many(dict.fromkeys(KEYS, 1))
        # A subscriber in the process: the follower also reads the own writes back.
        watched.subscribe(None, callback)
        yield {
            "get": (lambda i: store.get(KEYS[i % 1000]), n, 1),
            "set": (lambda i: store.set(KEYS[i % 1000], i), n, 1),
            "set ttl": (lambda i: store.set(KEYS[i % 1000], i, ttl=TTL), n, 1),
            "set 1 sub": (lambda i: watched.set(KEYS[i % 1000], i), n, 1),
            "set_many(1000)": (
                lambda i: store.set_many(dict.fromkeys(KEYS, i)),
                sizes.batches,
                BATCH,
            ),
        }


async def run_backend(
    backend: str, server: Server, sizes: Sizes
) -> tuple[dict[str, Rows], dict[str, Rows]]:
    server.flush()
    async with AsyncExitStack() as stack:
        suites: dict[str, Suite] = {}
        if backend == "asyncio":
            suites["pf redis-py"] = await stack.enter_async_context(
                store_suite(server, "redis-py", sizes)
            )
        suites["pf coredis"] = await stack.enter_async_context(
            store_suite(server, "coredis", sizes)
        )
        if backend == "asyncio":
            suites["redis-py"] = await stack.enter_async_context(redis_py_suite(server, sizes))
        suites["coredis"] = await stack.enter_async_context(coredis_suite(server, sizes))
        if backend == "asyncio":
            suites["aiocache"] = await stack.enter_async_context(aiocache_suite(server, sizes))
            suites["cashews"] = await stack.enter_async_context(cashews_suite(server, sizes))
        return await measure(server, suites, sizes.repeat)


async def run_typed(backend: str, server: Server, sizes: Sizes) -> dict[str, Rows]:
    """The typed section's rates (bench/_redis_typed.py) on ``backend``'s default driver."""
    server.flush()
    driver: DriverName = "redis-py" if backend == "asyncio" else "coredis"
    async with AsyncExitStack() as stack:
        suites = {
            column: await stack.enter_async_context(
                typed_suite(
                    server.url, server.sync, driver, column == "pf typed", sizes.ops, sizes.batches
                )
            )
            for column in TYPED_COLUMNS
        }
        rates, _ = await measure(server, suites, sizes.repeat)
    return rates


def typed_report(backend: str, rates: dict[str, Rows]) -> None:
    untyped, typed = (rates[column] for column in TYPED_COLUMNS)
    head = f"{'typed vs untyped (' + backend + ')':<26}{'untyped':>13}{'typed':>13}{'ratio':>9}"
    print(head + "  unit")
    print("-" * (len(head) + 10))
    for op in TYPED_ROWS:
        ratio = typed[op] / untyped[op]
        line = f"{op:<26}{fmt(untyped[op]):>13}{fmt(typed[op]):>13}{ratio:>8.2f}x"
        print(line + f"  {TYPED_UNITS.get(op, 'ops/s')}")
    again = 1e6 / typed["encode again"]  # us: the second encoding of a set's value
    set_us, many_us = 1e6 / typed["set"], 1e6 * 1000 / typed["set_many(1000)"]
    print(
        f"  a set encodes the admitted value again: {again * 1000:,.0f} ns, {again / set_us:.1%}"
        f" of a set ({set_us:,.1f} us), {again * 1000 / many_us:.1%} of a set_many(1000)"
        f" ({many_us:,.0f} us); admit itself {1e9 / typed['admit']:,.0f} ns"
    )
    print()


# -- the report ------------------------------------------------------------------

ORDER = ["get", "set", "set ttl", "set 1 sub", "set_many(1000)"]
UNITS = {"set_many(1000)": "keys/s"}
# The peer's figure a row is compared with, when not the row's own.
PEER_ROW = {"set 1 sub": "set"}
# The plain client each RedisStore column is compared with.
PEER_OF = {"pf redis-py": "redis-py", "pf coredis": "coredis"}
PEER_NOTE = (
    "  peers' set_many(1000): redis-py and coredis a pipeline of 1,000 SETs (no MULTI);"
    " aiocache MSET; cashews a pipeline"
)


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def report(backend: str, results: dict[str, Rows], server_us: dict[str, Rows]) -> None:
    columns = list(results)
    ours = [c for c in columns if c in PEER_OF]
    ratio_heads = [f"pf/{PEER_OF[c]}" for c in ours]
    head = f"{'operation (' + backend + ')':<22}" + "".join(f"{c:>13}" for c in columns)
    head += "".join(f"{h:>13}" for h in ratio_heads)
    print(head + "  unit")
    print("-" * (len(head) + 8))
    for op in ORDER:
        line = f"{op:<22}" + "".join(f"{fmt(results[c].get(op)):>13}" for c in columns)
        for c in ours:
            ratio = results[c][op] / results[PEER_OF[c]][PEER_ROW.get(op, op)]
            line += f"{ratio:>12.2f}" + ("x" if op not in PEER_ROW else "\u2020")
        print(line + f"  {UNITS.get(op, 'ops/s')}")
    print("server us/op")
    for op in ORDER:
        line = f"{op:<22}"
        for c in columns:
            us = server_us[c].get(op)
            line += f"{'-':>13}" if us is None else f"{us:>13.2f}"
        print(line + f"{'':>{13 * len(ours)}}  {'us/key' if op in UNITS else 'us/op'}")
    print(PEER_NOTE)
    print("  \u2020 set 1 sub: a RedisStore with one subscriber, over the plain client's SET")
    print(
        "  server us/op: time Redis spent in commands (INFO commandstats; a script's"
        " commands once) per op, least of the runs"
    )
    print("  a set's time, wall (server) in us per op, on one connection:")
    for c in ours:
        peer, peer_us = results[PEER_OF[c]], server_us[PEER_OF[c]]
        steps = [
            ("SET", peer["set"], peer_us["set"]),
            ("EVALSHA of a 1-SET script", peer["evalsha 1 SET"], peer_us["evalsha 1 SET"]),
            ("RedisStore.set", results[c]["set"], server_us[c]["set"]),
        ]
        parts = [f"{name} {1e6 / ops:,.0f} ({us:.1f})" for name, ops, us in steps]
        print(f"    {PEER_OF[c]}: " + "; ".join(parts))
    print()


def compare_backends(results: dict[str, dict[str, Rows]]) -> None:
    """trio's RedisStore figures over asyncio's, per driver."""
    trio = results["trio"]["pf coredis"]
    print("trio / asyncio, RedisStore:")
    for column in ("pf redis-py", "pf coredis"):
        aio = results["asyncio"][column]
        parts = [f"{op} {trio[op] / aio[op]:.2f}x" for op in ORDER]
        print(f"  trio (coredis) / asyncio ({column[3:]}): " + ", ".join(parts))
    print()


def verdicts(
    results: dict[str, dict[str, Rows]], latencies: dict[str, list[float]]
) -> list[tuple[bool, str]]:
    out: list[tuple[bool, str]] = []
    for backend, columns in results.items():
        for c in (c for c in columns if c in PEER_OF):
            ratio = columns[c]["set"] / columns[PEER_OF[c]]["set"]
            out.append(
                (
                    ratio >= 0.8,
                    f"{backend} {c[3:]}: set {ratio:.3f}x {PEER_OF[c]}'s plain SET"
                    f" ({'>=' if ratio >= 0.8 else '<'} 0.8x)",
                )
            )
            keys = columns[c]["set_many(1000)"]
            out.append(
                (
                    keys >= 200_000,
                    f"{backend} {c[3:]}: set_many {keys:,.0f} keys/s"
                    f" ({'>=' if keys >= 200_000 else '<'} 200,000)",
                )
            )
    for label, delays in latencies.items():
        if label.startswith("raw") or not delays:
            continue
        ordered = sorted(delays)
        p50, p99 = percentile(ordered, 0.5) * 1000, percentile(ordered, 0.99) * 1000
        out.append((p50 < 1, f"{label}: latency p50 {p50:.2f} ms ({'<' if p50 < 1 else '>='} 1)"))
        out.append((p99 < 5, f"{label}: latency p99 {p99:.2f} ms ({'<' if p99 < 5 else '>='} 5)"))
    # trio (coredis) next to asyncio's default (redis-py)
    if "trio" in results and "asyncio" in results:
        trio, aio = results["trio"]["pf coredis"], results["asyncio"]["pf redis-py"]
        for op in ORDER:
            factor = max(trio[op], aio[op]) / min(trio[op], aio[op])
            out.append(
                (
                    factor <= 2,
                    f"trio {op} {trio[op]:,.0f} vs asyncio {aio[op]:,.0f}: {factor:.3f}x apart"
                    f" ({'<=' if factor <= 2 else '>'} 2x)",
                )
            )
        lat_trio = sorted(latencies.get("trio, coredis", []))
        lat_aio = sorted(latencies.get("asyncio, redis-py", []))
        if lat_trio and lat_aio:
            a, b = percentile(lat_trio, 0.5), percentile(lat_aio, 0.5)
            factor = max(a, b) / min(a, b)
            out.append(
                (
                    factor <= 2,
                    f"trio latency p50 {a * 1000:.2f} ms vs asyncio {b * 1000:.2f} ms:"
                    f" {factor:.3f}x apart ({'<=' if factor <= 2 else '>'} 2x)",
                )
            )
    return out


def print_limits(bench: list[tuple[str, float]] | None) -> None:
    if bench is None:
        print("redis-benchmark is not installed: no server limit measured\n")
        return
    print("redis-benchmark (the server's limit, C client, requests/s):")
    for label, value in bench:
        print(f"  {label:<40}{value:>12,.0f}")
    print()


def print_verdicts(checks: list[tuple[bool, str]]) -> None:
    for title, wanted in (("targets met:", True), ("targets missed:", False)):
        lines = [text for met, text in checks if met is wanted]
        if lines:
            print(title)
            for line in lines:
                print("  " + line)
    if all(met for met, _ in checks):
        print("all targets met on asyncio and trio")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations")
    args = parser.parse_args()
    sizes = Sizes(args.quick)
    print(
        f"pepperflow RedisStore benchmark: best of {sizes.repeat}; {sizes.ops:,} sequential"
        f" awaited ops per figure, {sizes.batches} x set_many({BATCH:,}),"
        f" {sizes.samples:,} changes per latency run"
    )
    with private_server() as server:
        describe(server)
        results: dict[str, dict[str, Rows]] = {}
        typed_checks: list[tuple[bool, str]] = []
        for backend in ("asyncio", "trio"):
            rates, server_us = anyio.run(run_backend, backend, server, sizes, backend=backend)
            results[backend] = rates
            report(backend, rates, server_us)
            typed = anyio.run(run_typed, backend, server, sizes, backend=backend)
            typed_report(backend, typed)
            typed_checks += typed_verdicts(backend, typed)
        compare_backends(results)
        latencies = latency_rounds(server, sizes.latency_rounds, sizes.samples)
        latency_report(latencies, sizes.latency_rounds)
        bench = redis_benchmark(server, 20_000 if args.quick else 100_000)
    print_limits(bench)
    print_verdicts(verdicts(results, latencies) + typed_checks)
    return 0


if __name__ == "__main__":
    sys.exit(main())
