"""The façades' ``type=``: R055's memory stores and R058's state managers give back their type.

In process (MemoryStore); SQLite and Redis: tests/facades/test_typed_backends.py.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from pepperflow import (
    BaseMemoryStore,
    BaseStateManager,
    DefaultResourceManager,
    LocalMemoryStore,
    MemoryManager,
    ResourceRecord,
    SharedStateManager,
    StateManagerFactory,
    StateType,
)
from pepperflow._errors import InvalidValue
from pepperflow.stores import MemoryStore
from tests.facades.typed_values import AT, HELLO, Msg

pytestmark = pytest.mark.anyio


# -- R055: memory stores and the manager ---------------------------------------------


async def test_a_typed_local_memory_store_gives_back_its_type_and_keeps_a_copy() -> None:
    local = LocalMemoryStore(type=Msg)
    assert local.value_type is Msg and local.store.codec.value_type is Msg
    metadata = {"by": "test"}
    await local.set("a", HELLO, metadata=metadata)
    metadata["by"] = "changed afterwards"
    a = await local.get("a")
    assert a is not None
    assert type(a.value) is Msg and a.value == HELLO and a.metadata == {"by": "test"}
    with pytest.raises(InvalidValue, match=r"key 'b'.*not a Msg.*it is a dict"):
        await local.set("b", {"role": "user", "text": "a map that fits"})  # type: ignore[arg-type]
    await local.aclose()


async def test_a_value_that_is_not_the_type_is_refused_and_nothing_is_stored() -> None:
    local = LocalMemoryStore(type=Msg)
    with pytest.raises(InvalidValue, match=r"key 'a'.*not a Msg"):
        await local.set("a", {"role": "user"})  # type: ignore[arg-type]  # no text
    with pytest.raises(InvalidValue, match="not a Msg"):
        await local.set("a", "just a str")  # type: ignore[arg-type]
    assert await local.get("a") is None
    assert local.store.statistics().seq == 0, "nothing committed"
    await local.aclose()


async def test_a_typed_manager_registers_only_memory_stores_of_its_type() -> None:
    memory = MemoryManager(type=Msg)
    assert memory.value_type is Msg
    memory.register_store("local", LocalMemoryStore(type=Msg), default=True)
    memory.register_store("view", BaseMemoryStore(MemoryStore("view", type=Msg)))
    with pytest.raises(TypeError, match=r"keeps values of type Any.*type=Msg"):
        memory.register_store("untyped", LocalMemoryStore())
    with pytest.raises(TypeError, match="type=Msg"):
        memory.register_store("str", LocalMemoryStore(type=str))  # type: ignore[arg-type]
    assert sorted(memory.stores) == ["local", "view"]
    await memory.set("m", HELLO)
    await memory.set("m", HELLO, store="view")
    for name in ("local", "view"):
        entry = await memory.get("m", store=name)
        assert entry is not None and type(entry.value) is Msg and entry.value == HELLO


async def test_an_untyped_manager_registers_any_memory_store() -> None:
    memory = MemoryManager[Any]()
    memory.register_store("typed", LocalMemoryStore(type=Msg))
    memory.register_store("untyped", LocalMemoryStore(), default=True)
    await memory.set("m", HELLO, store="typed")
    await memory.set("m", HELLO)
    typed, untyped = await memory.get("m", store="typed"), await memory.get("m")
    assert typed is not None and typed.value == HELLO
    assert untyped is not None and untyped.value == {  # the untyped rule: a Struct is a dict
        "role": "user",
        "text": "hello",
        "at": AT,
        "tags": ["greeting"],
    }


async def test_a_memory_store_over_a_given_store_takes_its_type_or_checks_it() -> None:
    typed = MemoryStore("typed", type=Msg)
    assert BaseMemoryStore(typed).value_type is Msg
    assert BaseMemoryStore(typed, type=Msg).value_type is Msg
    with pytest.raises(TypeError, match=r"BaseMemoryStore\(store=...\).*keeps values of type"):
        BaseMemoryStore(MemoryStore("untyped"), type=Msg)
    with pytest.raises(TypeError, match="keeps values of type Msg, not str"):
        BaseMemoryStore(typed, type=str)


# -- R058: state managers -------------------------------------------------------------


async def test_a_typed_state_manager_gives_back_its_type_in_get_entry_and_callbacks() -> None:
    manager = BaseStateManager(type=Msg, name="chat")
    assert manager.value_type is Msg
    await manager.set("turn", HELLO, metadata={"by": "test"})
    value = await manager.get("turn")
    entry = await manager.entry("turn")
    assert type(value) is Msg and value == HELLO
    assert entry is not None and type(entry.value) is Msg and entry.value == HELLO
    assert entry.metadata == {"by": "test"} and entry.type is StateType.EPHEMERAL
    with pytest.raises(InvalidValue, match="key 'turn'"):
        await manager.set("turn", ["not", "a", "msg"])  # type: ignore[arg-type]
    assert await manager.get("turn") == HELLO
    await manager.aclose()


async def test_a_shared_managers_callbacks_get_its_type() -> None:
    room = SharedStateManager("room", type=Msg)
    calls: list[tuple[str, Any]] = []
    room.subscribe_pattern(None, lambda key, value: calls.append((key, value)))
    await room.set("m", HELLO)
    await room.delete("m")
    assert calls == [("m", HELLO), ("m", None)]
    assert type(calls[0][1]) is Msg
    await room.aclose()


@pytest.mark.parametrize(
    ("kind", "value", "back"),
    [
        (datetime, AT, AT),
        (Decimal, Decimal("1.10"), Decimal("1.10")),
        (tuple[int, str], (1, "a"), (1, "a")),
        (frozenset[int], [3, 1, 3], frozenset({1, 3})),
    ],
)
async def test_other_types_come_back_as_themselves(kind: Any, value: Any, back: Any) -> None:
    manager: BaseStateManager[Any] = BaseStateManager(type=kind)
    await manager.set("k", value)
    got = await manager.get("k")
    assert got == back and type(got) is type(back)
    await manager.aclose()


async def test_a_state_type_given_as_type_is_refused_with_what_to_do() -> None:
    with pytest.raises(TypeError, match=r"the values' type.*use a persistent manager"):
        BaseStateManager(type=StateType.PERSISTENT)  # type: ignore[call-overload]


async def test_a_manager_over_a_given_store_takes_its_type_or_checks_it() -> None:
    store = MemoryStore("app", type=Msg)
    assert BaseStateManager(store).value_type is Msg
    assert BaseStateManager(LocalMemoryStore(type=Msg)).value_type is Msg
    with pytest.raises(TypeError, match=r"BaseStateManager\(store=...\).*not Msg"):
        BaseStateManager(MemoryStore("untyped"), type=Msg)
    with pytest.raises(TypeError, match="returned"):
        BaseStateManager(lambda name: "no store", type=Msg)  # type: ignore[arg-type,return-value]
    made = BaseStateManager(lambda name: MemoryStore(name, type=Msg), name="made", type=Msg)
    assert made.value_type is Msg and made.store.name == "made"


async def test_the_factory_makes_managers_of_a_value_type() -> None:
    store = MemoryStore("app", type=Msg)
    async with StateManagerFactory(ephemeral=store, shared=store) as factory:
        chat = factory.create_manager("chat", value_type=Msg)
        room = factory.create_manager("room", "shared", value_type=Msg)
        assert chat.value_type is room.value_type is Msg
        assert factory.create_manager("chat", value_type=Msg) is chat
        assert factory.create_manager("chat") is chat
        with pytest.raises(TypeError, match="exists and keeps values of type"):
            factory.create_manager("chat", value_type=str)
        await room.set("m", HELLO)
        assert await chat.get("m") == HELLO
        with pytest.raises(TypeError, match="keeps values of type"):
            factory.create_manager("other", "shared", value_type=str)


# -- providers and resources: typed records -------------------------------------------


async def test_resource_records_are_records_in_the_managers_store() -> None:
    async with DefaultResourceManager() as resources:
        assert resources.store.codec.value_type is ResourceRecord
        await resources.acquire("db:1")
        value = await resources.store.get(resources.key("db:1"))
        assert type(value) is ResourceRecord and value.id == "db:1"
        assert await resources.status("db:1") == value
        await resources.release("db:1")


async def test_resource_records_are_dicts_in_an_untyped_store_and_other_types_are_refused() -> None:
    async with MemoryStore("app") as store, DefaultResourceManager(store=store) as resources:
        await resources.acquire("db:1")
        value = await store.get(resources.key("db:1"))
        assert isinstance(value, dict) and value["status"] == "active"
        record = await resources.status("db:1")
        assert record is not None and record == ResourceRecord.from_value(value)
        await resources.release("db:1")
    with pytest.raises(TypeError, match="keeps values of type Msg; the records need"):
        DefaultResourceManager(store=MemoryStore("app", type=Msg))
