"""The seed façades' cost over the stores they view, on asyncio and trio, in one run.

    python bench/bench_state.py [--quick]

Each pair measures one operation through a state manager (R058) or a memory
store (R055) next to the same operation on the pepperflow store it views,
measured in the same run: ``set`` and ``get`` on an in-process MemoryStore
(BaseStateManager, LocalMemoryStore, SharedStateManager with one key
subscriber) and on a SqliteStore (PersistentStateManager); R055's ``get``
returns an entry, so its peer is the store's ``entry``. Each figure is
the best of 5 runs; each row prints its ratio to its store's row (its
"peer"). R058 and R055 ask < 1 ms and > 10,000 operations per second for
local operations; that target applies to the rows marked with ``*``.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from _timing import Op, rate

from pepperflow import (
    BaseStateManager,
    LocalMemoryStore,
    PersistentStateManager,
    SharedStateManager,
)
from pepperflow.stores import MemoryStore, SqliteStore

TARGET = 10_000
KEYS = [f"key:{i}" for i in range(1000)]


Rows = list[tuple[str, float, str | None]]  # name, ops/s, peer row (None: a peer itself)


async def pair(
    rows: Rows, what: str, peer: str, set_: Op, get: Op, n: int, get_peer: str = "get"
) -> None:
    rows.append((f"{what} set", await rate(set_, n), f"{peer} set"))
    rows.append((f"{what} get", await rate(get, n), f"{peer} {get_peer}"))


async def run_backend(n: int, directory: Path) -> Rows:
    rows: Rows = []
    store = MemoryStore("bench")
    rows.append(("MemoryStore set", await rate(lambda i: store.set(KEYS[i % 1000], i), n), None))
    rows.append(("MemoryStore get", await rate(lambda i: store.get(KEYS[i % 1000]), n), None))
    rows.append(("MemoryStore entry", await rate(lambda i: store.entry(KEYS[i % 1000]), n), None))

    state: BaseStateManager[int] = BaseStateManager(MemoryStore("state"))
    await pair(
        rows,
        "*BaseStateManager",
        "MemoryStore",
        lambda i: state.set(KEYS[i % 1000], i),
        lambda i: state.get(KEYS[i % 1000]),
        n,
    )
    local: LocalMemoryStore[int] = LocalMemoryStore()
    await pair(
        rows,
        "*LocalMemoryStore",
        "MemoryStore",
        lambda i: local.set(KEYS[i % 1000], i),
        lambda i: local.get(KEYS[i % 1000]),
        n,
        get_peer="entry",  # R055's get returns an entry
    )
    shared: SharedStateManager[int] = SharedStateManager("bench")

    async def on_change(key: str, value: Any) -> None:
        return None

    shared.subscribe("key:0", on_change)
    await pair(
        rows,
        "*SharedStateManager, 1 sub",
        "MemoryStore",
        lambda i: shared.set(KEYS[i % 1000], i),
        lambda i: shared.get(KEYS[i % 1000]),
        n,
    )

    writes = max(n // 20, 500)
    async with SqliteStore(directory / f"{n}.db", namespace="store") as sqlite:
        rows.append(
            ("SqliteStore set", await rate(lambda i: sqlite.set(KEYS[i % 1000], i), writes), None)
        )
        rows.append(("SqliteStore get", await rate(lambda i: sqlite.get(KEYS[i % 1000]), n), None))
    async with PersistentStateManager[int](directory / f"{n}.db", name="state") as persistent:
        rows.append(
            (
                "*PersistentStateManager set",
                await rate(lambda i: persistent.set(KEYS[i % 1000], i), writes),
                "SqliteStore set",
            )
        )
        rows.append(
            (
                "*PersistentStateManager get",
                await rate(lambda i: persistent.get(KEYS[i % 1000]), n),
                "SqliteStore get",
            )
        )
    return rows


def report(backend: str, rows: Rows) -> list[str]:
    by_name = {name: value for name, value, _ in rows}
    head = f"{'operation (' + backend + ')':<34}{'per second':>12}{'us each':>10}{'vs store':>10}"
    print(head)
    print("-" * len(head))
    failures: list[str] = []
    for name, value, peer in rows:
        ratio = "" if peer is None else f"{value / by_name[peer]:.2f}x"
        print(f"{name:<34}{value:>12,.0f}{1e6 / value:>10.2f}{ratio:>10}")
        if name.startswith("*") and value < TARGET:
            failures.append(f"{backend}: {name} {value:,.0f}/s < {TARGET:,}/s")
    print()
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 operations per figure")
    args = parser.parse_args()
    n = 10_000 if args.quick else 100_000
    print(f"pepperflow state and memory benchmark: {n:,} operations per figure")
    print(f"(SQLite sets: {max(n // 20, 500):,}), best of 5")
    print(f"python {sys.version.split()[0]}, {platform.machine()}, {os.cpu_count()} cores\n")
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="pepperflow-bench-") as directory:
        for backend in ("asyncio", "trio"):
            rows = anyio.run(run_backend, n, Path(directory) / backend, backend=backend)
            failures += report(backend, rows)
    if failures:
        print("targets missed:")
        for failure in failures:
            print("  " + failure)
        return 1
    print(f"every * row >= {TARGET:,} operations per second on asyncio and trio")
    return 0


if __name__ == "__main__":
    sys.exit(main())
