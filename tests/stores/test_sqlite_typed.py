"""SqliteStore with a value type: the same T back from the file, and rows that no longer fit."""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
import pytest

from pepperflow._errors import InvalidValue, UndecodableValue
from pepperflow.stores import SqliteStore
from pepperflow.stores.sqlite import UndecodableSet
from pepperflow.streams import Change, SetChange
from tests.support.child_process import run_child
from tests.support.sqlite_child import (
    Author,
    Color,
    Image,
    Meta,
    Note,
    Text,
    TypedReport,
    set_shapes,
    shape,
)

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).parent.parent / "support" / "sqlite_child.py"
WHEN = datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=timezone(timedelta(hours=2)))
_ids = itertools.count(1)


def note(tags: set[str] | None = None, part: Text | Image | None = None) -> Note:
    return Note(
        id=UUID(int=next(_ids)),
        at=WHEN,
        price=Decimal("19.90"),
        tags={"a", "b"} if tags is None else tags,
        color=Color.BLUE,
        part=Image("https://x/y.png", (640, 480)) if part is None else part,
        author=Author("Ada", date(1815, 12, 10)),
    )


class Point(msgspec.Struct, frozen=True):
    x: int
    y: int


class LabelledPoint(msgspec.Struct, frozen=True):
    """Point, one deployment later: a new field with a default."""

    x: int
    y: int
    label: str = "unnamed"


@dataclasses.dataclass(frozen=True)
class Pair:
    left: int
    right: tuple[str, ...]


CASES: list[tuple[str, Any, Any]] = [
    ("struct", Note, note()),
    ("tagged-union", Text | Image, Text("hello")),
    ("dataclass", Pair, Pair(1, ("a", "b"))),
    ("datetime", datetime, WHEN),
    ("date", date, date(2025, 1, 31)),
    ("uuid", UUID, UUID(int=7)),
    ("decimal", Decimal, Decimal("0.10")),
    ("tuple", tuple[int, str], (1, "x")),
    ("set", set[int], {3, 1, 2}),
    ("enum", Color, Color.RED),
    ("list-of-structs", list[Point], [Point(1, 2), Point(3, 4)]),
]


@pytest.mark.parametrize(
    ("kind", "value"), [(k, v) for _, k, v in CASES], ids=[c[0] for c in CASES]
)
async def test_a_typed_value_comes_back_the_same_after_a_restart(
    tmp_path: Path, kind: Any, value: Any
) -> None:
    path = tmp_path / "s.db"
    meta = Meta("test", WHEN)
    # Metadata is given as a mapping (Store.set's signature) and read back as a Meta.
    meta_given = {"by": "test", "at": WHEN}
    async with SqliteStore(path, type=kind, metadata_type=Meta) as store:
        await store.set("k", value, metadata=meta_given)
        await store.set_many({"m1": value, "m2": value})
        before = await store.entry("k")
    for _ in range(2):  # reopened, then reopened after a write of the reopened store
        async with SqliteStore(path, type=kind, metadata_type=Meta) as store:
            assert await store.get("k") == value
            assert shape(await store.get("k")) == shape(value)
            entry = await store.entry("k")
            assert entry == before and entry is not None
            assert shape(entry.metadata) == shape(meta)
            got = await store.get_many(["k", "m1", "m2"])
            assert [shape(v) for v in got.values()] == [shape(value)] * 3
            history = await store.changes_since(0)
            assert (
                set_shapes(history[:3])
                == [f"{shape(value)} / {shape(meta)}"] + [f"{shape(value)} / NoneType"] * 2
            )
            await store.set("k", value, metadata=meta_given)
            before = await store.entry("k")


async def test_restore_of_a_snapshot_gives_typed_values_after_a_restart(tmp_path: Path) -> None:
    values = {"a": note(), "b": note(part=Text("b")), "c": note(tags=set())}
    async with SqliteStore(tmp_path / "one.db", type=Note, metadata_type=Meta) as one:
        await one.set_many(values, metadata={"by": "one", "at": WHEN})
        snapshot = await one.snapshot()
    plain = msgspec.msgpack.decode(msgspec.msgpack.encode(snapshot), type=type(snapshot))
    async with SqliteStore(tmp_path / "two.db", type=Note, metadata_type=Meta) as two:
        await two.restore(plain)  # a snapshot sent over the wire: its values are dicts
    async with SqliteStore(tmp_path / "two.db", type=Note, metadata_type=Meta) as two:
        got = await two.get_many(values)
        assert got == values
        assert {shape(v) for v in got.values()} == {shape(v) for v in values.values()}
        entry = await two.entry("a")
        assert entry is not None and entry.metadata == Meta("one", WHEN)


async def test_a_store_typed_for_mypy_gives_its_type(tmp_path: Path) -> None:
    store: SqliteStore[Point] = SqliteStore(tmp_path / "s.db", type=Point)
    async with store:
        await store.set("p", Point(1, 2))
        point: Point | None = await store.get("p")
        assert point == Point(1, 2)
    untyped: SqliteStore[Any] = SqliteStore(tmp_path / "s.db")
    async with untyped:
        assert await untyped.get("p") == {"x": 1, "y": 2}, "no type: the untyped rule"


async def test_another_process_reads_the_same_types_from_the_change_feed(
    anyio_backend: str, tmp_path: Path
) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path, type=Note, metadata_type=Meta) as store:
        mine: list[Change] = []
        store.subscribe(None, mine.append)
        await store.set("before", note())  # in the file before the child opens it
        async with run_child(CHILD, tmp_path, ["typed", anyio_backend, str(path), "3000"]) as child:
            assert await child.line() == "ready"
            await store.set("n1", note(), metadata={"by": "parent", "at": WHEN})
            await store.set_many({"n2": note(part=Text("x")), "n3": note(tags=set())})
            await store.set("n1", note(tags={"z"}), metadata={"by": "again", "at": WHEN}, ttl=3600)
            assert await store.delete("n3")
            seq = store.statistics().seq
            await child.send(str(seq))
            report = msgspec.json.decode(await child.line(), type=TypedReport)
            await child.finish()
        assert report.seq == seq
        assert report.changes == mine[1:], "the child's subscriber got other changes"
        assert report.received == set_shapes(mine[1:]), "the child decoded other types"
        assert "Note(id=UUID, at=datetime, price=Decimal, tags=set[str, str]," in report.received[0]
        values = await store.get_many(["before", "n1", "n2"])
        assert report.got == {key: shape(value) for key, value in values.items()}
        assert report.history == set_shapes(await store.changes_since(0))
        assert sorted(report.replay) == sorted(shape(value) for value in values.values())


async def test_a_value_of_another_type_is_refused_with_nothing_stored_or_emitted(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path, type=Point, metadata_type=Meta) as store:
        got: list[Change] = []
        store.subscribe(None, got.append)
        await store.set("ok", Point(0, 0))
        with pytest.raises(InvalidValue, match=r"key 'bad'.*not a Point.*\$\.y"):
            await store.set("bad", Point(1, "two"))  # type: ignore[arg-type]
        with pytest.raises(InvalidValue, match=r"key 'b'.*not a Point"):
            await store.set_many({"a": Point(1, 1), "b": {"x": 1}})
        with pytest.raises(InvalidValue, match=r"key 'ok'.*metadata is not a Meta"):
            await store.set("ok", Point(9, 9), metadata={"by": 1})
        assert [change.seq for change in got] == [1], "a refused write emitted a change"
        assert await store.get_many(["bad", "a", "b"]) == {}
        assert await store.get("ok") == Point(0, 0)
    async with SqliteStore(path, type=Point) as store:
        assert [change.key for change in await store.changes_since(0)] == ["ok"]


# -- stored rows that no longer fit the type --------------------------------------


async def write_untyped(path: Path, values: dict[str, Any]) -> None:
    async with SqliteStore(path, namespace="points") as store:
        for key, value in values.items():
            await store.set(key, value, ttl=3600 if key == "ttl" else None)


def raises_undecodable(key: str) -> Any:
    return pytest.raises(UndecodableValue, match=rf"store 'points', key '{key}'.*\$\.value\.y")


async def test_a_stored_value_that_no_longer_fits_raises_only_for_its_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "s.db"
    await write_untyped(path, {"good": {"x": 1, "y": 2}, "bad": {"x": 1, "y": "two"}})
    await write_untyped(path, {"bad": {"x": 3, "y": "three"}, "ttl": {"x": 0, "y": None}})
    async with SqliteStore(path, namespace="points", type=Point) as store:
        assert await store.get("good") == Point(1, 2)
        assert await store.get_many(["good", "missing"]) == {"good": Point(1, 2)}
        reads: list[Callable[[], Any]] = [
            lambda: store.get("bad"),
            lambda: store.get("bad", "default"),
            lambda: store.entry("bad"),
            lambda: store.get_many(["good", "bad"]),
            store.snapshot,
        ]
        for read in reads:
            with raises_undecodable("bad"):
                await read()
        assert await store.exists("bad"), "the key is still there"
        assert {key async for key in store.scan()} == {"good", "bad", "ttl"}
        history = await store.changes_since(0)
        unfit = [change for change in history if isinstance(change, UndecodableSet)]
        assert [(c.key, c.version) for c in unfit] == [("bad", 1), ("bad", 2), ("ttl", 1)]
        assert unfit[2].expires_at is not None
        with raises_undecodable("bad"):
            _ = unfit[1].value
        with raises_undecodable("bad"):
            _ = unfit[1].metadata
        # Writing the key again replaces the row, and the version goes on.
        assert await store.set("bad", Point(5, 5)) == 3
        assert await store.get("bad") == Point(5, 5)
        assert await store.delete("ttl")
        assert (await store.snapshot()).entries[-1].value == Point(5, 5)
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]


async def test_a_row_another_process_writes_with_another_type_does_not_stop_the_store(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    async with (
        SqliteStore(path, namespace="points", type=Point, poll_interval=0.01) as typed,
        SqliteStore(path, namespace="points", poll_interval=3600) as old,
    ):
        got: list[Change] = []
        typed.subscribe(None, got.append)
        await old.set("p", {"x": 1, "y": "not an int"})  # an older deployment writes
        await typed.set("q", Point(0, 0))  # reads it first, inside its transaction
        assert [(type(c), c.key, c.seq) for c in got] == [
            (UndecodableSet, "p", 1),
            (SetChange, "q", 2),
        ]
        with raises_undecodable("p"):
            await typed.get("p")
        await old.set("p", {"x": 1, "y": 2})
        await typed.set("q", Point(0, 1))
        assert await typed.get("p") == Point(1, 2)
        assert await typed.entry("p") is not None


async def test_schema_evolution_a_field_added_with_a_default_and_a_field_removed(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    async with SqliteStore(path, type=Point) as store:
        await store.set("old", Point(1, 2))
    async with SqliteStore(path, type=LabelledPoint) as store:
        assert await store.get("old") == LabelledPoint(1, 2, "unnamed")
        await store.set("new", LabelledPoint(3, 4, "four"))
    async with SqliteStore(path, type=Point) as store:  # a rollback: the label is dropped
        assert await store.get_many(["old", "new"]) == {"old": Point(1, 2), "new": Point(3, 4)}
