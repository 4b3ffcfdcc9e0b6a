"""Store checks of values without a declared type, and of the copy rule.

The untyped rule (:mod:`pepperflow.stores._codec`): a value comes back as
msgspec decodes its msgpack encoding without a type, whatever the backend
and whether or not it restarted (:data:`~._typed_cases.UNTYPED_RULE`).
The copy rule: a store keeps a copy of its own, so mutating the object
passed to a write changes nothing in the store.
"""

from __future__ import annotations

from typing import Any

from ._factory import MakeStore, StoreFactory
from ._support import Recorder, assert_changes, assert_reads, same
from ._typed_cases import UNTYPED_RULE, Basket


async def check_untyped_rule(make_store: MakeStore) -> None:
    """Every input of the rule's table gives its output on every read, and after a restart."""
    factory = StoreFactory.of(make_store)
    given = {name: value for name, value, _ in UNTYPED_RULE}
    expected = {name: output for name, _, output in UNTYPED_RULE}
    first, *others = given.items()
    async with factory() as store:
        recorder = Recorder.on(store)
        await store.set(*first)
        await store.set_many(dict(others))
        await assert_reads(store, expected, "untyped")
        assert_changes(recorder.changes, expected, "untyped")
        for entry in (await store.snapshot()).entries:
            same(f"untyped: snapshot().entries[{entry.key!r}]", entry.value, expected[entry.key])
    if factory.reopen is not None:
        async with factory.reopen(store) as again:
            await assert_reads(again, expected, "untyped, after a restart")


async def check_values_are_copied(make_store: MakeStore) -> None:
    """Mutating what was passed to ``set``/``set_many`` (value or metadata) changes nothing."""
    factory = StoreFactory.of(make_store)
    value: dict[str, Any] = {"a": [1]}
    items: dict[str, Any] = {"m": [1], "n": {"x": 1}}
    metadata: dict[str, Any] = {"tags": ["x"]}
    async with factory() as store:
        await store.set("k", value, metadata=metadata)
        await store.set_many(items)
        value["a"].append(2)
        value["b"] = 0
        items["m"].append(2)
        items["n"]["x"] = 2
        metadata["tags"].append("y")
        await assert_reads(store, {"k": {"a": [1]}, "m": [1], "n": {"x": 1}}, "after mutations")
        entry = await store.entry("k")
        assert entry is not None
        same("metadata after a mutation", entry.metadata, {"tags": ["x"]})
    if not factory.typed:
        return
    basket = Basket([1])
    async with factory(type=Basket) as store:
        await store.set("k", basket)
        basket.items.append(2)
        await assert_reads(store, {"k": Basket([1])}, "a typed mutable value after a mutation")
