"""What the store checks share: the check's signature, a recording
subscriber, the fold of recorded changes, and :func:`raises`, the one way
a check expects an error.

The suite runs without pytest: a failed expectation is an
``AssertionError`` whose message says what was expected and what happened.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from ..stores.base import Store
from ..streams.events import Change, ExpireChange, SetChange, fold

MakeStore = Callable[[], Store[Any]]
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
