"""A child process for tests/test_sqlite_processes.py: one SqliteStore, one role.

Run as ``python -W error tests/sqlite_child.py ROLE BACKEND PATH [ARGS...]``;
``BACKEND`` is ``asyncio`` or ``trio`` (the test's own backend). The child
talks over its pipes, one line per message: it reads commands on stdin and
writes results on stdout (JSON made by msgspec, so floats round-trip
exactly). Roles:

``write PATH TASKS BATCH``
    Write as fast as possible until killed (or :data:`SAFETY_SECONDS`
    pass). With ``TASKS == 1`` and ``BATCH == 1`` it sets ``k0, k1, ...``
    one after the other. Otherwise ``TASKS`` concurrent tasks each run
    steps ``0, 1, ...``: an even step sets ``t{task}:{step}``, an odd step
    sets ``BATCH`` keys ``t{task}:{step}:{j}`` with one ``set_many``. Each
    key is printed only after the write that stored it returned
    (acknowledged). Every value is :func:`value_for` its key.
``follow PATH POLL_MS WAIT_MS``
    Open the store (``poll_interval`` of ``POLL_MS``), subscribe to
    everything, print ``ready``; read a target ``seq`` on stdin; wait until
    the store's view and its subscriber reach it (at most ``WAIT_MS``); print
    ``{"elapsed", "seq", "changes", "received_at", "entries"}``: the
    changes its subscriber got, each with when (``time.time()``).
``produce PATH COUNT``
    Print ``ready``, wait for a line on stdin, then make ``COUNT`` writes of
    :func:`produce_ops` with short sleeps between some, and print
    ``{"seq": ...}`` (the store's seq when done).
``increment PATH COUNT``
    Print ``opening``, open the store, print ``ready``, wait for a line on
    stdin, then add 1 to ``counter`` ``COUNT`` times with a compare-and-set
    retry loop, each set with metadata ``{"by": pid}``; print
    ``{"conflicts": ..., "pid": ...}``.
``populate PATH``
    Make the writes of :func:`populate`, print
    ``{"seq", "entries", "short_expires_at"}``, exit cleanly.
``batch PATH KEYS PAUSE_MS``
    Commit one ``set_many`` of ``KEYS`` keys ``b0, b1, ...`` (values
    :func:`batch_value` of batch 1) and print ``first``; then start a second
    one over keys ``KEYS // 2`` to ``KEYS + KEYS // 2 - 1`` (batch 2) that
    prints ``inserted`` once its rows are in the transaction (written to
    the file's WAL as SQLite spills them) and sleeps ``PAUSE_MS`` before its
    commit; print ``second`` once it returned. The test kills it meanwhile.
``typed PATH WAIT_MS``
    Open the store with ``type=Note, metadata_type=Meta``, subscribe to
    everything, print ``ready``; read a target ``seq`` on stdin; wait until
    the subscriber reaches it (at most ``WAIT_MS``); print a
    :class:`TypedReport`: the changes received, and the :func:`shape` of
    each value and metadata as this process holds them (from the
    subscriber, ``get_many``, ``changes_since`` and a replay), so the test
    sees which Python types the child decoded.

The typed values (:class:`Note`, :class:`Meta`) and :func:`shape` are
shared with the tests.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import os
import sys
import time
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

import anyio
import anyio.to_thread
import msgspec

from pepperflow import VersionConflict
from pepperflow.stores.base import Entry
from pepperflow.stores.sqlite import SqliteStore, _transaction
from pepperflow.streams import Change, DeleteChange, ExpireChange, SetChange

SAFETY_SECONDS = 30.0  # a writer nobody kills stops by itself
SHORT_TTL = 0.3  # the ttl of "short" in populate()

_json = msgspec.json.Encoder()


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Text(msgspec.Struct, frozen=True, tag="text"):
    body: str


class Image(msgspec.Struct, frozen=True, tag="image"):
    url: str
    size: tuple[int, int]


@dataclasses.dataclass(frozen=True)
class Author:
    name: str
    since: date


class Note(msgspec.Struct, frozen=True):
    """A value of every kind a typed store must give back as it was set."""

    id: UUID
    at: datetime
    price: Decimal
    tags: set[str]
    color: Color
    part: Text | Image
    author: Author


class Meta(msgspec.Struct, frozen=True):
    by: str
    at: datetime


TypedChange = SetChange[Note, Meta] | DeleteChange | ExpireChange


class TypedReport(msgspec.Struct):
    seq: int
    changes: list[TypedChange]
    received: list[str]  # shape of each set's value and metadata, as the subscriber got them
    got: dict[str, str]  # shape of each value from get_many
    history: list[str]  # as received, from changes_since(0)
    replay: list[str]  # shape of each value from changes(replay=True)


def shape(value: object) -> str:
    """The Python types in ``value``, recursively: ``Note(id=UUID, ...)``."""
    kind = type(value).__name__
    if isinstance(value, msgspec.Struct):
        names: tuple[str, ...] = value.__struct_fields__
    elif dataclasses.is_dataclass(value):
        names = tuple(field.name for field in dataclasses.fields(value))
    elif isinstance(value, tuple | list):
        return f"{kind}[{', '.join(shape(item) for item in value)}]"
    elif isinstance(value, set | frozenset):
        return f"{kind}[{', '.join(sorted(shape(item) for item in value))}]"
    else:
        return kind
    return f"{kind}({', '.join(f'{n}={shape(getattr(value, n))}' for n in names)})"


def set_shapes(changes: list[Change]) -> list[str]:
    return [
        f"{shape(change.value)} / {shape(change.metadata)}"
        for change in changes
        if isinstance(change, SetChange)
    ]


def value_for(key: str) -> dict[str, Any]:
    """The value the writer stores under ``key``: derived from it, 65 B to 4 KiB."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return {"key": key, "pad": digest * (1 + int(digest[:2], 16) % 64)}


def emit(message: object) -> None:
    sys.stdout.write(_json.encode(message).decode() + "\n")
    sys.stdout.flush()


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def read_line() -> str:
    return await anyio.to_thread.run_sync(sys.stdin.readline)


async def write(path: str, tasks: int, batch: int) -> None:
    async with SqliteStore(path) as store:
        with anyio.move_on_after(SAFETY_SECONDS):
            if tasks == 1 and batch == 1:
                await write_one_by_one(store)
            else:
                async with anyio.create_task_group() as group:
                    for task in range(tasks):
                        group.start_soon(write_steps, store, task, batch)


async def write_one_by_one(store: SqliteStore[Any]) -> None:
    i = 0
    while True:
        key = f"k{i}"
        await store.set(key, value_for(key))
        say(key)
        i += 1


async def write_steps(store: SqliteStore[Any], task: int, batch: int) -> None:
    step = 0
    while True:
        if step % 2 == 0:
            key = f"t{task}:{step}"
            await store.set(key, value_for(key))
            say(key)
        else:
            keys = [f"t{task}:{step}:{j}" for j in range(batch)]
            await store.set_many({key: value_for(key) for key in keys})
            for key in keys:
                say(key)
        step += 1


async def follow(path: str, poll_ms: int, wait_ms: int) -> None:
    async with SqliteStore(path, poll_interval=poll_ms / 1000) as store:
        changes: list[Change] = []
        received_at: list[float] = []

        def record(change: Change) -> None:
            changes.append(change)
            received_at.append(time.time())

        store.subscribe(None, record)
        say("ready")
        target = int(await read_line())
        started = time.monotonic()
        with anyio.move_on_after(wait_ms / 1000):
            # The view moves first, then the subscriber is called: wait for both.
            while store.statistics().seq < target or not changes or changes[-1].seq < target:
                await anyio.sleep(0.005)
        elapsed = time.monotonic() - started
        snapshot = await store.snapshot()
        emit(
            {
                "elapsed": elapsed,
                "seq": store.statistics().seq,
                "changes": changes,
                "received_at": received_at,
                "entries": snapshot.entries,
            }
        )


async def produce_ops(store: SqliteStore[Any], count: int) -> None:
    """``count`` writes over 10 keys: sets (some with ttl, metadata), deletes, set_many."""
    for i in range(count):
        key = f"p{i % 10}"
        if i % 7 == 3:
            await store.delete(key)
        elif i % 11 == 5:
            await store.set_many({f"p{(i + j) % 10}": {"i": i, "j": j} for j in range(3)})
        else:
            await store.set(key, {"i": i}, metadata={"writer": "child", "i": i}, ttl=3600)
        if i % 10 == 9:
            await anyio.sleep(0.02)  # let several polls of the reader see parts of it


async def produce(path: str, count: int) -> None:
    async with SqliteStore(path) as store:
        say("ready")
        await read_line()
        await produce_ops(store, count)
        emit({"seq": store.statistics().seq})


async def increment(path: str, count: int) -> None:
    say("opening")
    async with SqliteStore(path) as store:
        say("ready")
        await read_line()
        conflicts = 0
        mark = {"by": os.getpid()}
        for _ in range(count):
            while True:
                entry = await store.entry("counter")
                version = 0 if entry is None else entry.version
                value = 0 if entry is None else entry.value
                try:
                    await store.set("counter", value + 1, if_version=version, metadata=mark)
                except VersionConflict:
                    conflicts += 1
                    continue
                break
        emit({"conflicts": conflicts, "pid": os.getpid()})


async def populate(path: str) -> None:
    async with SqliteStore(path) as store:
        for i in range(3):  # version 3, created by the first set
            await store.set("plain", {"round": i})
            await anyio.sleep(0.01)
        await store.set("meta", [1, 2, 3], metadata={"owner": "child", "tags": ["a", "b"]})
        await store.set("long", "kept", ttl=3600, metadata={"why": "ttl"})
        await store.set("short", "gone", ttl=SHORT_TTL)
        await store.set("deleted", 1)
        await store.delete("deleted")
        await store.set_many({"m1": 1.5, "m2": "two"}, ttl=7200, metadata={"batch": True})
        await store.set("m1", 2.5, ttl=7200, metadata={"batch": False})
        entries: dict[str, Entry[Any]] = {}
        async for key in store.scan():
            entry = await store.entry(key)
            assert entry is not None
            entries[key] = entry
        short = entries["short"].expires_at
        emit({"seq": store.statistics().seq, "entries": entries, "short_expires_at": short})


def batch_value(batch: int, key: str) -> dict[str, Any]:
    """The value of ``key`` in batch ``batch`` of the ``batch`` role (2 KiB on average)."""
    return {"batch": batch, **value_for(key)}


def second_batch_keys(keys: int) -> list[str]:
    return [f"b{i}" for i in range(keys // 2, keys + keys // 2)]


async def two_batches(path: str, keys: int, pause_ms: int) -> None:
    async with SqliteStore(path) as store:
        await store.set_many({f"b{i}": batch_value(1, f"b{i}") for i in range(keys)})
        say("first")
        insert = _transaction._insert

        def insert_then_pause(connection: Any, rows: Any) -> None:
            insert(connection, rows)  # on the store's thread, inside the transaction
            say("inserted")
            time.sleep(pause_ms / 1000)

        _transaction._insert = insert_then_pause
        await store.set_many({key: batch_value(2, key) for key in second_batch_keys(keys)})
        say("second")
        await anyio.sleep(SAFETY_SECONDS)


async def typed(path: str, wait_ms: int) -> None:
    async with SqliteStore(path, type=Note, metadata_type=Meta, poll_interval=0.02) as store:
        changes: list[Change] = []
        store.subscribe(None, changes.append)
        say("ready")
        target = int(await read_line())
        with anyio.move_on_after(wait_ms / 1000):
            while not changes or changes[-1].seq < target:
                await anyio.sleep(0.005)
        keys = [key async for key in store.scan()]
        got = await store.get_many(keys)
        replay: list[str] = []
        async with store.changes(replay=True) as feed:
            async for change in feed:  # the test wrote some keys: the replay ends
                replay.append(shape(change.value) if isinstance(change, SetChange) else "")
                if len(replay) == len(keys):
                    break
        report = TypedReport(
            seq=store.statistics().seq,
            changes=changes,
            received=set_shapes(changes),
            got={key: shape(value) for key, value in got.items()},
            history=set_shapes(await store.changes_since(0)),
            replay=replay,
        )
        emit(report)


def main(argv: list[str]) -> None:
    role, backend, path, *numbers = argv
    if role == "write":
        tasks, batch = map(int, numbers)
        anyio.run(write, path, tasks, batch, backend=backend)
    elif role == "follow":
        poll_ms, wait_ms = map(int, numbers)
        anyio.run(follow, path, poll_ms, wait_ms, backend=backend)
    elif role == "produce":
        anyio.run(produce, path, int(numbers[0]), backend=backend)
    elif role == "increment":
        anyio.run(increment, path, int(numbers[0]), backend=backend)
    elif role == "populate":
        anyio.run(populate, path, backend=backend)
    elif role == "batch":
        keys, pause_ms = map(int, numbers)
        anyio.run(two_batches, path, keys, pause_ms, backend=backend)
    elif role == "typed":
        anyio.run(typed, path, int(numbers[0]), backend=backend)
    else:
        raise SystemExit(f"unknown role {role!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
