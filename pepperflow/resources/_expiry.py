"""Expiries: the store's ``ExpireChange`` of a record is what releases its resource.

An active record of a kind with an ``idle_timeout`` or a ``ttl`` carries a
ttl in the store; the store's one TTL structure decides when it runs out,
and its :class:`~pepperflow.streams.ExpireChange` marks the resource due.
:class:`Expiries` subscribes to the records of a kind once its first
timed record is written (so writes of untimed kinds pay no delivery),
collects the due resources, and wakes the task that releases them. A
running store commits expiries on time; one that is not running (or runs
on a test clock) commits them when the key is read, which
:meth:`Expiries.force` does for the timed records.
"""

from __future__ import annotations

import re
from typing import Any

import anyio

from ..stores._hub import Subscription
from ..stores.base import Store
from ..streams.events import Change, ExpireChange
from ._held import Held
from ._types import ResourceStatus

__all__ = ["Expiries"]

_ACTIVE = ResourceStatus.ACTIVE


class Expiries:
    """The resources whose record expired in the store, waiting for their release.

    Args:
        store: the store of the records.
        prefix: the key prefix of the records.
        held: the manager's held resources by id (read, never changed here).
    """

    __slots__ = ("_cut", "_due", "_held", "_prefix", "_store", "_subs", "_wake")

    def __init__(self, store: Store[Any], prefix: str, held: dict[str, Held]) -> None:
        self._store = store
        self._prefix = prefix
        self._cut = len(prefix)
        self._held = held
        self._subs: dict[str, Subscription] = {}  # by kind
        self._due: list[Held] = []
        self._wake: anyio.Event | None = None

    def watch(self, kind: str) -> None:
        """Follow the expiries of the records of ``kind`` from now on (idempotent)."""
        if kind not in self._subs:
            pattern = _literal(self._prefix + kind)  # its ids, and a few others
            self._subs[kind] = self._store.subscribe(pattern, self._on_change)

    def _on_change(self, change: Change) -> None:
        if type(change) is not ExpireChange:
            return
        held = self._held.get(change.key[self._cut :])
        if held is None or held.status is not _ACTIVE:
            return  # released meanwhile, or expired while being acquired or released
        held.due = True
        self._due.append(held)
        wake, self._wake = self._wake, None
        if wake is not None:
            wake.set()

    def take(self) -> list[Held]:
        """The resources found due since the last call, oldest expiry first."""
        due, self._due = self._due, []
        return due

    async def wait(self) -> None:
        """Return once a resource is due."""
        while not self._due:
            self._wake = anyio.Event()
            await self._wake.wait()

    async def force(self) -> None:
        """Read the timed active records, so that the store commits those past their ttl."""
        keys = [h.key for h in self._held.values() if h.kind.timed and h.status is _ACTIVE]
        if keys:
            await self._store.get_many(keys)

    def close(self) -> None:
        """Stop following the expiries."""
        for sub in self._subs.values():
            sub.unsubscribe()
        self._subs.clear()


def _literal(text: str) -> str:
    """``text`` as a pattern that means it literally (a prefix, never a glob)."""
    return re.sub(r"([\\*?\[])", r"\\\1", text)
