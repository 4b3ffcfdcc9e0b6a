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

An awaited write crosses threads twice (event loop -> connection thread ->
event loop), so its figure depends on where the OS puts the two threads:
on a VM, a wake-up across vCPUs costs far more than one on the same vCPU.
``--cpus 0`` runs the whole process on CPU 0 (as ``taskset -c 0`` does),
so both threads share it.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import anyio
import msgspec
from _timing import rate

from pepperflow.stores.sqlite import Durability, SqliteStore
from pepperflow.stores.sqlite._rows import decode_rows
from pepperflow.stores.sqlite._thread import OwnerThread

SyncOp = Callable[[int], Any]
KEYS = [f"user:{i}" for i in range(1000)]
BATCH = 1000  # keys per set_many / executemany
TASKS = (1, 8, 64)  # concurrent writer tasks


def tasks_row(tasks: int) -> str:
    return f"set, {tasks} task{'s' if tasks > 1 else ''}"


class Sizes:
    """How many operations each figure takes."""

    def __init__(self, quick: bool) -> None:
        self.get = 50_000 if quick else 200_000
        self.set = 1_000 if quick else 4_000
        self.set_full = 200 if quick else 1_000
        self.batches = 5 if quick else 20  # set_many(1,000) calls per run
        self.replay = 20_000 if quick else 100_000
        self.aio = 500 if quick else 2_000
        self.repeat = 3


def sync_rate(op: SyncOp, n: int, repeat: int) -> float:
    """Best ops/s of ``repeat`` runs of ``n`` calls of ``op``."""
    best = 0.0
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for i in range(n):
            op(i)
        best = max(best, n / (time.perf_counter() - start))
    return best


def batch(round_: int) -> dict[str, int]:
    return dict.fromkeys(KEYS, round_)


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


async def open_rate(path: str, kind: Any, keys: int, repeat: int) -> float:
    """Best keys/s of opening the file of ``keys`` keys at ``path`` with ``type=kind``."""
    fastest = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        async with SqliteStore(path, type=kind) as store:
            fastest = min(fastest, time.perf_counter() - start)
            assert store.statistics().keys == keys
    return keys / fastest


# -- typed against untyped ---------------------------------------------------------


class Record(msgspec.Struct, frozen=True):
    """The typed value; the untyped store gets the same fields as a dict."""

    id: int
    name: str
    score: float
    tags: list[str]
    at: datetime


def record(i: int) -> Record:
    return Record(i, f"user {i}", i / 3, ["admin", "beta"], datetime(2025, 1, 1, tzinfo=UTC))


def record_dict(i: int) -> dict[str, Any]:
    return msgspec.structs.asdict(record(i))


TYPED_OPS = ("set", "get", "decode", "changes_since(0)", "open")
TYPED_KINDS: list[tuple[str, Any, Callable[[int], Any]]] = [
    ("Struct", Record, record),
    ("dict", Any, record_dict),
]


async def typed_rows(directory: str, sizes: Sizes) -> dict[str, float]:
    """``"<op>, Struct"`` and ``"<op>, dict"`` for each of :data:`TYPED_OPS`: the
    best of ``sizes.repeat + 2`` rounds, in which the two take turns (on a
    busy machine, a slow spell then slows both)."""
    rows: dict[str, float] = {}
    for round_ in range(sizes.repeat + 2):
        for label, kind, make in TYPED_KINDS:
            path = os.path.join(directory, f"pf-typed-{label}-{round_}.db")
            for op, figure in (await kind_rows(path, kind, make, sizes)).items():
                rows[f"{op}, {label}"] = max(figure, rows.get(f"{op}, {label}", 0.0))
    return rows


async def kind_rows(
    path: str, kind: Any, make: Callable[[int], Any], sizes: Sizes
) -> dict[str, float]:
    """One run of each of :data:`TYPED_OPS` on a store ``type=kind`` of values ``make(i)``."""
    rows: dict[str, float] = {}
    total = sizes.replay
    values = [make(i) for i in range(1000)]
    async with SqliteStore(path, type=kind) as store:
        await store.set_many(dict(zip(KEYS, values, strict=True)))
        rows["set"] = await rate(
            lambda i: store.set(KEYS[i % 1000], values[i % 1000]), sizes.set, 1
        )
        rows["get"] = await rate(lambda i: store.get(KEYS[i % 1000]), sizes.get, 1)
        await store.clear()
        for first in range(0, total, BATCH):
            await store.set_many({f"item:{i}": make(i) for i in range(first, first + BATCH)})
        rows["changes_since(0)"] = total * await rate(lambda _: store.changes_since(0), 1, 1)
        with contextlib.closing(sqlite3.connect(path)) as conn:
            stored = conn.execute("SELECT key, data FROM pepperflow_changes").fetchall()
        decode = store.codec.decode_change
        rows["decode"] = len(stored) * sync_rate(lambda _: decode_rows(decode, stored), 1, 1)
    rows["open"] = await open_rate(path, kind, total, 1)
    return rows


def typed_report(backend: str, typed: dict[str, float], sizes: Sizes) -> tuple[bool, str]:
    """Print the typed-vs-untyped pairs; return the verdict on decoding (open)."""
    print(f"{'typed vs untyped (' + backend + ')':<30}{'Struct':>12}{'dict':>12}{'ratio':>9}")
    for op in TYPED_OPS:
        struct, plain = typed[f"{op}, Struct"], typed[f"{op}, dict"]
        print(f"{op:<30}{fmt(struct):>12}{fmt(plain):>12}{struct / plain:>8.2f}x")
    print(
        f"  a Struct of 5 fields in a SqliteStore(type=Struct) against the same data as a dict"
        f" untyped; decode = the changelog's rows decoded by the store's codec alone (rows/s),"
        f" changes_since(0) and open read and decode {sizes.replay:,} rows (changes/s, keys/s)\n"
    )
    ratio = typed["decode, Struct"] / typed["decode, dict"]
    return ratio >= 1.0, f"{backend}: typed decoding {ratio:.2f}x untyped (rows/s), target >= 1x"


# -- stdlib sqlite3: the limit ---------------------------------------------------

SCHEMA = "CREATE TABLE kv (key TEXT PRIMARY KEY, value BLOB) WITHOUT ROWID"
UPSERT = "INSERT OR REPLACE INTO kv VALUES (?, ?)"
SELECT = "SELECT value FROM kv WHERE key = ?"
VALUE = b"\x01"


def connect(path: str, synchronous: str = "NORMAL") -> sqlite3.Connection:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute(SCHEMA)
    conn.executemany(UPSERT, [(key, VALUE) for key in KEYS])
    conn.commit()
    return conn


def sqlite3_rows(directory: str, sizes: Sizes) -> dict[str, float]:
    rows: dict[str, float] = {}
    repeat = sizes.repeat
    for synchronous, n in (("NORMAL", sizes.set), ("FULL", sizes.set_full)):
        conn = connect(os.path.join(directory, f"sqlite3-{synchronous}.db"), synchronous)

        def upsert(i: int, conn: sqlite3.Connection = conn) -> None:
            conn.execute(UPSERT, (KEYS[i % 1000], VALUE))
            conn.commit()

        rows[f"set ({synchronous.lower()})"] = sync_rate(upsert, n, repeat)
        conn.close()

    conn = connect(os.path.join(directory, "sqlite3.db"))

    def select(i: int) -> None:
        conn.execute(SELECT, (KEYS[i % 1000],)).fetchone()

    rows["get"] = sync_rate(select, sizes.get, 5)

    def executemany(i: int) -> None:
        conn.executemany(UPSERT, [(key, VALUE) for key in KEYS])
        conn.commit()

    rows["set_many(1000)"] = BATCH * sync_rate(executemany, sizes.batches, repeat)

    total = sizes.replay
    conn.executemany(UPSERT, [(f"item:{i}", VALUE) for i in range(total)])
    conn.commit()
    conn.execute("DELETE FROM kv WHERE key NOT LIKE 'item:%'")
    conn.commit()

    def read_all(_: int) -> None:
        assert len(conn.execute("SELECT key, value FROM kv").fetchall()) == total

    rows["full read"] = total * sync_rate(read_all, 1, repeat)
    conn.close()
    return rows


# -- aiosqlite (asyncio only) ------------------------------------------------------


async def aiosqlite_rows(directory: str, sizes: Sizes) -> dict[str, float]:
    try:
        import aiosqlite  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        print("aiosqlite is not installed (pip install aiosqlite): its column is empty\n")
        return {}
    rows: dict[str, float] = {}
    repeat = sizes.repeat
    path = os.path.join(directory, "aiosqlite.db")
    connect(path).close()
    async with aiosqlite.connect(path) as db:
        await db.execute("PRAGMA synchronous=NORMAL")

        async def upsert(i: int) -> None:
            await db.execute(UPSERT, (KEYS[i % 1000], VALUE))
            await db.commit()

        async def select(i: int) -> None:
            await db.execute_fetchall(SELECT, (KEYS[i % 1000],))

        async def executemany(i: int) -> None:
            await db.executemany(UPSERT, [(key, VALUE) for key in KEYS])
            await db.commit()

        rows["set (normal)"] = await rate(upsert, sizes.aio, repeat)
        rows["get"] = await rate(select, sizes.aio * 2, repeat)
        rows["set_many(1000)"] = BATCH * await rate(executemany, sizes.batches, repeat)
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


def fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}"


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
