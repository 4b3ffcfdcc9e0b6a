"""The change feed of the records under one key prefix of a store.

A façade that keeps its records in a store (providers, resources) offers
their changes as its own: :meth:`ScopedChanges.changes` and
:meth:`ScopedChanges.subscribe` take a pattern over the records' names
(ids), put the prefix in front, and hand back the store's feed or
subscription. The changes' keys keep the prefix.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from .._patterns import compile_pattern
from ._checks import check_key
from ._hub import Subscription
from .base import Callback, Store
from .feed import ChangeFeed, Overflow

__all__ = ["ScopedChanges"]


class ScopedChanges:
    """Feeds and subscriptions over the records under ``_scope()``'s prefix."""

    @abstractmethod
    def _scope(self) -> tuple[Store[Any], str]:
        """The store holding the records, and the prefix of their keys."""

    def changes(
        self,
        pattern: str | None = None,
        *,
        replay: bool = False,
        buffer: int = 1024,
        overflow: Overflow = "block",
    ) -> ChangeFeed:
        """A change feed of the records whose names match ``pattern`` (``async with``).

        ``pattern`` follows the store's rule (a prefix, or a glob with
        ``*``/``?``/``[...]``) over the names; the changes' keys carry the
        records' key prefix. See :meth:`pepperflow.stores.Store.changes`.
        """
        store, prefix = self._scope()
        return store.changes(
            _under(prefix, pattern), replay=replay, buffer=buffer, overflow=overflow
        )

    def subscribe(
        self, pattern: str | None, callback: Callback, *, exact: bool = False
    ) -> Subscription:
        """Call ``callback(change)`` on each change of the records whose names match ``pattern``.

        ``exact=True``: of the one record named ``pattern``, as
        :meth:`pepperflow.stores.Store.subscribe` says.
        """
        store, prefix = self._scope()
        if exact:
            return store.subscribe(prefix + check_key(store.name, pattern), callback, exact=True)
        return store.subscribe(_under(prefix, pattern), callback)


def _under(prefix: str, pattern: str | None) -> str:
    """``pattern`` over the records' names as a pattern over their keys.

    Raises:
        InvalidPattern: ``pattern`` is not one (checked before the prefix
            is put in front).
    """
    compile_pattern(pattern)
    return prefix + (pattern or "")
