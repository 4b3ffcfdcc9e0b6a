"""SqliteStore's changelog compaction: what it drops, what it costs.

Compaction drops the rows older than the last ``retain`` changes that no
state folds to (sets replaced or removed, deletes, expiries), keeping each
key's latest set and the namespace's newest row. The store notes those rows
as they go stale, in its own writes and in the changes it reads from other
processes, so a compaction deletes them by their seq instead of scanning the
namespace: what the scan would still find afterwards is nothing.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pepperflow.stores import MemoryStore, SqliteStore
from pepperflow.streams import fold
from tests.support.clock import Clock

pytestmark = pytest.mark.anyio

#: What the namespace scan drops at ``bound``: the rows the compaction must have dropped.
_LEFT_FOR_A_SCAN = (
    "SELECT seq FROM pepperflow_changes WHERE ns = ?1 AND seq <= ?2 AND (is_set = 0 OR seq"
    " NOT IN (SELECT MAX(seq) FROM pepperflow_changes WHERE ns = ?1 GROUP BY key))"
)


async def _random_writes(store: SqliteStore[Any], rng: random.Random, clock: Clock) -> None:
    """One write of a random kind on a few keys: sets (with and without a ttl),
    deletes, expiries, set_many, clear, restore and apply_changes."""
    key = f"k{rng.randrange(12)}"
    roll = rng.random()
    if roll < 0.4:
        await store.set(key, rng.randrange(100), ttl=rng.choice([None, None, 5]))
    elif roll < 0.55:
        await store.delete(key)
    elif roll < 0.65:
        clock.now += 3  # some ttls run out: a read expires them
        await store.get(key)
    elif roll < 0.8:
        await store.set_many({f"k{rng.randrange(12)}": i for i in range(3)})
    elif roll < 0.85:
        await store.clear(f"k{rng.randrange(2)}")
    elif roll < 0.9:
        snapshot = await store.snapshot()
        await store.restore(snapshot)
    else:
        async with MemoryStore("other") as other:
            await other.set(key, "applied")
            await other.delete(f"k{rng.randrange(12)}")
            changes = [c async for c in _drain(other)]
        await store.apply_changes(changes)


async def _drain(store: MemoryStore[Any]) -> Any:
    async with store.changes(replay=True) as feed:
        for change in feed.take(100):
            yield change


def _rows(path: Path, namespace: str) -> list[tuple[int, bool]]:
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT seq, is_set FROM pepperflow_changes WHERE ns = ? ORDER BY seq", (namespace,)
        ).fetchall()
        return [(int(seq), bool(is_set)) for seq, is_set in rows]
    finally:
        conn.close()


def _left_for_a_scan(path: Path, namespace: str, bound: int) -> list[int]:
    conn = sqlite3.connect(path)
    try:
        return [int(seq) for (seq,) in conn.execute(_LEFT_FOR_A_SCAN, (namespace, bound))]
    finally:
        conn.close()


async def test_two_writers_compact_what_a_scan_would_and_keep_the_state(tmp_path: Path) -> None:
    path, retain = tmp_path / "c.db", 7
    clock = Clock()
    rng = random.Random(2026)
    async with (
        SqliteStore(path, namespace="app", retain=retain, clock=clock) as one,
        SqliteStore(path, namespace="app", retain=retain, clock=clock) as two,
    ):
        for step in range(400):
            await _random_writes(one if step % 3 else two, rng, clock)
        await one.set("last", "seen")  # `one` reads every change of `two` first
        await one.compact()
        seq = one.statistics().seq
        bound = seq - retain
        assert _left_for_a_scan(path, "app", bound) == [], "a scan would find nothing to drop"
        rows = _rows(path, "app")
        assert [s for s, _ in rows if s > bound] == list(range(bound + 1, seq + 1)), (
            "the last `retain` changes stay whole"
        )
        assert len(rows) < 400, "stale rows were dropped"
        history = await one.changes_since(0)
        kept = {
            key: (c.value, c.version)
            for key, c in fold(history).items()
            if c.expires_at is None or c.expires_at > clock.now  # not expired (yet) in a row
        }
        snapshot = await one.snapshot()
        assert kept == {e.key: (e.value, e.version) for e in snapshot.entries}
    # The file reopens to the same state: what stayed folds to it.
    async with SqliteStore(path, namespace="app", clock=clock) as again:
        assert {e.key: e.value for e in (await again.snapshot()).entries} == {
            e.key: e.value for e in snapshot.entries
        }


async def test_rows_stale_before_the_store_opened_are_dropped_too(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    async with SqliteStore(path, retain=0) as store:  # no automatic compaction
        for i in range(50):
            await store.set("k", i)
        await store.delete("gone")
        await store.set("gone", 1)
        await store.delete("gone")
    assert _left_for_a_scan(path, "default", 52) == [*range(1, 50), 51, 52]
    async with SqliteStore(path, retain=3) as store:
        for i in range(3):  # the third write compacts (seqs 53-55; bound 52)
            await store.set("after", i)
    assert [seq for seq, _ in _rows(path, "default")] == [50, 53, 54, 55], (
        "k's replaced sets, gone's set and delete were dropped; the last 3 changes stay"
    )


class _Steps:
    """Counts the SQLite virtual machine's steps, in hundreds, while set."""

    def __init__(self) -> None:
        self.hundreds = 0

    def __call__(self) -> int:
        self.hundreds += 1
        return 0  # go on


async def _compaction_steps(store: SqliteStore[Any]) -> int:
    steps = _Steps()
    thread = store._connection()

    def watch(handler: Callable[[], int] | None) -> Callable[[Any], None]:
        return lambda connection: connection.conn.set_progress_handler(handler, 100)

    await thread.run(watch(steps))
    try:
        await store.compact()
    finally:
        await thread.run(watch(None))
    return steps.hundreds


async def test_a_compaction_costs_what_it_drops_not_the_size_of_the_file(tmp_path: Path) -> None:
    """The SQLite steps of a compaction that drops 300 rows, in a namespace of
    10,000 keys and then of 100,000: about the same (a scan takes ten times more)."""
    path, counts = tmp_path / "c.db", []
    for size, replaced in ((10_000, "a"), (100_000, "b")):
        async with SqliteStore(path, retain=0) as store:  # no automatic compaction
            have = store.statistics().keys
            for start in range(have, size, 5000):
                await store.set_many({f"key:{i}": i for i in range(start, start + 5000)})
            for i in range(300):
                await store.set(f"{replaced}:{i % 3}", i)  # 297 replaced sets
        async with SqliteStore(path, retain=5) as store:
            counts.append(await _compaction_steps(store))
    small, large = counts
    assert small > 0
    assert large < 2 * small, f"steps grew with the file: {counts} (hundreds)"
