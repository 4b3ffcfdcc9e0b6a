"""SqliteStore's small writes that commit on the event loop's thread keep every promise.

A lone small write commits on the event loop's thread when it can do so at
once (:meth:`pepperflow.stores.sqlite._thread.OwnerThread.run_inline`).
What a user sees must not change: the loop never waits on another
process's lock, a task writing in a loop lets other tasks run, writers
that come together still share commits, a write never overtakes one
handed in before it, and what was acknowledged is in the file, next to
what other connections wrote.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import pytest

from pepperflow.stores import SqliteStore
from pepperflow.stores.sqlite._writing import SMALL
from pepperflow.streams import Change, SetChange
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio


async def test_a_write_waits_for_another_connections_lock_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path) as store:
        await store.set("k", 0)
        done: list[int] = []
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")  # another writer holds the file's lock

            async def write() -> None:
                done.append(await store.set("k", 1))

            async with anyio.create_task_group() as tg:
                tg.start_soon(write)
                ticks = 0
                while ticks < 20:  # the loop keeps running while the write waits
                    await anyio.sleep(0.001)
                    ticks += 1
                assert done == [], "the write went through another writer's lock"
                other.execute("COMMIT")
                await wait_until(lambda: done, "the write once the lock is free")
        assert done == [2]
        assert await store.get("k") == 1
    async with SqliteStore(path) as store:
        assert await store.get("k") == 1


async def test_a_task_writing_in_a_loop_lets_other_tasks_run(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db") as store:
        ran_while_writing: list[int] = []
        writing = True

        async def other_task() -> None:
            while writing:
                ran_while_writing.append(store.statistics().seq)
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            tg.start_soon(other_task)
            await anyio.lowlevel.checkpoint()
            for i in range(3000):
                await store.set(f"k{i % 10}", i)
            writing = False
        assert any(0 < seq < 3000 for seq in ran_while_writing), "no other task ran"


async def test_writers_that_come_together_share_commits_after_inline_writes(
    tmp_path: Path,
) -> None:
    async with SqliteStore(tmp_path / "s.db") as store:
        for i in range(10):  # one writer alone: these commit inline
            await store.set("alone", i)
        got: list[Change] = []
        store.subscribe(None, got.append)

        async def writer(j: int) -> None:
            for i in range(20):
                await store.set(f"w{j}", i)

        async with anyio.create_task_group() as tg:
            for j in range(16):
                tg.start_soon(writer, j)
        assert len(got) == 16 * 20
        assert [change.seq for change in got] == list(range(11, 11 + 16 * 20))
        commits = {change.committed_at for change in got}
        assert len(commits) < len(got), "group commit: several writes per transaction"


async def test_writes_alternating_with_another_connections_commit_every_change(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path) as here, SqliteStore(path, poll_interval=3600) as there:
        for i in range(20):  # each write here first takes in the one made there
            await here.set("k", i)
            await there.set("k", i + 100)
        assert await there.get("k") == 119
        await here.set("last", 1)  # takes in there's last write first
        assert await here.get("k") == 119
        changes = await here.changes_since(0)
        assert [change.seq for change in changes] == list(range(1, 42))
        assert [await here.get("k"), await there.get("k")] == [119, 119]


async def test_compact_after_inline_writes_waits_for_another_connections_lock(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path, retain=0) as store:
        for i in range(10):  # inline: they commit without waiting for any lock
            await store.set("k", i)
        dropped: list[int] = []
        with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as other:
            other.execute("BEGIN IMMEDIATE")

            async def compact() -> None:
                dropped.append(await store.compact())

            async with anyio.create_task_group() as tg:
                tg.start_soon(compact)
                await anyio.sleep(0.05)
                assert dropped == [], "compaction went through another writer's lock"
                other.execute("COMMIT")
                await wait_until(lambda: dropped, "the compaction once the lock is free")
        assert dropped == [9], "the 9 replaced sets of k"
        assert await store.get("k") == 9


async def test_inline_writes_have_the_wal_checkpointed_beside_them(tmp_path: Path) -> None:
    path = tmp_path / "s.db"

    def checkpoint_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "pepperflow-sqlite-checkpoint:app"]

    async with SqliteStore(path, namespace="app", poll_interval=3600) as store:
        for i in range(600):  # inline, one page each: past the checkpoints' first steps
            await store.set(f"k{i}", i)
        await wait_until(checkpoint_threads, "the checkpoints' own thread")
    assert not checkpoint_threads(), "it ends with the store"
    assert not (tmp_path / "s.db-wal").exists(), "the last close checkpointed the whole log"
    async with SqliteStore(path, namespace="app") as store:
        assert store.statistics().keys == 600


async def test_a_write_never_overtakes_a_cancelled_writers_write_the_thread_took(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The connection's thread has taken a cancelled writer's group off its
    # queue and not yet started it (held there, as a busy machine may hold
    # it): nothing is queued and nobody waits, yet a write made now must
    # commit after that group, not inline before it.
    async with SqliteStore(tmp_path / "s.db") as store:
        thread = store._thread
        assert thread is not None
        taken, go = threading.Event(), threading.Event()
        run = thread._run

        def run_when_told(context: Any, group: list[Any]) -> None:
            taken.set()
            go.wait()
            run(context, group)

        monkeypatch.setattr(thread, "_run", run_when_told)
        first = {f"x{i}": i for i in range(SMALL)} | {"k": 1}  # too many rows to go inline
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(store.set_many, first)
                await anyio.to_thread.run_sync(taken.wait)
                tg.cancel_scope.cancel()  # its writer stops waiting; its write is handed in
            versions: list[int] = []

            async def second() -> None:
                versions.append(await store.set("k", 2))

            async with anyio.create_task_group() as tg:
                tg.start_soon(second)
                for _ in range(3):  # it runs up to its hand-in (each runnable task runs)
                    await anyio.lowlevel.checkpoint()
                go.set()
        finally:
            go.set()
        assert versions == [2], "the write came after the one handed in before it"
        assert await store.get("k") == 2
        history = await store.changes_since(0)
        assert [c.value for c in history if isinstance(c, SetChange) and c.key == "k"] == [1, 2]
