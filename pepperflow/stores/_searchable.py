"""The index half of the store contract: :meth:`~Searchable.find` and
:meth:`~Searchable.matches`.

A store built with ``index=terms`` (MemoryStore, SqliteStore, RedisStore) keeps an
index of every live entry's terms, ``terms(value, metadata)``, and of its
times, updated in the same step as the entry (a backend's commit, fold or
expiry), and answers a :class:`~pepperflow.stores.Lookup` through it
(:mod:`pepperflow.stores._lookup` states what matches). ``terms`` is
called at each write, at the edge: a result that is not an iterable of
``str`` raises ``TypeError``, and an exception of its own propagates; either
way nothing is stored. A backend that keeps an index overrides
:meth:`Searchable.find`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import Any, Generic, TypeVar

from ..streams.events import SetChange
from ._indexed import IndexedState, TermIndex, safe_terms
from ._lookup import IndexTerms, Lookup, check_terms
from ._records import Entry

__all__ = ["Searchable"]

T = TypeVar("T")


class Searchable(Generic[T]):
    """What a :class:`~pepperflow.stores.Store` answers through its index."""

    name: str
    backend: str
    #: The index function (``index=``): an entry's terms; ``None`` without an index.
    index: IndexTerms | None

    def find(self, lookup: Lookup) -> AsyncIterator[Entry[T]]:
        """The live entries matching ``lookup``, in its order and page, through the index.

        The matches are taken when ``find`` is called (its cost follows the
        number of matches, not of entries); an entry that expires before
        the iteration reaches it is skipped, so an expired entry is never
        given. The iteration yields to the scheduler between batches.

        Raises:
            TypeError: ``lookup`` is not a :class:`~pepperflow.stores.Lookup`, or
                the store keeps no index (it was built without ``index=``).
        """
        raise self._no_index()

    def matches(self, lookup: Lookup, change: SetChange[T, Any]) -> bool:
        """Whether the entry ``change`` sets matches ``lookup`` (expiry, order and page aside).

        The same rule :meth:`find` applies, on the entry's terms by the
        store's index function: the live half of a search (a watch follows
        a change feed with it).

        Raises:
            TypeError: the store keeps no index.
        """
        if self.index is None:
            raise self._no_index()
        return lookup.accepts(change, safe_terms(self.name, self.index, change))

    def _adopt(self, state: dict[str, SetChange[Any, Any]]) -> dict[str, SetChange[Any, Any]]:
        """The state an in-process view keeps for ``state``: itself, or an
        indexed copy with ``index=`` (:class:`~pepperflow.stores._indexed.IndexedState`)."""
        if self.index is None:
            return state
        return IndexedState(TermIndex(self.name, self.index), state.values())

    def _check_terms(self, entries: Iterable[tuple[str, Any, Any]]) -> None:
        """Check the index function on each ``(key, value, metadata)`` about to be written."""
        index = self.index
        if index is not None:
            for key, value, metadata in entries:
                check_terms(self.name, key, index(value, metadata))

    def _no_index(self) -> TypeError:
        if self.index is None:
            return TypeError(
                f"{self!r} keeps no index; build it with index=terms, a function"
                " (value, metadata) -> terms (MemoryStore, SqliteStore and RedisStore take one)"
            )
        return TypeError(f"{self!r} ({self.backend}) cannot search its index yet")
