"""Store checks of a declared value type (``type=``, ``metadata_type=``):
every type of :data:`~._typed_cases.CASES` round-trips through ``get``,
``get_many``, ``entry`` and the changes, and through a snapshot restored
(as it is and as msgpack); a value that is not the type is refused, naming
the key and the type, and stores and emits nothing; typed metadata.

A ``make_store`` that takes no ``type=`` skips these checks
(:class:`~._factory.StoreFactory`).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from .._errors import InvalidValue
from ..stores.base import Entry, Snapshot
from ._factory import MakeStore, StoreFactory
from ._support import Recorder, assert_changes, assert_reads, raises, same
from ._typed_cases import CASES, NOON, NOTHING_WRONG, Msg, Tags, TypeCase


def keyed(values: tuple[Any, ...]) -> dict[str, Any]:
    """``{"k0": values[0], "k1": values[1], ...}``."""
    return {f"k{i}": value for i, value in enumerate(values)}


def through_msgpack(snapshot: Snapshot) -> Snapshot:
    """``snapshot`` encoded to msgpack and decoded back (its values untyped)."""
    return msgspec.msgpack.decode(msgspec.msgpack.encode(snapshot), type=Snapshot)


async def check_typed_round_trip(make_store: MakeStore) -> None:
    """Set one way (``set``), the others another (``set_many``); read back every way."""
    factory = StoreFactory.of(make_store)
    if not factory.typed:
        return
    for case in CASES:
        expected = keyed(case.values)
        first, *others = expected.items()
        async with factory(type=case.type) as store:
            recorder = Recorder.on(store)
            await store.set(*first)
            await store.set_many(dict(others))
            await assert_reads(store, expected, case.name)
            assert_changes(recorder.changes, expected, case.name)
            assert await store.get("missing") is None


async def check_typed_restore(make_store: MakeStore) -> None:
    """A snapshot, as it is and through msgpack, restores typed values."""
    factory = StoreFactory.of(make_store)
    if not factory.typed:
        return
    for case in CASES:
        expected = keyed(case.values)
        async with factory(type=case.type) as source, factory(type=case.type) as target:
            await source.set_many(expected)
            snapshot = await source.snapshot()
            restores = (("as it is", snapshot), ("through msgpack", through_msgpack(snapshot)))
            for how, restored in restores:
                what = f"{case.name}: restore() of a snapshot {how}"
                recorder = Recorder.on(target)
                await target.restore(restored)
                await assert_reads(target, expected, what)
                assert_changes(recorder.changes, expected, what)


async def _refused(case: TypeCase, key: str, write: Callable[[], Awaitable[object]]) -> None:
    """``write`` raises InvalidValue naming the key, the store's type and what did not fit."""
    with raises(InvalidValue, f"{case.name}: a write of {case.wrong!r}") as caught:
        await write()
    message = str(caught.value)
    for part in (repr(key), case.named):
        assert part in message, f"{case.name}: the refusal {message!r} does not name {part!r}"
    assert re.search(r"\$|Expected|Invalid|Object missing", message), (
        f"{case.name}: the refusal {message!r} does not say what did not fit"
    )


async def check_wrong_type_refused(make_store: MakeStore) -> None:
    """``set``, ``set_many`` and ``restore`` refuse a value that is not the type."""
    factory = StoreFactory.of(make_store)
    if not factory.typed:
        return
    for case in CASES:
        if case.wrong is not NOTHING_WRONG:
            await _check_refusals(factory, case)


async def _check_refusals(factory: StoreFactory, case: TypeCase) -> None:
    good, wrong = case.values[0], case.wrong
    async with factory(type=case.type) as store:
        await store.set("k", good)
        recorder = Recorder.on(store)
        await _refused(case, "k", lambda: store.set("k", wrong))
        await _refused(case, "new", lambda: store.set("new", wrong))
        await _refused(case, "b", lambda: store.set_many({"a": good, "b": wrong}))
        snapshot = await store.snapshot()
        entry = Entry("z", wrong, 1, snapshot.taken_at, snapshot.taken_at)
        bad = msgspec.structs.replace(snapshot, entries=[entry, *snapshot.entries])
        await _refused(case, "z", lambda: store.restore(bad))
        assert recorder.changes == [], f"{case.name}: a refused write emitted changes"
        await assert_reads(store, {"k": good}, f"{case.name}, after refused writes")
        for absent in ("new", "a", "b", "z"):
            assert not await store.exists(absent), f"{case.name}: {absent!r} was stored"


async def check_typed_metadata(make_store: MakeStore) -> None:
    """``metadata_type=``: metadata comes back as that type, every way; others are refused."""
    factory = StoreFactory.of(make_store)
    if not factory.typed:
        return
    tags, batch = Tags("test", ("a", "b"), NOON), Tags("batch")
    options: dict[str, Any] = {"type": Msg, "metadata_type": Tags}
    async with factory(**options) as store, factory(**options) as target:
        recorder = Recorder.on(store)
        await store.set("k", Msg("user"), metadata=tags)
        await store.set_many({"m": Msg("x")}, metadata=batch)
        expected = {"k": tags, "m": batch}
        with raises(InvalidValue, "set() with metadata that is not a Tags", match="'k'.*Tags"):
            await store.set("k", Msg("u"), metadata={"labels": "not a tuple"})
        with raises(InvalidValue, "set_many() with metadata that is not a Tags", match="Tags"):
            await store.set_many({"n": Msg("u")}, metadata={"source": 1})
        assert not await store.exists("n"), "set_many with bad metadata stored a value"
        state = {change.key: change for change in recorder.changes}
        assert state.keys() == expected.keys(), f"changes of {sorted(state)}"
        await target.restore(through_msgpack(await store.snapshot()))
        for reader, how in ((store, "set"), (target, "restored through msgpack")):
            for key, metadata in expected.items():
                entry = await reader.entry(key)
                assert entry is not None, f"{how}: entry({key!r}) is None"
                same(f"{how}: entry({key!r}).metadata", entry.metadata, metadata)
                same(f"{how}: SetChange({key!r}).metadata", state[key].metadata, metadata)  # type: ignore[union-attr]
