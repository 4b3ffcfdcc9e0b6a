"""SqliteStore across real processes: crashes, followers, concurrent writers, restarts.

Every test runs child processes (tests/support/sqlite_child.py, on the test's own
anyio backend, with warnings as errors) against a real file under
``tmp_path``, and checks what a user of the file would see.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import random
import signal
import sqlite3
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import msgspec
import pytest

from pepperflow.stores.base import Entry
from pepperflow.stores.sqlite import SqliteStore
from pepperflow.streams import Change, DeleteChange, ExpireChange, SetChange, fold
from tests.support.sqlite_child import value_for
from tests.support.sqlite_processes import integrity, spawn

pytestmark = pytest.mark.anyio


def task_of(key: str) -> int:
    """The writing task of a key ``t{task}:{step}[:{j}]``."""
    return int(key[1:].split(":")[0])


def step_of(key: str) -> int:
    """The step of a key ``t{task}:{step}[:{j}]``."""
    return int(key.split(":")[1])


def seqs(changes: list[Change]) -> list[int]:
    return [change.seq for change in changes]


# -- 1. an acknowledged write survives kill -9 --------------------------------------


@pytest.mark.parametrize(
    ("tasks", "batch"),
    [(1, 1), (8, 5)],
    ids=["one-writer", "eight-tasks-with-set_many"],
)
async def test_acknowledged_writes_survive_kill_9(
    anyio_backend: str, tmp_path: Path, tasks: int, batch: int
) -> None:
    path = tmp_path / "store.db"
    threshold = random.randint(300, 1500)  # kill at a random point of the stream
    acked: list[str] = []
    async with spawn(tmp_path, anyio_backend, "write", path, tasks, batch) as child:
        with anyio.fail_after(10):
            while len(acked) < threshold:
                acked.append(await child.line())
        os.kill(child.process.pid, signal.SIGKILL)
        assert await child.wait() == -signal.SIGKILL, "the writer was still writing"
        acked += await child.rest()  # printed before the kill: acknowledged too
    assert len(set(acked)) == len(acked) >= threshold

    async with SqliteStore(path) as store:
        seq = store.statistics().seq
        present = {key async for key in store.scan()}
        missing = [key for key in acked if key not in present]
        assert not missing, f"{len(missing)} acknowledged keys lost, e.g. {missing[:5]}"
        for key in present:
            entry = await store.entry(key)
            assert entry is not None
            assert entry.value == value_for(key), f"{key}: not the value written"
            assert (entry.version, entry.expires_at, entry.metadata) == (1, None, None), key
            assert entry.created_at == entry.updated_at, key
        changes = await store.changes_since(0)
        assert seqs(changes) == list(range(1, seq + 1)), "not one change per seq, in order"
        assert all(type(change) is SetChange for change in changes)
        assert set(fold(changes)) == present
        assert {key: change.value for key, change in fold(changes).items()} == {
            key: await store.get(key) for key in present
        }
        by_key = {change.key: change for change in changes}

    if tasks == 1:
        # One writer, one key at a time: k0..kn-1 with seq i+1, and at most the
        # one write in flight at the kill committed without being acknowledged.
        n = len(present)
        assert present == {f"k{i}" for i in range(n)}
        assert [by_key[f"k{i}"].seq for i in range(n)] == list(range(1, n + 1))
        assert len(acked) <= n <= len(acked) + 1
    else:
        # Each task writes step after step: the steps committed are a prefix of
        # its steps, a set_many is all or nothing, and at most one step per task
        # (the one in flight) committed without being acknowledged.
        steps: dict[int, dict[int, set[str]]] = defaultdict(lambda: defaultdict(set))
        for key in present:
            steps[task_of(key)][step_of(key)].add(key)
        acked_steps: dict[int, set[int]] = defaultdict(set)
        for key in acked:
            acked_steps[task_of(key)].add(step_of(key))
        for task in range(tasks):
            done = steps[task]
            assert sorted(done) == list(range(len(done))), f"task {task}: a gap in its steps"
            for step, keys in done.items():
                assert len(keys) == (batch if step % 2 else 1), f"t{task}:{step} half committed"
            assert len(acked_steps[task]) <= len(done) <= len(acked_steps[task]) + 1
        # The group commit path was taken: some transaction holds writes of several tasks.
        groups: dict[float, set[str]] = defaultdict(set)
        for change in changes:
            groups[change.committed_at].add(change.key.split(":")[0])
        assert max(len(tasks_) for tasks_ in groups.values()) > 1, "no group commit seen"
    assert integrity(path) == "ok"


# -- 2. a second process sees the committed writes ---------------------------------


class FollowReport(msgspec.Struct):
    elapsed: float
    seq: int
    changes: list[Change]
    received_at: list[float]
    entries: list[Entry[Any]]


@pytest.mark.parametrize(
    ("writes_start", "poll"),
    [
        # The reader has polled once (with nothing new) before the writes.
        pytest.param("after-its-first-poll", 0.1),
        # All the writes land between the reader's open and its first poll.
        pytest.param("right-after-it-opened", 1.0),
    ],
)
async def test_a_process_that_only_reads_sees_another_process_writes(
    anyio_backend: str, tmp_path: Path, writes_start: str, poll: float
) -> None:
    path = tmp_path / "store.db"
    async with SqliteStore(path) as store:
        mine: list[Change] = []
        store.subscribe(None, mine.append)
        poll_ms = int(poll * 1000)
        async with spawn(tmp_path, anyio_backend, "follow", path, poll_ms, 3000) as child:
            assert await child.line() == "ready"  # opened before any write
            if writes_start == "after-its-first-poll":
                await anyio.sleep(5 * poll)
            await store.set("user:1", {"name": "ada"}, metadata={"by": "test"})
            await store.set("user:2", {"name": "bob"}, ttl=3600)
            await store.set_many({"tmp:a": 1, "tmp:b": 2, "tmp:c": 3})
            version = await store.set("user:1", {"name": "ada", "age": 36}, if_version=1)
            assert version == 2
            assert await store.delete("tmp:b")
            assert await store.clear("tmp:") == 2
            await store.set("user:3", [1.5, "x", None, True])
            seq = store.statistics().seq
            await child.send(str(seq))
            report = msgspec.json.decode(await child.line(), type=FollowReport)
            await child.finish()
        assert report.seq == seq, f"the reader saw seq {report.seq} of {seq} in 3 s"
        assert report.changes == mine, "the reader's subscriber saw other changes"
        assert seqs(report.changes) == list(range(1, seq + 1))
        assert report.entries == (await store.snapshot()).entries
        assert [entry.key for entry in report.entries] == ["user:2", "user:1", "user:3"]
        lag = max(
            at - c.committed_at for at, c in zip(report.received_at, report.changes, strict=True)
        )
        assert lag < poll + 1.0, f"a change reached the reader {lag:.2f} s after its commit"


async def test_subscribers_get_another_process_writes_in_seq_order(
    anyio_backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "store.db"
    got: list[Change] = []
    async with SqliteStore(path, poll_interval=0.05) as store:
        store.subscribe(None, got.append)
        async with spawn(tmp_path, anyio_backend, "produce", path, 200) as child:
            assert await child.line() == "ready"
            await child.send("go")
            child_seq: list[int] = []

            async def read_report() -> None:
                line = await child.line()
                child_seq.append(msgspec.json.decode(line, type=dict[str, int])["seq"])

            async with anyio.create_task_group() as group:
                group.start_soon(read_report)
                local = 0
                with anyio.fail_after(10):
                    while not child_seq:  # write here too, interleaved with the child
                        await store.set(f"local{local % 5}", local)
                        local += 1
                        await anyio.sleep(0.01)
            await child.finish()
        async with SqliteStore(path) as fresh:
            final = fresh.statistics().seq
            assert final >= child_seq[0]
            with anyio.fail_after(5):  # the view moves first, then subscribers are called
                while store.statistics().seq < final or got[-1].seq < final:
                    await anyio.sleep(0.01)
            changelog = await fresh.changes_since(0)
            fresh_entries = (await fresh.snapshot()).entries
        assert seqs(got) == list(range(1, final + 1)), "not in seq order, or gaps"
        assert got == changelog, "the subscriber did not get the changelog as committed"
        kinds = {type(change) for change in got if change.key.startswith("p")}
        assert kinds == {SetChange, DeleteChange}
        assert any(change.key.startswith("local") for change in got)
        assert (await store.snapshot()).entries == fresh_entries
        assert len(fresh_entries) == len(fold(changelog))


# -- 3. two writer processes lose no update ---------------------------------------


async def test_two_processes_incrementing_with_compare_and_set_lose_no_update(
    anyio_backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "store.db"
    async with SqliteStore(path):
        pass
    async with (
        spawn(tmp_path, anyio_backend, "increment", path, 100) as first,
        spawn(tmp_path, anyio_backend, "increment", path, 100) as second,
    ):
        assert [await first.line(), await first.line()] == ["opening", "ready"]
        assert [await second.line(), await second.line()] == ["opening", "ready"]
        await first.send("go")
        await second.send("go")
        reports = [await first.line(), await second.line()]
        await first.finish()
        await second.finish()
    done = [msgspec.json.decode(line, type=dict[str, int]) for line in reports]
    conflicts = [report["conflicts"] for report in done]

    async with SqliteStore(path) as store:
        assert await store.get("counter") == 200, f"lost updates ({conflicts} conflicts)"
        entry = await store.entry("counter")
        assert entry is not None and entry.version == 200
        seq = store.statistics().seq
        changes = await store.changes_since(0)
    assert seqs(changes) == list(range(1, seq + 1)), "not one change per seq, in order"
    assert seq == 200
    assert all(type(change) is SetChange and change.key == "counter" for change in changes)
    assert [change.version for change in changes] == list(range(1, 201))
    sets = [change for change in changes if type(change) is SetChange]
    assert [change.value for change in sets] == list(range(1, 201))
    writers = [(change.metadata or {}).get("by") for change in sets]
    assert sorted(writers.count(report["pid"]) for report in done) == [100, 100]
    switches = sum(a != b for a, b in itertools.pairwise(writers))
    assert switches >= 1, "the two processes did not increment at the same time"
    assert integrity(path) == "ok"


async def test_opening_a_file_another_process_is_creating_waits_for_it(
    anyio_backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "store.db"
    # What a process creating the file holds for a moment while it turns the
    # new file to WAL: a write lock on it, still in rollback-journal mode.
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as creator:
        creator.execute("BEGIN IMMEDIATE")
        async with spawn(tmp_path, anyio_backend, "increment", path, 5) as child:
            assert await child.line() == "opening"
            await anyio.sleep(1.0)  # well within the default busy_timeout of 5 s
            creator.execute("COMMIT")
            assert await child.line() == "ready"
            await child.send("go")
            await child.line()
            await child.finish()
    async with SqliteStore(path) as store:
        assert await store.get("counter") == 5


# -- 4. a restart keeps state, versions and ttls -----------------------------------


class PopulateReport(msgspec.Struct):
    seq: int
    entries: dict[str, Entry[Any]]
    short_expires_at: float


async def test_reopening_keeps_values_versions_times_metadata_and_ttls(
    anyio_backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "store.db"
    async with spawn(tmp_path, anyio_backend, "populate", path) as child:
        report = msgspec.json.decode(await child.line(), type=PopulateReport)
        await child.finish()  # closed cleanly
    assert set(report.entries) == {"plain", "meta", "long", "short", "m1", "m2"}
    # "short" reaches its deadline while no process has the file open.
    await anyio.sleep(max(0.0, report.short_expires_at - time.time()) + 0.05)
    assert time.time() > report.short_expires_at
    kept = {key: entry for key, entry in report.entries.items() if key != "short"}
    assert kept["plain"].version == 3 and kept["plain"].created_at < kept["plain"].updated_at

    got: list[Change] = []
    store = SqliteStore(path)
    store.subscribe(None, got.append)  # before opening: sees what opening commits
    async with store:
        assert await store.get("short") is None
        assert not await store.exists("deleted")
        for key, entry in kept.items():
            assert await store.entry(key) == entry, f"{key} changed across the restart"
        assert {key async for key in store.scan()} == set(kept)
        with anyio.fail_after(5):
            while not got:
                await anyio.sleep(0.01)
        await anyio.sleep(0.3)  # room for a second expiry, which must not come
        assert len(got) == 1, got
        (expired,) = got
        assert type(expired) is ExpireChange
        assert (expired.key, expired.version, expired.seq) == ("short", 1, report.seq + 1)
        assert expired.committed_at >= report.short_expires_at
        stats = store.statistics()
        assert (stats.seq, stats.keys, stats.expired, stats.ttl_keys) == (
            report.seq + 1,
            len(kept),
            1,
            3,
        )
        changes = await store.changes_since(0)
    assert seqs(changes) == list(range(1, report.seq + 2))
    assert [c for c in changes if type(c) is ExpireChange] == [expired]
    assert {key: Entry.from_change(c) for key, c in fold(changes).items()} == kept

    got.clear()
    again = SqliteStore(path)
    again.subscribe(None, got.append)
    async with again:
        await anyio.sleep(0.3)
        assert got == [], "reopening again committed changes"
        assert again.statistics().seq == report.seq + 1
        for key, entry in kept.items():
            assert await again.entry(key) == entry
        assert await again.get("short") is None
    assert integrity(path) == "ok"


async def test_a_key_two_processes_hold_expires_exactly_once(
    anyio_backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "store.db"
    got: list[Change] = []
    async with SqliteStore(path, poll_interval=0.05) as store:
        store.subscribe(None, got.append)
        async with spawn(tmp_path, anyio_backend, "follow", path, 20, 3000) as child:
            assert await child.line() == "ready"
            await anyio.sleep(0.2)
            # Both processes hold "short" (the reader polls every 0.02 s) and
            # both run an expiry task that wakes at its deadline.
            await store.set("short", "gone", ttl=0.5)
            with anyio.fail_after(5):
                while len(got) < 2:
                    await anyio.sleep(0.01)
            await anyio.sleep(0.3)  # room for a second expiry, which must not come
            await child.send("2")
            theirs = msgspec.json.decode(await child.line(), type=FollowReport)
            await child.finish()
        assert store.statistics().seq == 2, f"committed: {got}"
        changes = await store.changes_since(0)
    assert [(type(c), c.key, c.seq) for c in changes] == [
        (SetChange, "short", 1),
        (ExpireChange, "short", 2),
    ]
    assert got == changes
    assert theirs.changes == changes, "the other process saw other changes"
    assert theirs.entries == []
    set_change = changes[0]
    assert type(set_change) is SetChange and set_change.expires_at is not None
    assert theirs.received_at[0] < set_change.expires_at, "the reader never held the key"
