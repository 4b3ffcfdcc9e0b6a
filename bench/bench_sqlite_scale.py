"""SqliteStore at application scale: set, get and open at 1,000 to 1,000,000 keys.

    python bench/bench_sqlite_scale.py [--quick] [--dir DIR]

For each scale (1,000, 10,000, 100,000 and 1,000,000 distinct keys; up to
100,000 with ``--quick``) one file is filled once (``set_many`` of 10,000
keys at a time), then, on asyncio and on trio: the time to open it (the
changelog folded into memory), single awaited ``set`` ops/s of keys
already there (random ones, ``durability="normal"``) and awaited ``get``
ops/s of random keys. Next to it, in the same run, stdlib ``sqlite3`` on a
``(key TEXT PRIMARY KEY, value BLOB)`` table of as many rows in WAL mode:
``INSERT OR REPLACE`` + ``commit()`` (synchronous=NORMAL), a point
``SELECT``, and ``SELECT *`` + ``fetchall()`` of every row (what opening
must at least read). Prints one table per backend with each figure's ratio
to sqlite3's, and draws docs/img/sqlite_scale_ops.svg (set and get ops/s)
and docs/img/sqlite_scale_open.svg (seconds to open) with bench/_plots.py.
Always exits 0: it is a report.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import random
import sys
import tempfile
import time

import anyio
from _plots import plot
from _sqlite_peers import connect, fmt, sync_rate
from _timing import rate

from pepperflow.stores.sqlite import SqliteStore

SCALES = (1_000, 10_000, 100_000, 1_000_000)
FILL = 10_000  # keys per set_many / executemany while filling
SETS = 2_000
GETS = 100_000
REPEAT = 3
ROWS = ("open, s", "set", "get")


def key(i: int) -> str:
    return f"user:{i}"


async def fill(path: str, keys: int) -> None:
    async with SqliteStore(path) as store:
        for first in range(0, keys, FILL):
            await store.set_many({key(i): i for i in range(first, min(keys, first + FILL))})


async def store_rows(path: str, keys: int) -> dict[str, float]:
    """Open seconds (best of :data:`REPEAT`), set and get ops/s on the file of ``keys`` keys."""
    rows: dict[str, float] = {"open, s": float("inf")}
    for _ in range(REPEAT):
        gc.collect()
        start = time.perf_counter()
        async with SqliteStore(path) as store:
            rows["open, s"] = min(rows["open, s"], time.perf_counter() - start)
            assert store.statistics().keys == keys
    picks = [key(random.randrange(keys)) for _ in range(max(SETS, GETS))]
    async with SqliteStore(path) as store:
        rows["set"] = await rate(lambda i: store.set(picks[i], i), SETS, REPEAT)
        rows["get"] = await rate(lambda i: store.get(picks[i]), GETS, REPEAT)
    return rows


def sqlite3_rows(directory: str, keys: int) -> dict[str, float]:
    """The same figures on a plain table of ``keys`` rows."""
    path = os.path.join(directory, f"sqlite3-{keys}.db")
    picks = [key(random.randrange(keys)) for _ in range(max(SETS, GETS))]
    rows: dict[str, float] = {}
    with contextlib.closing(connect(path)) as conn:  # holds user:0 .. user:999 already
        for first in range(0, keys, FILL):
            batch = [(key(i), b"\x01") for i in range(first, min(keys, first + FILL))]
            conn.executemany("INSERT OR REPLACE INTO kv VALUES (?, ?)", batch)
            conn.commit()

        def upsert(i: int) -> None:
            conn.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (picks[i], b"\x02"))
            conn.commit()

        def select(i: int) -> None:
            conn.execute("SELECT value FROM kv WHERE key = ?", (picks[i],)).fetchone()

        def read_all(_: int) -> None:
            assert len(conn.execute("SELECT key, value FROM kv").fetchall()) == keys

        rows["open, s"] = 1 / sync_rate(read_all, 1, REPEAT)
        rows["set"] = sync_rate(upsert, SETS, REPEAT)
        rows["get"] = sync_rate(select, GETS, REPEAT)
    return rows


def report(
    backend: str, ours: dict[int, dict[str, float]], peer: dict[int, dict[str, float]]
) -> None:
    head = f"{'SqliteStore (' + backend + ')':<22}"
    print(head + "".join(f"{f'{n:,} keys':>26}" for n in ours))
    for row in ROWS:
        cells = []
        for n in ours:
            mine, theirs = ours[n][row], peer[n][row]
            value = f"{mine:.3f}" if row == "open, s" else fmt(mine)
            ratio = theirs / mine if row == "open, s" else mine / theirs  # >1: faster
            cells.append(f"{value:>14} ({ratio:5.2f}x)")
        print(f"{row:<22}" + "".join(f"{cell:>26}" for cell in cells))
    print(
        "  in brackets: speed against sqlite3 on a table of as many rows (set: INSERT OR"
        " REPLACE + commit, get: point SELECT, open: SELECT * fetchall of every row)\n"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="up to 100,000 keys")
    parser.add_argument("--dir", default=None, help="where to make the temporary directory")
    args = parser.parse_args()
    scales = SCALES[:-1] if args.quick else SCALES
    random.seed(1)
    print(f"pepperflow SqliteStore at {scales[0]:,} to {scales[-1]:,} keys, best of {REPEAT}")
    ours: dict[str, dict[int, dict[str, float]]] = {"asyncio": {}, "trio": {}}
    peer: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-sqlite-scale-", dir=args.dir) as root:
        for keys in scales:
            path = os.path.join(root, f"store-{keys}.db")
            anyio.run(fill, path, keys, backend="asyncio")
            for backend, figures in ours.items():
                figures[keys] = anyio.run(store_rows, path, keys, backend=backend)
            peer[keys] = sqlite3_rows(root, keys)
            print(f"  {keys:,} keys done", file=sys.stderr)
    for backend, figures in ours.items():
        report(backend, figures, peer)
    series: dict[str, list[tuple[float, float]]] = {}
    for row in ("set", "get"):
        for backend, figures in ours.items():
            series[f"{row}, {backend}"] = [(n, figures[n][row]) for n in scales]
        series[f"{row}, sqlite3"] = [(n, peer[n][row]) for n in scales]
    plots = [
        plot(
            "sqlite_scale_ops",
            "SqliteStore set and get by keys held",
            "keys",
            "ops/s",
            series,
            logy=True,
        ),
        plot(
            "sqlite_scale_open",
            "Opening a SqliteStore file",
            "keys",
            "seconds",
            {
                **{
                    f"SqliteStore, {b}": [(n, f[n]["open, s"]) for n in scales]
                    for b, f in ours.items()
                },
                "sqlite3 SELECT * fetchall": [(n, peer[n]["open, s"]) for n in scales],
            },
            logy=True,
        ),
    ]
    print("figures: " + ", ".join(str(path) for path in plots))
    return 0


if __name__ == "__main__":
    sys.exit(main())
