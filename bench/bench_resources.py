"""Resource acquire+release round trips per second, on asyncio and trio, in one run.

    python bench/bench_resources.py [--quick]

Measures acquire+release of one resource through DefaultResourceManager (a
bare resource; a kind with a sync factory and a limit; a kind with an async
generator factory; a kind with an idle timeout, whose record carries a ttl
in the store and whose expiries the manager follows; a second acquire of an
active resource with an idle timeout, which sets its record's ttl again;
with a subscriber watching the status records) and
through managed_resource (as an async context manager and as a decorator),
next to a bare anyio CapacityLimiter round trip (``async with limiter:``),
the smallest thing that bounds concurrent resources, and an empty
``anyio.CancelScope(shield=True)`` (what an async cleanup costs on top:
it runs shielded). Each figure is the best of 5 runs; each row prints its
ratio to the limiter. The target, >= 100,000 round trips per second (R045
asks < 50 ms per acquire), applies to the rows marked with ``*``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from collections.abc import AsyncIterator

import anyio
from _timing import Op, rate

from pepperflow import DefaultResourceManager, managed_resource
from pepperflow.streams import Change

TARGET = 100_000
TARGET_ROWS = {
    "bare resource",
    "sync factory, limit",
    "managed_resource, async with",
    "managed_resource, decorator",
}
IDS = [f"job:{i}" for i in range(1000)]
DB_IDS = [f"db:{i}" for i in range(1000)]
TMP_IDS = [f"tmp:{i}" for i in range(1000)]
IDLE_IDS = [f"idle:{i}" for i in range(1000)]


class Conn:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


async def temp_file(resource_id: str) -> AsyncIterator[str]:
    yield resource_id


def managed_ops(resources: DefaultResourceManager) -> dict[str, Op]:
    """The round trips through managed_resource: as an async context manager, as a decorator."""
    hold = managed_resource("job", resources)

    async def context(i: int) -> None:
        async with hold:
            pass

    @managed_resource("job", resources)
    async def decorated(job: str) -> None:
        return None

    return {
        "managed_resource, async with": context,
        "managed_resource, decorator": lambda i: decorated(),
    }


async def run_backend(n: int) -> dict[str, float]:
    rows: dict[str, float] = {}
    limiter = anyio.CapacityLimiter(10)

    async def limiter_round_trip(i: int) -> None:
        async with limiter:
            pass

    rows["anyio CapacityLimiter"] = await rate(limiter_round_trip, n)

    async def shield(i: int) -> None:
        with anyio.CancelScope(shield=True):  # noqa: ASYNC100 - its cost is the point
            pass

    rows["empty shielded CancelScope"] = await rate(shield, n)

    async with DefaultResourceManager() as resources:
        resources.register_factory("db", Conn, limit=10)
        resources.register_factory("tmp", temp_file)
        resources.register_factory("idle", None, idle_timeout=300)

        def round_trip(ids: list[str], uses: int = 1) -> Op:
            """acquire ``uses`` times, then release, one of ``ids`` per call."""

            async def op(i: int) -> None:
                resource_id = ids[i % 1000]
                for _ in range(uses):
                    await resources.acquire(resource_id)
                await resources.release(resource_id)

            return op

        bare = round_trip(IDS)
        rows["bare resource"] = await rate(bare, n)
        rows["sync factory, limit"] = await rate(round_trip(DB_IDS), n)
        rows["async generator factory"] = await rate(round_trip(TMP_IDS), n)

        for name, op in managed_ops(resources).items():
            rows[name] = await rate(op, n)
        # After the rows above: from its first timed record on, the manager
        # subscribes to the expiries of the kind's records.
        rows["idle timeout (record ttl)"] = await rate(round_trip(IDLE_IDS), n)
        rows["idle timeout, acquired twice"] = await rate(round_trip(IDLE_IDS, 2), n)

        async def watcher(change: Change) -> None:
            return None

        with resources.subscribe(None, watcher):
            rows["bare, 1 record subscriber"] = await rate(bare, n)
        assert (await resources.monitor())["active_resources"] == 0
    return rows


def report(backend: str, rows: dict[str, float]) -> list[str]:
    limit = rows["anyio CapacityLimiter"]
    head = (
        f"{'round trip (' + backend + ')':<34}{'per second':>12}{'us each':>10}{'vs limiter':>12}"
    )
    print(head)
    print("-" * len(head))
    for name, value in rows.items():
        mark = "*" if name in TARGET_ROWS else " "
        print(f"{mark}{name:<33}{value:>12,.0f}{1e6 / value:>10.2f}{value / limit:>11.2f}x")
    print()
    return [
        f"{backend}: {name} {value:,.0f}/s < {TARGET:,}/s"
        for name, value in rows.items()
        if name in TARGET_ROWS and value < TARGET
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 round trips per figure")
    args = parser.parse_args()
    n = 20_000 if args.quick else 100_000
    print(f"pepperflow resources benchmark: {n:,} acquire+release per figure, best of 5")
    print(f"python {sys.version.split()[0]}, {platform.machine()}, {os.cpu_count()} cores\n")
    failures: list[str] = []
    for backend in ("asyncio", "trio"):
        rows = anyio.run(run_backend, n, backend=backend)
        failures += report(backend, rows)
    if failures:
        print("targets missed:")
        for failure in failures:
            print("  " + failure)
        return 1
    print(f"every * row >= {TARGET:,} acquire+release per second on asyncio and trio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
