"""SqliteStore on a file that is not a store, cannot be opened, or is corrupt.

Each kind of bad file is made for real under ``tmp_path`` (most from a real
store's file, damaged); opening a store on it must raise
:class:`~pepperflow.StoreUnavailable` naming the file and what to do, write
nothing to it, and leave no thread or open file behind.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from pepperflow import StoreUnavailable
from pepperflow.stores import SqliteStore

pytestmark = pytest.mark.anyio

MOVE_AWAY = "restore it from a backup, or move it away"
NOBODY = 65534


async def make_store_file(path: Path) -> None:
    """A real store's file: 200 keys, closed cleanly (the WAL checkpointed into it)."""
    async with SqliteStore(path) as store:
        await store.set_many({f"k{i}": {"i": i, "pad": "x" * 200} for i in range(200)})


def sql(path: Path, *statements: str) -> None:
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as conn:
        for statement in statements:
            conn.execute(statement)


def garbage(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 32)


def text(path: Path) -> None:
    path.write_text("name,value\nk,1\n" * 100)


def directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


def under_a_file(path: Path) -> None:
    (path.parent / "not-a-dir").write_text("the store's path goes through this file")


def another_apps_schema(path: Path) -> None:
    path.unlink()
    sql(path, "CREATE TABLE users (id INTEGER, name TEXT)", "PRAGMA user_version = 3")


def another_changelog_table(path: Path) -> None:
    path.unlink()
    sql(path, "CREATE TABLE pepperflow_changes (a, b)", "PRAGMA user_version = 1")


def truncated(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def overwritten_pages(path: Path) -> None:
    with path.open("r+b") as file:
        file.seek(2 * 4096)
        file.write(b"\xff" * 4 * 4096)


def garbage_in_a_row(path: Path) -> None:
    sql(path, "UPDATE pepperflow_changes SET data = x'c1c1c1' WHERE key = 'k7'")


def a_row_of_another_record(path: Path) -> None:
    data = msgspec.msgpack.encode({"not": "a change"})
    sql(path, f"UPDATE pepperflow_changes SET data = x'{data.hex()}' WHERE key = 'k7'")


def a_row_cut_short(path: Path) -> None:
    sql(path, "UPDATE pepperflow_changes SET data = substr(data, 1, 12) WHERE key = 'k7'")


CASES: list[tuple[Callable[[Path], None], str]] = [
    (garbage, f"not a SQLite database .*; {MOVE_AWAY}"),
    (text, f"not a SQLite database .*; {MOVE_AWAY}"),
    (directory, r"is a directory; name a database file, e.g. '.*store.db/store.db'"),
    (under_a_file, r"cannot be created: .*not-a-dir"),
    (another_apps_schema, r"not a pepperflow store: .*\['users'\] but no pepperflow changelog"),
    (another_changelog_table, r"not a pepperflow store, or corrupt: .*columns \['a', 'b'\]"),
    (truncated, f"corrupt \\(database disk image is malformed.*\\); {MOVE_AWAY}"),
    (overwritten_pages, f"corrupt \\(database disk image is malformed.*\\); {MOVE_AWAY}"),
    (garbage_in_a_row, r"a row of key 'k7' that is not a pepperflow change \(MessagePack"),
    (a_row_of_another_record, r"a row of key 'k7' that is not a pepperflow change"),
    (a_row_cut_short, r"a row of key 'k7' that is not a pepperflow change \(Input data"),
]


def contents(directory: Path) -> dict[str, bytes | None]:
    """Every file under ``directory`` and its bytes (None for a directory)."""
    return {
        str(path.relative_to(directory)): None if path.is_dir() else path.read_bytes()
        for path in sorted(directory.rglob("*"))
    }


def held_open(directory: Path) -> list[str]:
    fds = Path("/proc/self/fd")
    if not fds.exists():
        return []
    held = []
    for fd in os.listdir(fds):
        with contextlib.suppress(OSError):
            if (target := os.readlink(fds / fd)).startswith(str(directory)):
                held.append(target)
    return held


@pytest.mark.parametrize(("damage", "message"), CASES, ids=[f.__name__ for f, _ in CASES])
async def test_a_bad_file_raises_store_unavailable_naming_it_and_is_left_as_it_was(
    anyio_backend: str, tmp_path: Path, damage: Callable[[Path], None], message: str
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    path = files / "store.db"
    await make_store_file(path)
    damage(path)
    if damage is under_a_file:
        path = files / "not-a-dir" / "store.db"
    before = contents(files)
    threads = set(threading.enumerate())
    with pytest.raises(StoreUnavailable, match=message) as raised:
        async with SqliteStore(path):
            pass
    assert str(raised.value).startswith(f"SQLite file {str(path)!r}: ")
    assert contents(files) == before, "opening wrote to the file (or left files beside it)"
    assert held_open(files) == []
    assert set(threading.enumerate()) <= threads, "the store's thread outlived the failure"


async def test_a_row_broken_after_open_is_named_by_changes_since(
    anyio_backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "store.db"
    async with SqliteStore(path) as store:
        await store.set("k7", 1)
        garbage_in_a_row(path)
        with pytest.raises(StoreUnavailable, match=r"row of key 'k7' that is not a pepperflow"):
            await store.changes_since(0)
        assert await store.get("k7") == 1, "the state in memory is whole"


@contextlib.contextmanager
def as_another_user() -> Iterator[None]:
    """Run the block as a user who may not use the test's files (root is never refused)."""
    if os.geteuid() != 0:
        yield
        return
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)


@pytest.mark.skipif(not hasattr(os, "seteuid"), reason="POSIX users")
async def test_a_file_this_process_may_not_use_raises_permission_denied(
    anyio_backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "store.db"
    await make_store_file(path)
    path.chmod(0)
    before = (os.listdir(tmp_path), path.stat())
    with as_another_user(), pytest.raises(StoreUnavailable) as raised:
        async with SqliteStore(path):
            pass
    message = str(raised.value)
    assert message.startswith(f"SQLite file {str(path)!r}: permission denied: ")
    assert "store.db-wal and store.db-shm" in message
    assert (os.listdir(tmp_path), path.stat()) == before
