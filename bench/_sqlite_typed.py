"""bench_sqlite.py's typed section: a declared type against none, on SqliteStore.

Set, get, decode, ``changes_since(0)`` and open with a msgspec Struct value
and ``type=`` that Struct, against the same data as a dict in an untyped
store (target: typed decoding no slower than untyped).
"""

from __future__ import annotations

import contextlib
import gc
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
from _sqlite_peers import BATCH, KEYS, Sizes, fmt, sync_rate
from _timing import rate

from pepperflow.stores.sqlite import SqliteStore
from pepperflow.stores.sqlite._rows import decode_rows

__all__ = ["open_rate", "typed_report", "typed_rows"]


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
