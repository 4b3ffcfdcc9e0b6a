"""SqliteStore next to its peers, on asyncio and trio, in one run.

    python bench/bench_sqlite.py [--quick] [--dir DIR] [--cpus 0]

Every figure uses its own file in a fresh temporary directory (under
``--dir`` when given: the file system decides what an fsync costs).

Measures SqliteStore: get ops/s (keys present); the round trip to the
connection's thread with no SQL (an empty job: the floor of any awaited
write); single awaited set ops/s
with ``durability="normal"`` and ``"full"``; set ops/s from 1, 8 and 64
concurrent writer tasks (group commit should make it grow); set_many(1,000)
keys/s; the replay of 100,000 changes, both ``changes_since(0)`` (history,
read from the file) and a ``changes(replay=True)`` feed consumed to its end
(state, from memory); and the time to open a file of 100,000 keys.
Typed against untyped: set, get and open (which decodes every row) with a
msgspec Struct value and ``type=`` that Struct, against the same data as a
dict in an untyped store, and the changelog's rows decoded by each store's
codec alone (target: typed decoding no slower than untyped).

Next to it: stdlib ``sqlite3`` doing the same work directly and
synchronously on a ``(key TEXT PRIMARY KEY, value BLOB)`` table in WAL mode
(the limit): ``INSERT OR REPLACE`` + ``commit()`` per row (synchronous
NORMAL, and FULL), ``executemany`` of 1,000 rows + ``commit()``, a point
``SELECT``, and ``SELECT *`` + ``fetchall()`` of 100,000 rows; and
aiosqlite (asyncio only: it is built on asyncio) awaiting an insert and a
commit per row, ``executemany`` of 1,000 rows + commit, and a point select
(``execute_fetchall``, one thread hop). Prints one table per backend with
each figure's ratio to the sqlite3 limit and to aiosqlite, then the targets
and whether they were met. Always exits 0: it is a report.

A lone awaited write commits on the event loop's thread (no thread
crossing); concurrent writers, ``durability="full"`` and big batches go
through the connection's thread, crossing threads twice (event loop ->
connection thread -> event loop), so their figures depend on where the OS
puts the two threads: on a VM, a wake-up across vCPUs costs far more than
one on the same vCPU. ``--cpus 0`` runs the whole process on CPU 0 (as
``taskset -c 0`` does), so both threads share it. Ratio target: a single
awaited set (``durability="normal"``) >= 0.33x sqlite3's synchronous
``INSERT OR REPLACE`` + ``commit()`` (synchronous=NORMAL) in the same run.

The same store at 100,000 and 1,000,000 keys: bench_sqlite_scale.py.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sqlite3
import sys
import tempfile
import time
from typing import Any

import anyio
from _sqlite_peers import BATCH, KEYS, Sizes, aiosqlite_rows, batch, fmt, sqlite3_rows
from _sqlite_typed import open_rate, typed_report, typed_rows
from _timing import rate

from pepperflow.stores.sqlite import Durability, SqliteStore
from pepperflow.stores.sqlite._thread import OwnerThread

TASKS = (1, 8, 64)  # concurrent writer tasks


def tasks_row(tasks: int) -> str:
    return f"set, {tasks} task{'s' if tasks > 1 else ''}"


# -- SqliteStore ---------------------------------------------------------------


async def concurrent_rate(store: SqliteStore[Any], tasks: int, n: int, repeat: int) -> float:
    """Best total sets/s of ``tasks`` tasks each awaiting ``n // tasks`` sets."""
    per_task = n // tasks
    best = 0.0
    for _ in range(repeat):
        gc.collect()

        async def writer(j: int) -> None:
            for i in range(per_task):
                await store.set(KEYS[(j * per_task + i) % 1000], i)

        start = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for j in range(tasks):
                tg.start_soon(writer, j)
        best = max(best, per_task * tasks / (time.perf_counter() - start))
    return best


def _nothing(*args: object) -> None:
    return None


def _settled(*args: object) -> bool:
    return True


async def round_trip_rate(n: int, repeat: int) -> float:
    """Best empty jobs/s through the thread SqliteStore runs its connection on."""
    thread: OwnerThread[object] = OwnerThread(
        open=object, run_group=_nothing, close=_nothing, on_done=_settled, name="bench"
    )
    await thread.start()
    try:
        return await rate(lambda _: thread.run(_nothing), n, repeat)
    finally:
        await thread.stop()


async def store_rows(directory: str, sizes: Sizes) -> dict[str, float]:
    rows: dict[str, float] = {}
    repeat = sizes.repeat
    rows[ROUND_TRIP] = await round_trip_rate(sizes.set, repeat)

    def path(name: str) -> str:
        return os.path.join(directory, f"{name}.db")

    async with SqliteStore(path("pf-get")) as store:
        await store.set_many(batch(0))
        rows["get"] = await rate(lambda i: store.get(KEYS[i % 1000]), sizes.get, 5)

    durability: Durability
    for durability, n in (("normal", sizes.set), ("full", sizes.set_full)):
        async with SqliteStore(path(f"pf-set-{durability}"), durability=durability) as store:
            await store.set_many(batch(0))
            rows[f"set ({durability})"] = await rate(
                lambda i: store.set(KEYS[i % 1000], i), n, repeat
            )

    for tasks in TASKS:
        async with SqliteStore(path(f"pf-tasks-{tasks}")) as store:
            await store.set_many(batch(0))
            rows[tasks_row(tasks)] = await concurrent_rate(store, tasks, sizes.set, repeat)

    async with SqliteStore(path("pf-set-many")) as store:
        await store.set_many(batch(0))
        rows["set_many(1000)"] = BATCH * await rate(
            lambda i: store.set_many(batch(i)), sizes.batches, repeat
        )

    total = sizes.replay
    replay_path = path("pf-replay")
    async with SqliteStore(replay_path) as store:
        for first in range(0, total, BATCH):
            await store.set_many({f"item:{i}": i for i in range(first, first + BATCH)})
        rows["changes_since(0)"] = total * await rate(lambda _: store.changes_since(0), 1, repeat)
        assert len(await store.changes_since(0)) == total

        async def state_replay(_: int) -> None:
            got = 0
            async with store.changes(replay=True) as feed:
                async for _change in feed:
                    got += 1
                    if got == total:
                        break
            assert got == total

        rows["changes(replay=True)"] = total * await rate(state_replay, 1, repeat)

    rows["open, keys/s"] = await open_rate(replay_path, Any, total, repeat)
    return rows


# -- the report ------------------------------------------------------------------

ROUND_TRIP = "thread round trip"
ORDER = [
    "get",
    ROUND_TRIP,
    "set (normal)",
    "set (full)",
    *(tasks_row(tasks) for tasks in TASKS),
    "set_many(1000)",
    "changes_since(0)",
    "changes(replay=True)",
    "open, keys/s",
]
# The sqlite3 figure each row is compared with, when it is not the row's own.
LIMIT_OF = {
    ROUND_TRIP: "set (normal)",
    **{tasks_row(tasks): "set (normal)" for tasks in TASKS},
    "changes_since(0)": "full read",
    "changes(replay=True)": "full read",
    "open, keys/s": "full read",
}
UNITS = {
    "set_many(1000)": "keys/s",
    "changes_since(0)": "changes/s",
    "changes(replay=True)": "changes/s",
    "open, keys/s": "keys/s",
}
#: A single awaited set (normal) against sqlite3's set (normal), in one run.
SET_RATIO = 0.33
TARGETS: dict[str, float] = {
    "get": 100_000,
    "set (normal)": 20_000,
    "set_many(1000)": 200_000,
    "changes_since(0)": 500_000,
    "changes(replay=True)": 500_000,
}


async def run_backend(backend: str, directory: str, sizes: Sizes) -> dict[str, dict[str, float]]:
    results = {
        "pepperflow": await store_rows(directory, sizes),
        "sqlite3": sqlite3_rows(directory, sizes),
        "typed": await typed_rows(directory, sizes),
    }
    if backend == "asyncio":
        results["aiosqlite"] = await aiosqlite_rows(directory, sizes)
    return results


def report(
    backend: str, results: dict[str, dict[str, float]], sizes: Sizes
) -> list[tuple[bool, str]]:
    """Print the backend's table; return (met, description) per target."""
    ours, limit = results["pepperflow"], results["sqlite3"]
    aio = results.get("aiosqlite", {})
    aio_head = "aiosqlite" if backend == "asyncio" else "aiosqlite*"
    head = f"{'operation (' + backend + ')':<26}{'pepperflow':>13}{'sqlite3':>13}{aio_head:>13}"
    print(head + f"{'vs sqlite3':>12}{'vs aiosqlite':>14}  unit")
    print("-" * (len(head) + 34))
    for op in ORDER:
        own = limit.get(op)
        base = limit.get(LIMIT_OF.get(op, op))
        peer = aio.get(op)
        line = f"{op:<26}{fmt(ours.get(op)):>13}{fmt(own):>13}{fmt(aio.get(op)):>13}"
        mark = " " if own is not None else "\u2020"
        line += f"{ours[op] / base:>10.2f}x{mark}" if base else f"{'':>12}"
        line += f"{ours[op] / peer:>13.2f}x" if peer else f"{'':>14}"
        print(line + f"  {UNITS.get(op, 'ops/s')}")
    print(
        f"  sqlite3 (synchronous, WAL): get = point SELECT; set = INSERT OR REPLACE + commit"
        f" per row; set_many = executemany({BATCH:,}) + commit;\n"
        f"  \u2020 compared with sqlite3 'set (normal)' (round trip, tasks) or with SELECT *"
        f" fetchall of {sizes.replay:,} rows ({fmt(limit['full read'])} rows/s: replays, open)\n"
        f"  thread round trip: an empty job through the connection's thread (no SQL), the"
        f" most any awaited write can reach"
    )
    if backend != "asyncio":
        print("  * aiosqlite is built on asyncio: measured on asyncio only")
    open_ms = sizes.replay / ours["open, keys/s"] * 1000
    print(f"  open of a file with {sizes.replay:,} keys: {open_ms:,.1f} ms")
    scale = ours[tasks_row(TASKS[-1])] / ours[tasks_row(TASKS[0])]
    print(f"  group commit: {TASKS[-1]} writer tasks give {scale:.1f}x the sets/s of 1 task")
    print()
    verdicts = [typed_report(backend, results["typed"], sizes)]
    ratio = ours["set (normal)"] / limit["set (normal)"]
    verdicts.append(
        (
            ratio >= SET_RATIO,
            f"{backend}: set (normal) {ratio:.2f}x sqlite3's synchronous set,"
            f" target >= {SET_RATIO}x",
        )
    )
    for op, target in TARGETS.items():
        met = ours[op] >= target
        sign = ">=" if met else "<"
        unit = UNITS.get(op, "ops/s")
        verdicts.append(
            (met, f"{backend}: {op} {ours[op]:,.0f} {sign} target {target:,.0f} {unit}")
        )
    return verdicts


def file_system(directory: str) -> str:
    """The file system type of ``directory`` (Linux), or '?'."""
    best, kind = "", "?"
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                fields = line.split()
                if (
                    len(fields) > 2
                    and directory.startswith(fields[1])
                    and len(fields[1]) > len(best)
                ):
                    best, kind = fields[1], fields[2]
    except OSError:
        pass
    return kind


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer operations")
    parser.add_argument("--dir", default=None, help="where to make the temporary directory")
    parser.add_argument(
        "--cpus", default=None, help="run on these CPUs only, e.g. 0 or 0,1 (Linux)"
    )
    args = parser.parse_args()
    if args.cpus is not None:
        os.sched_setaffinity(0, {int(cpu) for cpu in args.cpus.split(",")})
    sizes = Sizes(args.quick)
    print(
        f"pepperflow SqliteStore benchmark: best of {sizes.repeat} (get: best of 5);"
        f" {sizes.set:,} sets (full: {sizes.set_full:,}), {sizes.batches} x set_many"
        f"({BATCH:,}), replay of {sizes.replay:,} changes"
    )
    print(
        f"python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version},"
        f" {platform.machine()}, {os.cpu_count()} cores"
        + (f", pinned to CPU {args.cpus}" if args.cpus is not None else "")
    )
    verdicts: list[tuple[bool, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-", dir=args.dir) as root:
        print(f"files in {root} ({file_system(os.path.realpath(root))})\n")
        for backend in ("asyncio", "trio"):
            directory = os.path.join(root, backend)
            os.mkdir(directory)
            results = anyio.run(run_backend, backend, directory, sizes, backend=backend)
            verdicts += report(backend, results, sizes)
    for title, wanted in (("targets met:", True), ("targets missed:", False)):
        lines = [text for met, text in verdicts if met is wanted]
        if lines:
            print(title)
            for line in lines:
                print("  " + line)
    if all(met for met, _ in verdicts):
        print("all targets met on asyncio and trio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
