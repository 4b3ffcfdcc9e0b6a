"""SqliteStore when its file fails: a held lock, a failed background task, bad
options, a writer killed in its commit.

Every test uses a real SQLite file under ``tmp_path``; another process's hold
on the file is a second ``sqlite3`` connection holding its write lock
(``BEGIN IMMEDIATE``), as another process's transaction would; the killed
writer is a child process (tests/support/sqlite_child.py).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import msgspec
import pytest

from pepperflow import StoreUnavailable, UnknownStoreURL, open_store
from pepperflow.stores import SqliteStore
from pepperflow.stores.sqlite import _jobs
from pepperflow.streams import Change, ExpireChange, SetChange, fold
from tests.support.clock import Clock
from tests.support.sqlite_child import batch_value, second_batch_keys
from tests.support.sqlite_processes import integrity, spawn
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio

PROC_FD = Path("/proc/self/fd")


def open_files(path: Path) -> list[str]:
    """The files of the database at ``path`` (itself, -wal, -shm) this process holds open."""
    held = []
    for fd in os.listdir(PROC_FD):
        with contextlib.suppress(OSError):  # an fd closed while listing
            target = os.readlink(PROC_FD / fd)
            if target.startswith(str(path)):
                held.append(target)
    return held


def store_threads(namespace: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"pepperflow-sqlite:{namespace}"]


@contextlib.contextmanager
def write_lock(path: Path) -> Iterator[sqlite3.Connection]:
    """Another connection holding the file's write lock until the block ends."""
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN IMMEDIATE")
        try:
            yield other
        finally:
            other.execute("COMMIT")


def failures(caplog: pytest.LogCaptureFixture, what: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "pepperflow" and r.levelno == logging.WARNING and what in r.getMessage()
    ]


async def consume_feed(
    store: SqliteStore[Any], ended: anyio.Event, *, task_status: anyio.abc.TaskStatus[None]
) -> None:
    """A feed consumer (a task of its own): read every change until the feed ends."""
    async with store.changes() as feed:
        task_status.started()
        async for _ in feed:
            pass
    ended.set()


@pytest.mark.skipif(not PROC_FD.exists(), reason="needs /proc/self/fd")
async def test_a_failed_expiry_commit_is_retried_and_the_store_keeps_serving(
    anyio_backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pepperflow")
    path = tmp_path / "s.db"
    clock = Clock()  # the expiry task polls every 0.05 s until the test moves it
    got: list[Change] = []
    feed_ended = anyio.Event()

    store = SqliteStore(path, namespace="expiring", busy_timeout=0.05, clock=clock)
    async with anyio.create_task_group() as consumers:
        async with store:
            await consumers.start(consume_feed, store, feed_ended)  # in another task
            store.subscribe(None, got.append)
            await store.set("t", 1, ttl=0.05)
            await store.set("kept", 2)
            with write_lock(path):  # another process holds the file's write lock
                clock.now += 1  # "t" is due: its expiry cannot commit
                await wait_until(lambda: store.statistics().expiry_errors >= 2, "2 failures")
                assert await store.get("t") is None, "past its deadline: absent"
                assert await store.get("kept") == 2
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    await store.set("x", 3)  # a write of the user's raises to the user
                assert [type(c) for c in got] == [SetChange, SetChange]
            await wait_until(lambda: len(got) == 3, "the expiry, once the lock is gone")
            assert (type(got[2]), got[2].key) == (ExpireChange, "t")
            await store.set("after", 4)  # the store serves on
            stats = store.statistics()
            assert (stats.expired, stats.keys, stats.ttl_keys) == (1, 2, 0)
            assert stats.expiry_errors >= 2
            assert await store.changes_since(0) == got, "the changelog is what was delivered"
        assert open_files(path) == [], "the file stays open after close"
        assert store_threads("expiring") == [], "the store's thread outlived it"
        with anyio.fail_after(5):
            await feed_ended.wait()
    logged = failures(caplog, "committing the expiry")
    assert len(logged) >= stats.expiry_errors
    assert str(path) in logged[0] and "'expiring'" in logged[0]
    assert "database is locked" in logged[0] and "retrying in" in logged[0]
    assert failures(caplog, "works again")


@pytest.mark.skipif(not PROC_FD.exists(), reason="needs /proc/self/fd")
async def test_a_failed_background_task_leaves_no_thread_file_or_feed_open(
    anyio_backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(items: list[tuple[str, int]], txn: object) -> None:
        raise RuntimeError("a bug in the expiry job")

    monkeypatch.setattr(_jobs, "expire", broken)
    path = tmp_path / "s.db"
    store = SqliteStore(path, namespace="failing")
    feed_ended = anyio.Event()

    async def run() -> None:
        async with anyio.create_task_group() as consumers, store:
            await consumers.start(consume_feed, store, feed_ended)
            await store.set("t", 1, ttl=0.01)
            await anyio.sleep_forever()  # until the expiry task fails

    with pytest.raises(BaseExceptionGroup) as raised:
        await run()
    assert raised.group_contains(RuntimeError, match="a bug in the expiry job")
    assert store.statistics().closed
    assert open_files(path) == [], "the file stays open after the failure"
    assert store_threads("failing") == [], "the store's thread outlived it"
    assert feed_ended.is_set(), "the feed consumer did not end"


async def test_catching_up_with_other_processes_survives_a_held_lock(
    anyio_backend: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="pepperflow")
    path = tmp_path / "s.db"
    got: list[Change] = []
    async with SqliteStore(path, busy_timeout=0.05, poll_interval=0.01) as store:
        store.subscribe(None, got.append)
        change: SetChange[str, None] = SetChange(
            "default", "k", 1, 1, time.time(), "theirs", time.time()
        )
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
            # Another process commits a change, then holds the write lock at
            # once (no await in between): the store sees the change and cannot
            # take it in while the lock is held.
            other.execute("BEGIN IMMEDIATE")
            row = ("default", 1, "k", 1, msgspec.msgpack.encode(change))
            other.execute("INSERT INTO pepperflow_changes VALUES (?, ?, ?, ?, ?)", row)
            other.execute("COMMIT")
            other.execute("BEGIN IMMEDIATE")
            await wait_until(lambda: failures(caplog, "writes of other processes"), "a failure")
            assert got == []
            other.execute("COMMIT")
        await wait_until(lambda: got, "the other process's change")
        assert got == [change]
        assert await store.get("k") == "theirs"
        assert await store.set("k", "mine") == 2
    assert str(path) in failures(caplog, "writes of other processes")[0]


async def test_opening_a_file_locked_longer_than_busy_timeout_says_so(
    anyio_backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path) as store:
        await store.set("k", 1)
    with write_lock(path), pytest.raises(StoreUnavailable) as raised:
        async with SqliteStore(path, busy_timeout=0.05):
            pass
    assert str(raised.value) == (
        f"SQLite file {str(path)!r}: locked by another process for longer than busy_timeout;"
        " open it again once that process is done, or give a longer busy_timeout"
    )
    async with SqliteStore(path) as store:
        assert await store.get("k") == 1


# -- options, checked when the store is made ---------------------------------------

BAD_OPTIONS: list[tuple[dict[str, Any], type[Exception], str]] = [
    ({"poll_interval": -1}, ValueError, r"poll_interval .* must be positive.*got -1"),
    ({"poll_interval": math.nan}, ValueError, r"poll_interval .*got nan"),
    ({"poll_interval": math.inf}, ValueError, r"poll_interval .*got inf"),
    ({"poll_interval": 0}, ValueError, r"poll_interval .* must be positive.*got 0"),
    ({"poll_interval": 0.0001}, ValueError, r"poll_interval .* at least 0.001 .*got 0.0001"),
    ({"poll_interval": "1"}, TypeError, r"poll_interval .* must be seconds .*got str"),
    ({"poll_interval": True}, TypeError, r"poll_interval .*got bool"),
    ({"busy_timeout": -1}, ValueError, r"busy_timeout .*got -1; 0 makes a write fail"),
    ({"busy_timeout": math.nan}, ValueError, r"busy_timeout .*got nan"),
    ({"busy_timeout": math.inf}, ValueError, r"busy_timeout .*got inf"),
    ({"busy_timeout": 10**7}, ValueError, r"busy_timeout .* at most 2073600 seconds"),
    ({"busy_timeout": None}, TypeError, r"busy_timeout .*got NoneType"),
    ({"retain": -1}, ValueError, r"retain must be an int from 0 to 2\*\*63 - 1.*got -1"),
    ({"retain": 2**63}, ValueError, r"retain must be an int .*got 9223372036854775808"),
    ({"retain": 1.5}, ValueError, r"retain must be an int .*got 1.5"),
    ({"retain": True}, ValueError, r"retain must be an int .*got True"),
    ({"durability": "fast"}, ValueError, r"durability must be 'normal' or 'full', got 'fast'"),
    ({"path": ""}, ValueError, r"path must name a database file.*got ''"),
    ({"path": ":memory:"}, ValueError, r"got ':memory:' .*use MemoryStore"),
    ({"path": "a\0b.db"}, ValueError, r"path must name a database file"),
    ({"path": b"x.db"}, TypeError, r"path must be a str path, not bytes"),
    ({"path": 3}, TypeError, r"path must be a str or os.PathLike .*got int: 3"),
]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    BAD_OPTIONS,
    ids=[f"{next(iter(o))}={next(iter(o.values()))!r}" for o, _, _ in BAD_OPTIONS],
)
def test_a_bad_option_is_refused_before_any_file_is_made(
    tmp_path: Path, options: dict[str, Any], error: type[Exception], message: str
) -> None:
    path = options.pop("path", tmp_path / "s.db")
    with pytest.raises(error, match=message):
        SqliteStore(path, **options)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("poll_interval=-1", r"poll_interval .* must be positive"),
        ("poll_interval=nan", r"poll_interval' is 'nan', not a number of seconds"),
        ("poll_interval=0", r"poll_interval .* must be positive"),
        ("busy_timeout=nan", r"busy_timeout' is 'nan', not a number of seconds"),
        ("busy_timeout=-1", r"busy_timeout .*got -1"),
    ],
)
async def test_a_bad_option_in_a_url_is_refused_by_open_store(
    anyio_backend: str, tmp_path: Path, query: str, message: str
) -> None:
    with pytest.raises(UnknownStoreURL, match=message):
        async with open_store(f"sqlite:///{tmp_path / 's.db'}?{query}"):
            pass
    assert os.listdir(tmp_path) == []


async def test_the_edges_of_the_options_are_taken(anyio_backend: str, tmp_path: Path) -> None:
    async with SqliteStore(
        tmp_path / "a.db", busy_timeout=0, poll_interval=0.001, retain=0
    ) as store:
        await store.set("k", 1)
    async with SqliteStore(
        tmp_path / "a.db", busy_timeout=timedelta(seconds=2), poll_interval=timedelta(hours=1)
    ) as store:
        assert await store.get("k") == 1


# -- a writer killed while it commits a set_many -------------------------------------


@pytest.mark.parametrize(
    "pause_ms", [60_000, 0], ids=["killed-before-its-commit", "killed-racing-its-commit"]
)
async def test_a_set_many_killed_while_committing_is_all_or_nothing(
    anyio_backend: str, tmp_path: Path, pause_ms: int
) -> None:
    path = tmp_path / "store.db"
    keys = 4000  # about 8 MiB: more than SQLite's page cache, so pages reach the WAL early
    async with spawn(tmp_path, anyio_backend, "batch", path, keys, pause_ms) as child:
        assert await child.line() == "first"
        assert await child.line() == "inserted"  # its rows are in the open transaction
        os.kill(child.process.pid, signal.SIGKILL)
        assert await child.wait() == -signal.SIGKILL
        acknowledged = "second" in await child.rest()
    first = {f"b{i}": batch_value(1, f"b{i}") for i in range(keys)}
    second = first | {key: batch_value(2, key) for key in second_batch_keys(keys)}

    async with SqliteStore(path) as store:
        state = {item.key: item.value for item in (await store.snapshot()).entries}
        seq = store.statistics().seq
        changes = await store.changes_since(0)
    if pause_ms:
        assert state == first, "the batch killed before its commit left some of its keys"
    elif acknowledged:
        assert state == second, "an acknowledged batch was lost"
    else:
        assert state in (first, second), "the batch killed in its commit is half there"
    assert [change.seq for change in changes] == list(range(1, seq + 1))
    assert seq == (keys if state == first else 2 * keys)
    assert {key: change.value for key, change in fold(changes).items()} == state
    assert integrity(path) == "ok"
