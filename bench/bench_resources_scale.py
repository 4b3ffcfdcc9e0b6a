"""DefaultResourceManager at application scale, on asyncio and trio, in one run.

    python bench/bench_resources_scale.py [--quick]

bench_resources.py's acquire+release round trips where real applications
live, each figure measured in alternating rounds (10,000 round trips each)
next to its peer, a bare ``anyio.CapacityLimiter`` round trip, per second
of the process's CPU time (nothing here waits for anything outside the
process, so that is what a round trip costs whatever else the machine runs):

- active resources: the round trips of bench_resources.py (a bare
  resource; a sync factory with a limit of 10; an async generator factory;
  managed_resource as an async context manager and as a decorator; a kind
  with an idle timeout) while 1, 100, 10,000, 100,000 and 1,000,000
  (``--quick``: up to 100,000) other resources are held active, each with
  an idle timeout (so the manager's store holds that many records with a
  ttl, and its expiry heap as many entries);
- tasks: 1, 4, 16 and 64 tasks at once, each doing round trips of its own
  ids: bare (the target's), and holding the resource across a checkpoint
  (so the tasks interleave): bare, and of a kind with a limit of 10 (past
  10 tasks they queue for it), next to the tasks doing the same with a
  ``CapacityLimiter(10)``.

Target: bench_resources.py's, >= 100,000 round trips per second on the rows
marked ``*`` at every scale (R045 asks < 50 ms per acquire). Draws
docs/img/resources_scale_*.svg.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
from _plots import plot
from _scale import check, scale_main
from _timing import Op, interleaved
from bench_resources import TARGET, Conn, managed_ops, temp_file

from pepperflow import DefaultResourceManager

TASKS = (1, 4, 16, 64)
OPS = 10_000
#: Rates per second of this process's CPU: a round trip never waits for
#: anything outside the process, so on a shared machine this is what it costs.
CPU = time.process_time
PEER = "anyio CapacityLimiter"
TARGET_ROWS = ("bare resource", "sync factory, limit", "managed_resource, async with")
TASK_ROWS = {  # row -> its peer
    "*bare": PEER,
    "bare, held across a checkpoint": "CapacityLimiter(10), held across a checkpoint",
    "limit 10, held across a checkpoint": "CapacityLimiter(10), held across a checkpoint",
}


def round_trip(resources: DefaultResourceManager, kind: str) -> Op:
    """acquire then release ``kind:N``, N over 1,000 ids."""
    ids = [f"{kind}:{i}" for i in range(1000)]

    async def op(i: int) -> None:
        await resources.acquire(ids[i % 1000])
        await resources.release(ids[i % 1000])

    return op


def limiter_round_trip(limiter: anyio.CapacityLimiter) -> Op:
    async def op(i: int) -> None:
        async with limiter:
            pass

    return op


def register(resources: DefaultResourceManager) -> None:
    resources.register_factory("db", Conn, limit=10)
    resources.register_factory("tmp", temp_file)
    resources.register_factory("idle", None, idle_timeout=300)
    resources.register_factory("held", None, idle_timeout=3600)


async def active_rows(levels: tuple[int, ...], rounds: int) -> dict[int, dict[str, float]]:
    """Round trips/s of each figure while ``level`` other resources are active."""
    rows: dict[int, dict[str, float]] = {}
    async with DefaultResourceManager() as resources:
        register(resources)
        ops: dict[str, Op] = {
            PEER: limiter_round_trip(anyio.CapacityLimiter(10)),
            "bare resource": round_trip(resources, "job"),
            "sync factory, limit": round_trip(resources, "db"),
            "async generator factory": round_trip(resources, "tmp"),
            **managed_ops(resources),
            "idle timeout (record ttl)": round_trip(resources, "idle"),
        }
        held = 0
        for level in levels:
            for i in range(held, level):
                await resources.acquire(f"held:{i}")
            held = level
            rows[level] = await interleaved(ops, OPS, rounds, CPU)
            assert (await resources.monitor())["active_resources"] == level
    return rows


def tasks_op(tasks: int, body: Callable[[int], Op]) -> Op:
    """The op: ``tasks`` tasks at once, task ``t`` awaiting ``body(t)`` OPS // tasks times."""

    async def run(_: int) -> None:
        async def task(t: int) -> None:
            op = body(t)
            for i in range(OPS // tasks):
                await op(i)

        async with anyio.create_task_group() as group:
            for t in range(tasks):
                group.start_soon(task, t)

    return run


async def task_rows(rounds: int) -> dict[int, dict[str, float]]:
    rows: dict[int, dict[str, float]] = {}
    async with DefaultResourceManager() as resources:
        register(resources)

        def holding(kind: str) -> Callable[[int], Op]:
            def body(t: int) -> Op:
                ids = [f"{kind}:{t}:{i}" for i in range(100)]

                async def op(i: int) -> None:
                    await resources.acquire(ids[i % 100])
                    await anyio.lowlevel.checkpoint()
                    await resources.release(ids[i % 100])

                return op

            return body

        limiter = anyio.CapacityLimiter(10)

        async def limited(i: int) -> None:
            async with limiter:
                await anyio.lowlevel.checkpoint()

        for tasks in TASKS:
            ops = {
                PEER: tasks_op(tasks, lambda t: limiter_round_trip(anyio.CapacityLimiter(10))),
                "*bare": tasks_op(tasks, lambda t: round_trip(resources, f"job{t}")),
                "CapacityLimiter(10), held across a checkpoint": tasks_op(tasks, lambda t: limited),
                "bare, held across a checkpoint": tasks_op(tasks, holding("own")),
                "limit 10, held across a checkpoint": tasks_op(tasks, holding("db")),
            }
            best = await interleaved(ops, 1, rounds, CPU)
            rows[tasks] = {name: value * (OPS // tasks * tasks) for name, value in best.items()}
    return rows


async def run_backend(backend: str, key_counts: tuple[int, ...], rounds: int) -> dict[str, Any]:
    return {
        "active": await active_rows((1, 100, 10_000, *key_counts[1:]), rounds),
        "tasks": await task_rows(rounds),
    }


def table(title: str, rows: dict[int, dict[str, float]], peers: Callable[[str], str]) -> None:
    head = f"{title:<46}" + "".join(f"{level:>18,}" for level in rows)
    print(head + "\n" + "-" * len(head))
    for name in next(iter(rows.values())):
        cells = "".join(
            f"{row[name]:>10,.0f} ({row[name] / row[peers(name)]:4.2f}x)" for row in rows.values()
        )
        print(f"{name:<46}{cells}")
    print()


def report(backend: str, results: dict[str, Any]) -> list[str]:
    active, tasks = results["active"], results["tasks"]
    table(f"round trips/s ({backend}), by active resources", active, lambda name: PEER)
    table(
        f"round trips/s ({backend}), by tasks at once",
        tasks,
        lambda name: TASK_ROWS.get(name, name),
    )
    print("  in brackets: the ratio to the peer (the limiter's row) in the same rounds")
    print(f"targets ({backend})")
    failures: list[str] = []
    for level, row in active.items():
        for name in TARGET_ROWS:
            failures += check(backend, f"{name}, {level:,} active, /s", row[name], TARGET)
    for count, row in tasks.items():
        failures += check(backend, f"bare, {count} tasks, /s", row["*bare"], TARGET)
    print()
    return failures


def draw(all_results: dict[str, dict[str, Any]]) -> None:
    active: dict[str, list[tuple[float, float]]] = {}
    tasks: dict[str, list[tuple[float, float]]] = {}
    for backend, results in all_results.items():
        for name in (PEER, "bare resource", "sync factory, limit", "idle timeout (record ttl)"):
            active[f"{name} ({backend})"] = [(n, r[name]) for n, r in results["active"].items()]
        for name in ("*bare", *TASK_ROWS.values(), *list(TASK_ROWS)[1:]):
            tasks[f"{name.lstrip('*')} ({backend})"] = [
                (n, r[name]) for n, r in results["tasks"].items()
            ]
    plot(
        "resources_scale_active",
        "acquire+release/s by resources held active",
        "active resources",
        "round trips/s",
        active,
    )
    plot(
        "resources_scale_tasks",
        "acquire+release/s by tasks at once",
        "tasks",
        "round trips/s",
        tasks,
    )


def main() -> int:
    return scale_main(__doc__, run_backend, report, draw)


if __name__ == "__main__":
    sys.exit(main())
