"""What the store checks share: the check's signature, a recording
subscriber, the fold of recorded changes, :func:`same` and
:func:`assert_reads` (a value read back, of the right type), and
:func:`raises`, the one way a check expects an error.

The suite runs without pytest: a failed expectation is an
``AssertionError`` whose message says what was expected and what happened.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import anyio

from ..stores.base import Store
from ..stores.feed import ChangeFeed
from ..streams.events import Change, ExpireChange, SetChange, fold
from ._factory import MakeStore as MakeStore

#: A check: ``async def check_<name>(make_store)``.
StoreCheck = Callable[[MakeStore], Awaitable[None]]

E = TypeVar("E", bound=BaseException)


class Recorder:
    """A subscriber that keeps every change it receives."""

    def __init__(self) -> None:
        self.changes: list[Change] = []

    @classmethod
    def on(cls, store: Store[Any], pattern: str | None = None) -> Recorder:
        """A recorder subscribed to ``store`` (for keys matching ``pattern``)."""
        recorder = cls()
        store.subscribe(pattern, recorder)
        return recorder

    def __call__(self, change: Change) -> None:
        self.changes.append(change)

    def kinds(self) -> list[tuple[str, str]]:
        """``(change type name, key)`` of every change, in arrival order."""
        return kinds(self.changes)

    def expired(self) -> list[str]:
        """The keys of the expire changes, in arrival order."""
        return [c.key for c in self.changes if isinstance(c, ExpireChange)]


def kinds(changes: list[Change]) -> list[tuple[str, str]]:
    """``(change type name, key)`` of each change."""
    return [(type(c).__name__, c.key) for c in changes]


def value_of(change: Change) -> Any:
    """The value of a set change; any other change fails the check."""
    assert isinstance(change, SetChange), f"expected a set, got {change!r}"
    return change.value


def state_of(changes: list[Change]) -> dict[str, Any]:
    """The key -> value state that folding ``changes`` gives."""
    return {key: change.value for key, change in fold(changes).items()}


def same(what: str, got: Any, expected: Any) -> None:
    """``got`` equals ``expected`` and is of the very same type."""
    assert got == expected and type(got) is type(expected), (
        f"{what}: expected {expected!r} ({type(expected).__qualname__}),"
        f" got {got!r} ({type(got).__qualname__})"
    )


async def assert_reads(store: Store[Any], expected: Mapping[str, Any], what: str) -> None:
    """``get``, ``entry`` and ``get_many`` of each key give its expected value, of its type."""
    for key, value in expected.items():
        same(f"{what}: get({key!r})", await store.get(key), value)
        entry = await store.entry(key)
        assert entry is not None, f"{what}: entry({key!r}) is None"
        same(f"{what}: entry({key!r}).value", entry.value, value)
    many = await store.get_many(list(expected))
    assert many.keys() == expected.keys(), f"{what}: get_many() gave the keys {sorted(many)}"
    for key, value in expected.items():
        same(f"{what}: get_many()[{key!r}]", many[key], value)


def assert_changes(changes: list[Change], expected: Mapping[str, Any], what: str) -> None:
    """The set changes of ``changes`` carry each key's expected value, of its type."""
    state = fold(changes)
    assert state.keys() == expected.keys(), f"{what}: changes of the keys {sorted(state)}"
    for key, value in expected.items():
        same(f"{what}: SetChange({key!r}).value", state[key].value, value)


#: Seconds a check waits for changes another store object delivers.
FEED_WAIT = 10.0


async def take(feed: ChangeFeed, count: int, what: str) -> list[Change]:
    """The next ``count`` changes of ``feed``, within :data:`FEED_WAIT` seconds."""
    got: list[Change] = []
    with anyio.move_on_after(FEED_WAIT):
        async for change in feed:
            got.append(change)
            if len(got) == count:
                return got
    raise AssertionError(f"{what}: {len(got)} of {count} changes came in {FEED_WAIT} s")


async def all_items(store: Store[Any]) -> dict[str, Any]:
    """Every key -> value the store holds, read through ``scan`` and ``get_many``."""
    keys = [key async for key in store.scan()]
    return await store.get_many(keys)


class Caught(Generic[E]):
    """The exception a :func:`raises` block raised, as ``value`` once it ended."""

    def __init__(self) -> None:
        self._value: E | None = None

    @property
    def value(self) -> E:
        """The caught exception; reading it inside the block is a bug of the check."""
        assert self._value is not None, "Caught.value is read after the block"
        return self._value


@contextmanager
def raises(expected: type[E], what: str, *, match: str | None = None) -> Iterator[Caught[E]]:
    """Expect the block to raise ``expected`` (its message matching ``match``).

    ``what`` names the operation, for the failure message. Anything else,
    another exception (chained as the cause) or none at all, raises
    ``AssertionError`` saying what was expected and what happened.
    ``BaseException``\\ s that are not ``Exception``\\ s (cancellation)
    pass through. The caught exception is ``caught.value`` after the block.
    """
    wanted = expected.__name__ + (f" matching {match!r}" if match is not None else "")
    caught: Caught[E] = Caught()
    try:
        yield caught
    except expected as exc:
        if match is not None and re.search(match, str(exc)) is None:
            raise AssertionError(f"{what}: expected {wanted}, got {exc!r}") from exc
        caught._value = exc
        return
    except Exception as exc:
        raise AssertionError(f"{what}: expected {wanted}, got {exc!r}") from exc
    raise AssertionError(f"{what}: expected {wanted}, but nothing was raised")
