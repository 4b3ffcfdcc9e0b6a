"""Store checks of input at the edge: every bad input of the table
(:mod:`._bad_input_cases`) raises its own error with a message that says
what was wrong and how to fix it, and stores and emits nothing; keys of any
text (a ``str`` subclass, non-ASCII) are kept as plain ``str``.
"""

from __future__ import annotations

import enum
import inspect
from typing import Any

from ..stores.base import Entry, Store
from ._bad_input_cases import bad_inputs
from ._support import MakeStore, Recorder, raises, same


async def _run(result: Any) -> None:
    """Await, enter or iterate what an operation gave back, as a caller would."""
    if inspect.isawaitable(result):
        await result
    elif hasattr(result, "__aenter__"):
        async with result:
            pass
    elif hasattr(result, "__aiter__"):
        async for _ in result:
            pass


async def _state(store: Store[Any]) -> tuple[int, list[Entry[Any]]]:
    """The store's ``seq`` and every entry, from a snapshot."""
    snapshot = await store.snapshot()
    return snapshot.seq, snapshot.entries


async def check_bad_input(make_store: MakeStore) -> None:
    """Every case of the bad-input table raises its error and message, on a
    store whose snapshot (entries and seq) it leaves as it was, emitting nothing."""
    async with make_store() as store:
        await store.set("k", "kept", metadata={"m": 1})
        await store.set("t", [1], ttl=3600)
        feed = Recorder.on(store)
        before = await _state(store)
        for case in bad_inputs():
            with raises(case.error, case.what, match=case.message):
                await _run(case.operation(store, case.argument))
            assert await _state(store) == before, f"{case.what} changed the store"
        assert feed.changes == [], f"rejected input emitted {feed.kinds()}"


class _Key(enum.StrEnum):
    """Keys as an application may name them: members of a StrEnum (a str subclass)."""

    USER = "user:1"
    TEXT = "clé:😀\x00"


async def check_text_keys(make_store: MakeStore) -> None:
    """A ``str`` subclass key (a StrEnum member) is its plain text, on every
    operation; keys and values of any valid text (non-ASCII, NUL) round-trip."""
    async with make_store() as store:
        feed = Recorder.on(store)
        await store.set(_Key.USER, "é😀")
        await store.set_many([(_Key.TEXT, 2)])
        for key, value in (("user:1", "é😀"), ("clé:😀\x00", 2)):
            same(f"get({key!r})", await store.get(key), value)
            same(f"get(its StrEnum member) of {key!r}", await store.get(_Key(key)), value)
            assert await store.exists(_Key(key)), f"exists(StrEnum member {key!r})"
            entry = await store.entry(_Key(key))
            assert entry is not None, f"entry(StrEnum member {key!r}) is None"
            same(f"entry({key!r}).key", entry.key, key)
        many = await store.get_many([_Key.USER, "clé:😀\x00"])
        assert many == {"user:1": "é😀", "clé:😀\x00": 2}, f"get_many gave {many!r}"
        stored = [
            *[key async for key in store.scan()],
            *(entry.key for entry in (await store.snapshot()).entries),
            *(change.key for change in feed.changes),
            *many,
        ]
        for key in stored:
            same(f"a stored key {key!r}", key, str.__str__(key))
        assert await store.delete(_Key.USER), "delete(StrEnum member)"
        assert not await store.exists("user:1")
