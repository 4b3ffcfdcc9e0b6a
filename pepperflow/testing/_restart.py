"""Store checks across store objects: typed values read back by a new
store object (a restart), followed live by another one (as another
process would), and msgspec's schema evolution, through ``restore`` on
every backend and across a restart on persistent ones.

The checks across store objects need ``reopen``
(:class:`~._factory.StoreFactory`); without it they are skipped.
"""

from __future__ import annotations

import msgspec

from .._errors import UndecodableValue
from ._factory import MakeStore, StoreFactory
from ._support import assert_changes, assert_reads, raises, same, take
from ._typed import keyed, through_msgpack
from ._typed_cases import CASES


class Note(msgspec.Struct, frozen=True):
    """A value type, first version."""

    text: str


class NoteWithLang(msgspec.Struct, frozen=True):
    """The next version of :class:`Note`: a new field with a default."""

    text: str
    lang: str = "en"


class NoteNeedsLang(msgspec.Struct, frozen=True):
    """A breaking version of :class:`Note`: a new field without a default."""

    text: str
    lang: str


async def check_typed_restart(make_store: MakeStore) -> None:
    """A new store object of the same type reads typed values, and replays them typed."""
    factory = StoreFactory.of(make_store)
    if not factory.typed or factory.reopen is None:
        return
    for case in CASES:
        expected = keyed(case.values)
        what = f"{case.name}, after a restart"
        async with factory(type=case.type) as store:
            await store.set_many(expected)
        async with factory.reopen(store, type=case.type) as again:
            await assert_reads(again, expected, what)
            async with again.changes(replay=True) as feed:
                assert_changes(await take(feed, len(expected), what), expected, what)


async def check_typed_other_reader(make_store: MakeStore) -> None:
    """A second store object over the same data follows the writes, typed."""
    factory = StoreFactory.of(make_store)
    if not factory.typed or factory.reopen is None:
        return
    for case in CASES:
        expected = keyed(case.values)
        what = f"{case.name}, read by another store object"
        async with factory(type=case.type) as writer:
            reader = factory.reopen(writer, type=case.type)
            async with reader, reader.changes() as feed:
                await writer.set_many(expected)
                assert_changes(await take(feed, len(expected), what), expected, what)
                await assert_reads(reader, expected, what)


async def check_schema_evolution(make_store: MakeStore) -> None:
    """A new field with a default, a removed field; a breaking change names the key."""
    factory = StoreFactory.of(make_store)
    if not factory.typed:
        return
    async with factory(type=Note) as old, factory(type=NoteWithLang) as new:
        await old.set("a", Note("hi"))
        await new.restore(through_msgpack(await old.snapshot()))
        same("restore() into a Struct with a new field", await new.get("a"), NoteWithLang("hi"))
    if factory.reopen is None:
        return
    async with factory(type=Note) as first:
        await first.set("old", Note("hi"))
    async with factory.reopen(first, type=NoteWithLang) as second:
        await assert_reads(second, {"old": NoteWithLang("hi")}, "a new field with a default")
        await second.set("new", NoteWithLang("hallo", "de"))
    async with factory.reopen(first, type=Note) as back:
        await assert_reads(back, {"new": Note("hallo")}, "a removed field")
    async with factory.reopen(first, type=NoteNeedsLang) as strict:
        what = "get() of an entry written before a field without a default"
        with raises(UndecodableValue, what, match="'old'") as caught:
            await strict.get("old")
        assert repr(strict.name) in str(caught.value), f"{what}: the error does not name the store"
        await assert_reads(strict, {"new": NoteNeedsLang("hallo", "de")}, "the other keys")
