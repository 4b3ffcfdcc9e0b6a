"""What SqliteStore promises beyond the shared contract (one process)."""

from __future__ import annotations

import shutil
import sqlite3
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from pepperflow import VersionConflict
from pepperflow.stores import SqliteStore
from pepperflow.stores.sqlite import _connection
from pepperflow.stores.sqlite._schema import SCHEMA_VERSION, SchemaTooNew
from pepperflow.streams import Change, ExpireChange, SetChange, fold
from tests.support.clock import Clock

pytestmark = pytest.mark.anyio

DATA = Path(__file__).parent.parent / "support" / "data"


async def test_a_file_from_schema_1_opens_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    shutil.copy(DATA / "pepperflow-schema-1.db", path)
    async with SqliteStore(path, namespace="app") as store:
        entry = await store.entry("user:1")
        assert entry is not None
        assert entry.value == {"name": "Ada", "tags": ["a", "b", "c"]}
        assert (entry.version, entry.metadata) == (2, None)
        assert await store.get("counter") == 41
        assert not await store.exists("gone")
        assert await store.get("forever-ttl") == "x"
        assert store.statistics().seq == 6
        history = await store.changes_since(0)
        assert [c.seq for c in history] == [1, 2, 3, 4, 5, 6]
        assert await store.set("counter", 42) == 2
    async with SqliteStore(path, namespace="other") as store:
        assert await store.get("k") == b"\x00\x01"


async def test_a_file_from_a_newer_pepperflow_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="upgrade pepperflow"):
        async with SqliteStore(path):
            pass


async def test_a_foreign_sqlite_file_gets_the_schema_beside_its_tables(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE mine (x)")
    conn.execute("INSERT INTO mine VALUES (1)")
    conn.commit()
    conn.close()
    async with SqliteStore(path) as store:
        await store.set("k", 1)
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT x FROM mine").fetchall() == [(1,)]
    assert conn.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    conn.close()


async def test_state_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path) as store:
        await store.set("a", {"x": [1, 2]}, metadata={"m": 1}, ttl=3600)
        await store.set("a", {"x": [1, 2, 3]}, metadata={"m": 2}, ttl=3600)
        before = await store.entry("a")
    async with SqliteStore(path) as store:
        assert await store.entry("a") == before
        assert store.statistics().ttl_keys == 1


async def test_must_be_open_to_be_used(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    with pytest.raises(RuntimeError, match=r"async with SqliteStore\(path\)"):
        await store.set("k", 1)
    async with store:
        pass
    with pytest.raises(anyio.ClosedResourceError):
        await store.set("k", 1)


async def test_concurrent_writers_share_transactions(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db") as store:
        got: list[Change] = []
        store.subscribe(None, got.append)
        async with anyio.create_task_group() as tg:
            for i in range(64):
                tg.start_soon(store.set, f"k{i}", i)
        assert len(got) == 64
        transactions = {change.committed_at for change in got}
        assert len(transactions) < 64, "group commit: several writes per transaction"


async def test_writers_cancelled_while_their_commit_runs_leave_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    cancelled = 0

    async def write(store: SqliteStore[Any], i: int) -> None:
        nonlocal cancelled
        try:
            await store.set(f"k{i % 20}", i)
        except anyio.get_cancelled_exc_class():
            cancelled += 1
            raise

    async with SqliteStore(path) as store:
        async with anyio.create_task_group() as tg:
            for i in range(200):
                tg.start_soon(write, store, i)
            await anyio.lowlevel.checkpoint()  # every writer queues its write
            tg.cancel_scope.cancel()
        assert cancelled > 0, "the writers were cancelled while they waited"
        await store.set("after", 1)  # runs after every write queued before it
        history = await store.changes_since(0)
        assert len(history) == 201, "a cancelled writer's write still commits"
        state = {key: change.value for key, change in fold(history).items()}
        view = {item.key: item.value for item in (await store.snapshot()).entries}
        assert view == state
        for j in range(20):
            entry = await store.entry(f"k{j}")
            assert entry is not None and entry.version == 10
    async with SqliteStore(path) as store:
        view = {item.key: item.value for item in (await store.snapshot()).entries}
        assert view == state


async def test_every_write_first_sees_what_another_connection_committed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    async with (
        SqliteStore(path, poll_interval=3600) as a,  # no polling: only writes look
        SqliteStore(path, poll_interval=3600) as b,
    ):
        for i in range(50):
            writer = a if i % 2 == 0 else b
            assert await writer.set("n", i, if_version=i) == i + 1
        assert await b.get("n") == 49
        history = await b.changes_since(0)
        assert [(c.seq, c.version) for c in history] == [(i, i) for i in range(1, 51)]


async def test_the_wal_is_checkpointed_between_writes(tmp_path: Path) -> None:
    path, wal = tmp_path / "s.db", tmp_path / "s.db-wal"
    frame = 4096 + 24  # a page and its WAL frame header
    async with SqliteStore(path) as store:
        for i in range(3000):
            await store.set(f"k{i % 100}", i)
        assert wal.stat().st_size < 2000 * frame, "checkpoints bound the WAL"
        # One commit of at least the idle checkpoint's 100 pages, whatever
        # checkpoints the loop's pauses caused on a loaded machine.
        await store.set_many({f"m{i}": i for i in range(32 * 100)})
        await anyio.sleep(0.2)  # idle: the store checkpoints what it wrote
        await store.set("k0", "after")  # so this write starts the WAL over
        conn = sqlite3.connect(path)
        (busy, frames, _) = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        conn.close()
        assert (busy, frames) == (0, 1)


async def test_checkpoints_run_beside_the_writes_and_end_with_the_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"

    def checkpoint_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "pepperflow-sqlite-checkpoint:app"]

    async with SqliteStore(path, namespace="app") as store:
        for i in range(40):  # about 1,300 pages: past the checkpoints' bound
            await store.set_many({f"k{i}:{j}": j for j in range(1000)})
        assert len(checkpoint_threads()) == 1, "the checkpoints run on a thread of their own"
    assert not checkpoint_threads(), "it ends with the store"
    assert not (tmp_path / "s.db-wal").exists(), "the last close checkpointed the whole log"
    async with SqliteStore(path, namespace="app") as store:
        assert store.statistics().keys == 40_000


async def test_compaction_keeps_the_latest_change_of_every_key(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db", retain=10) as store:
        for round_ in range(20):
            for key in ("a", "b", "c"):
                await store.set(key, round_)
        await store.delete("c")
        dropped = await store.compact()
        history = await store.changes_since(0)
        assert dropped > 0
        assert len(history) < 61
        keys_in_tail = [c for c in history if c.seq > store.statistics().seq - 10]
        assert len(keys_in_tail) == 10, "the last `retain` changes stay whole"
        state = {key: change.value for key, change in fold(history).items()}
        assert state == {"a": 19, "b": 19}, "folding what is left gives the state"


async def test_a_changelog_folded_a_chunk_at_a_time_opens_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opening reads the changelog LOAD_CHUNK rows at a time: with chunks of 4,
    # the sets, replacements, deletes and an undecodable set of a key fall in
    # different chunks, and the stale rows noted across them are compacted.
    monkeypatch.setattr(_connection, "LOAD_CHUNK", 4)
    path = tmp_path / "s.db"
    async with SqliteStore(path) as store:
        for round_ in range(5):
            for key in ("a", "b", "c"):
                await store.set(key, round_)
        await store.delete("b")
        await store.set("text", "not an int")
        await store.set("d", 7)
        history = await store.changes_since(0)
    async with SqliteStore(path, type=int, retain=1) as store:
        assert store.statistics().seq == history[-1].seq == 18
        assert {key: await store.get(key) for key in ("a", "c", "d")} == {"a": 4, "c": 4, "d": 7}
        assert sorted([key async for key in store.scan()]) == ["a", "c", "d", "text"]
        assert await store.compact() == 18 - 4, "every row but the latest of each live key"
        assert [change.key for change in await store.changes_since(0)] == ["a", "c", "text", "d"]


async def test_automatic_compaction_bounds_the_changelog(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path, retain=50) as store:
        for i in range(537):
            await store.set(f"k{i % 5}", i)
    conn = sqlite3.connect(path)
    (rows,) = conn.execute("SELECT COUNT(*) FROM pepperflow_changes").fetchone()
    conn.close()
    # At most: the last `retain`, up to `retain` more since the last compaction,
    # and the latest change of each of the 5 keys.
    assert rows <= 2 * 50 + 5


async def test_lazy_expiry_commits_one_expire_change(tmp_path: Path) -> None:
    clock = Clock(2_000_000_000.0)
    async with SqliteStore(tmp_path / "s.db", clock=clock) as store:
        got: list[Change] = []
        store.subscribe(None, got.append)
        await store.set("k", 1, ttl=10)
        clock.now += 11  # the expiry task sleeps in real time: only access sees it
        assert await store.get("k") is None
        assert await store.get("k") is None
        kinds = [type(c) for c in got]
        assert kinds == [SetChange, ExpireChange]
        history = await store.changes_since(0)
        assert [type(c) for c in history] == [SetChange, ExpireChange]


async def test_changes_since_validates_its_offset(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db") as store:
        with pytest.raises(ValueError, match="seq must be an int >= 0"):
            await store.changes_since(-1)


def test_bad_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="durability"):
        SqliteStore(tmp_path / "s.db", durability="fast")  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="retain"):
        SqliteStore(tmp_path / "s.db", retain=-1)


async def test_a_reader_never_sees_a_change_its_subscribers_have_not_received(
    tmp_path: Path,
) -> None:
    async with SqliteStore(tmp_path / "s.db") as store:
        got: list[Change] = []
        store.subscribe(None, got.append)
        writing = True
        ahead = 0

        async def read() -> None:
            nonlocal ahead
            while writing:
                last = got[-1] if got else None
                delivered = last.value if isinstance(last, SetChange) else None
                if await store.get("k") != delivered:
                    ahead += 1
                await anyio.lowlevel.checkpoint()

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            for i in range(300):
                await store.set("k", i)
            writing = False
        assert ahead == 0, f"the state was ahead of the subscribers {ahead} times"


async def test_a_failing_write_in_a_group_commit_leaves_the_others_whole(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "s.db") as store:
        got: list[Change] = []
        store.subscribe(None, got.append)
        await store.set("seen", 0)
        outcomes: list[object] = []

        async def create(i: int) -> None:
            try:
                outcomes.append(await store.set("k", i, if_version=0))
            except VersionConflict as error:
                outcomes.append(error)
            await store.set(f"own:{i}", i)

        async with anyio.create_task_group() as tg:
            for i in range(32):
                tg.start_soon(create, i)
        assert outcomes.count(1) == 1, "exactly one creation of k wins"
        assert sum(isinstance(o, VersionConflict) for o in outcomes) == 31
        history = await store.changes_since(0)
        assert history == got
        assert [c.seq for c in history] == list(range(1, 35)), "no seq is lost or reused"
        assert len({c.committed_at for c in history}) < 34, "writes shared transactions"
        state = {key: change.value for key, change in fold(history).items()}
        assert state == {item.key: item.value for item in (await store.snapshot()).entries}
        assert len(state) == 34


async def test_applied_changes_over_keys_the_file_holds(tmp_path: Path) -> None:
    """A set applied over a live key goes on from its version; over one past its
    deadline here, the key expires first (an ExpireChange) and starts again."""
    clock = Clock()
    async with SqliteStore(tmp_path / "s.db", clock=clock) as store:
        await store.set("live", 1)
        await store.set("due", 1, ttl=5)
        clock.now += 10  # "due" is past its deadline (no access has expired it yet)
        got: list[Change] = []
        store.subscribe(None, got.append)
        now = clock.now
        await store.apply_changes(
            [
                SetChange("src", "live", 9, 1, now, "new", now - 100),
                SetChange("src", "due", 9, 2, now, "again", now - 100),
            ]
        )
        assert [(type(c).__name__, c.key, c.version) for c in got] == [
            ("SetChange", "live", 2),
            ("ExpireChange", "due", 1),
            ("SetChange", "due", 1),
        ]
        live = await store.entry("live")
        assert live is not None and (live.value, live.created_at) == ("new", now - 100)
    async with SqliteStore(tmp_path / "s.db", clock=clock) as store:
        assert {e.key: (e.value, e.version) for e in (await store.snapshot()).entries} == {
            "live": ("new", 2),
            "due": ("again", 1),
        }
