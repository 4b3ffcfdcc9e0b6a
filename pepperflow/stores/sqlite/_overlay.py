"""The state as a write transaction sees it: the committed state, its own writes on top.

A write transaction must check versions and expiries against the state
with its own earlier writes in it, but must not change the store's state
(the event loop reads it meanwhile, and the transaction may still roll
back). :class:`Overlay` is that view: a mutable mapping of key to latest
:class:`~pepperflow.streams.SetChange` that reads through to the state
below it and keeps its own writes (and deletions, as tombstones) in a small
dict on top. Changes are folded into it with :func:`pepperflow.streams.apply`, as into
any state. One job among
others runs on an overlay of the transaction's overlay: :meth:`Overlay.merge`
keeps its writes, dropping it forgets them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

from ...streams.events import SetChange

__all__ = ["BELOW", "Overlay"]

#: What :attr:`Overlay.top` holds of a key not written here: ask the state below.
BELOW: Any = object()


class Overlay(MutableMapping[str, SetChange[Any, Any]]):
    """``below`` with this transaction's writes on top (see the module docstring)."""

    __slots__ = ("below", "top")

    def __init__(self, below: Mapping[str, SetChange[Any, Any]]) -> None:
        self.below = below
        #: Each key written here: its latest SetChange, or None once removed.
        self.top: dict[str, SetChange[Any, Any] | None] = {}

    def get(self, key: str, default: Any = None) -> Any:
        change = self.top.get(key, BELOW)
        if change is BELOW:
            return self.below.get(key, default)
        return default if change is None else change

    def __getitem__(self, key: str) -> SetChange[Any, Any]:
        change = self.get(key)
        if change is None:
            raise KeyError(key)
        return change  # type: ignore[no-any-return]

    def __setitem__(self, key: str, change: SetChange[Any, Any]) -> None:
        self.top[key] = change

    def __delitem__(self, key: str) -> None:
        if self.get(key) is None:
            raise KeyError(key)
        self.top[key] = None

    def pop(self, key: str, default: Any = BELOW) -> Any:
        change = self.get(key)
        if change is None:
            if default is BELOW:
                raise KeyError(key)
            return default
        self.top[key] = None
        return change

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[str]:
        top = self.top
        for key in self.below:
            if top.get(key, BELOW) is BELOW:
                yield key
        for key, change in top.items():
            if change is not None:
                yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def merge(self) -> None:
        """Keep this overlay's writes: write them into the overlay below it."""
        below = self.below
        assert isinstance(below, Overlay), "only an overlay on an overlay merges"
        below.top.update(self.top)
