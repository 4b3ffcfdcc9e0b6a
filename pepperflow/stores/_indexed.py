"""The index of an in-process view (MemoryStore, SqliteStore), kept by its state mapping.

A view's state is a dict of key to its latest :class:`~pepperflow.streams.SetChange`.
A store opened with ``index=`` holds it in an :class:`IndexedState`
instead: a dict whose every write (``state[key] = change``, ``del``,
``pop``) also updates the :class:`TermIndex`, in the same synchronous step.
Every path that changes the state (a MemoryStore commit, an expiry, a
SqliteStore fold of its own or another process's changes, the load of its
file at open) goes through those methods, so the index cannot disagree with
the state; after a crash it is rebuilt with the state, from the changelog.

The index keeps, for the live entries:

* ``postings``: each term to the keys that have it, and ``terms``: each key
  to its terms (to drop them when the key changes);
* ``created`` and ``expires``: ``(microseconds, key)`` pairs in a
  :class:`~pepperflow.stores._sorted.SortedList`, for ranges and order;
* ``keys``: the keys in order, for prefix patterns.

:func:`select` answers a :class:`~pepperflow.stores._lookup.Lookup`: it
takes the smallest of the candidate sets the lookup names (a term's keys,
a time range, a pattern's prefix range), checks the rest on each candidate,
and orders the matches; when the candidates come from the order's own list
it stops after ``offset + limit`` matches.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Any, NoReturn

import anyio.lowlevel

from .._patterns import compile_pattern
from ..streams.events import SetChange
from ._lookup import IndexTerms, Lookup, check_terms, micros_at
from ._records import Entry
from ._sorted import SortedList

__all__ = ["Found", "IndexedState", "TermIndex", "page", "safe_terms", "select", "successor"]

logger = logging.getLogger("pepperflow")

_MAX_CHAR = chr(0x10FFFF)


def safe_terms(store: str, terms_of: IndexTerms, change: SetChange[Any, Any]) -> frozenset[str]:
    """The terms of the entry ``change`` sets; never raises.

    A write was checked at the edge, so the index function fails here only
    for an entry another process wrote (with another function) or for a
    function that is not deterministic: that is logged, and the entry has
    no terms (it is found by times and patterns only).
    """
    try:
        return check_terms(store, change.key, terms_of(change.value, change.metadata))
    except Exception:
        logger.exception(
            "store %r: the index function failed on key %r (seq %d); the entry is"
            " indexed without terms",
            store,
            change.key,
            change.seq,
        )
        return frozenset()


class TermIndex:
    """The terms and times of a view's live entries; see the module docstring."""

    __slots__ = ("created", "expires", "keys", "postings", "store", "terms", "terms_of")

    def __init__(self, store: str, terms_of: IndexTerms) -> None:
        self.store = store
        self.terms_of = terms_of
        self.postings: dict[str, set[str]] = {}
        self.terms: dict[str, frozenset[str]] = {}
        self.created: SortedList[tuple[int, str]] = SortedList()
        self.expires: SortedList[tuple[int, str]] = SortedList()
        self.keys: SortedList[str] = SortedList()

    def replace(self, old: SetChange[Any, Any] | None, new: SetChange[Any, Any]) -> None:
        """The key of ``new`` now holds it instead of ``old`` (``None``: a new key)."""
        key = new.key
        terms = safe_terms(self.store, self.terms_of, new)
        if old is None:
            self.keys.add(key)
            self.created.add((micros_at(new.created_at), key))
            self._add_terms(key, terms)
        else:
            if old.created_at != new.created_at:
                self.created.remove((micros_at(old.created_at), key))
                self.created.add((micros_at(new.created_at), key))
            if old.expires_at is not None:
                self.expires.remove((micros_at(old.expires_at), key))
            kept = self.terms[key]
            if kept != terms:
                self._drop_terms(key, kept)
                self._add_terms(key, terms)
        if new.expires_at is not None:
            self.expires.add((micros_at(new.expires_at), key))

    def remove(self, old: SetChange[Any, Any]) -> None:
        """The key of ``old`` is gone (deleted or expired)."""
        key = old.key
        self.keys.remove(key)
        self.created.remove((micros_at(old.created_at), key))
        if old.expires_at is not None:
            self.expires.remove((micros_at(old.expires_at), key))
        self._drop_terms(key, self.terms.pop(key))

    def _add_terms(self, key: str, terms: frozenset[str]) -> None:
        self.terms[key] = terms
        postings = self.postings
        for term in terms:
            keys = postings.get(term)
            if keys is None:
                postings[term] = {key}
            else:
                keys.add(key)

    def _drop_terms(self, key: str, terms: frozenset[str]) -> None:
        postings = self.postings
        for term in terms:
            keys = postings[term]
            keys.discard(key)
            if not keys:
                del postings[term]


class IndexedState(dict[str, SetChange[Any, Any]]):
    """A view's state that keeps its :class:`TermIndex` in step with every write."""

    __slots__ = ("index",)

    def __init__(self, index: TermIndex, entries: Iterable[SetChange[Any, Any]] = ()) -> None:
        super().__init__()
        self.index = index
        for change in entries:
            self[change.key] = change

    def __setitem__(self, key: str, change: SetChange[Any, Any]) -> None:
        self.index.replace(dict.get(self, key), change)
        dict.__setitem__(self, key, change)

    def __delitem__(self, key: str) -> None:
        old = dict.__getitem__(self, key)
        dict.__delitem__(self, key)
        self.index.remove(old)

    def pop(self, key: str, *default: Any) -> Any:
        if key not in self:
            return dict.pop(self, key, *default)
        old = dict.pop(self, key)
        self.index.remove(old)
        return old

    def _unindexed(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("an indexed state changes only by [key] =, del and pop")

    clear = popitem = setdefault = update = __ior__ = _unindexed


def successor(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (None: none)."""
    stripped = prefix.rstrip(_MAX_CHAR)
    if not stripped:
        return None
    return stripped[:-1] + chr(ord(stripped[-1]) + 1)


def _time_range(lo: int | None, hi: int | None) -> tuple[Any, Any]:
    """A sorted ``(microseconds, key)`` list's bounds for ``lo <= t <= hi``."""
    return (None if lo is None else (lo,)), (None if hi is None else (hi + 1,))


#: A candidate set: its size, the order it comes in ("" for none), its keys.
_Source = tuple[int, str, Callable[[], Iterator[str]]]


def _sources(state: IndexedState, lookup: Lookup) -> list[_Source]:
    """The candidate sets the lookup names: each term's keys, time ranges, a prefix."""
    index = state.index
    found: list[_Source] = []
    for term in lookup.terms:
        keys = index.postings.get(term, set())
        found.append((len(keys), "", _copied(keys)))
    created_lo, created_hi, expires_lo, expires_hi = lookup.bounds()
    for field, listed, lo, hi in (
        ("created_at", index.created, created_lo, created_hi),
        ("expires_at", index.expires, expires_lo, expires_hi),
    ):
        if lo is not None or hi is not None:
            low, high = _time_range(lo, hi)
            found.append((listed.count(low, high), field, _pairs(listed, low, high, lookup, field)))
    prefix = compile_pattern(lookup.pattern).prefix
    if prefix:
        high_key = successor(prefix)
        reverse = lookup.descending and lookup.order_by == "key"
        found.append(
            (
                index.keys.count(prefix, high_key),
                "key",
                lambda: index.keys.irange(prefix, high_key, reverse=reverse),
            )
        )
    return found


def _copied(keys: set[str]) -> Callable[[], Iterator[str]]:
    return lambda: iter(tuple(keys))


def _pairs(
    listed: SortedList[tuple[int, str]], low: Any, high: Any, lookup: Lookup, field: str
) -> Callable[[], Iterator[str]]:
    reverse = lookup.descending and lookup.order_by == field
    return lambda: (key for _, key in listed.irange(low, high, reverse=reverse))


def _every(state: IndexedState, lookup: Lookup) -> _Source:
    """All the keys, from the order's own list when it holds every entry."""
    index, reverse = state.index, lookup.descending
    if lookup.order_by == "created_at":
        pairs = index.created
        return (
            len(state),
            "created_at",
            lambda: (key for _, key in pairs.irange(None, None, reverse=reverse)),
        )
    if lookup.order_by == "key":
        return len(state), "key", lambda: index.keys.irange(None, None, reverse=reverse)
    return len(state), "", lambda: iter(tuple(state))


def select(state: IndexedState, lookup: Lookup, now: float) -> list[SetChange[Any, Any]]:
    """The live entries of ``state`` matching ``lookup``, ordered and paged.

    Raises:
        TypeError: ``lookup`` is not a :class:`~pepperflow.stores._lookup.Lookup`.
    """
    if not isinstance(lookup, Lookup):
        raise TypeError(
            f"find() takes a pepperflow.stores.Lookup, got {type(lookup).__name__}: {lookup!r}"
        )
    order = lookup.order_by
    sources = _sources(state, lookup) or [_every(state, lookup)]
    _, served, keys = min(sources, key=lambda source: (source[0], source[1] != order))
    terms_of = state.index.terms
    accepts = lookup.matcher()
    matches = (
        change
        for change in map(state.__getitem__, keys())
        if (change.expires_at is None or change.expires_at > now)
        and accepts(change, terms_of[change.key])
    )
    if served == order:  # already in order: stop at the page's end
        end = None if lookup.limit is None else lookup.offset + lookup.limit
        return list(islice(matches, lookup.offset, end))
    return page(matches, lookup)


def page(matches: Iterable[SetChange[Any, Any]], lookup: Lookup) -> list[SetChange[Any, Any]]:
    """``matches`` in ``lookup``'s order (ties by key), then its page."""
    end = None if lookup.limit is None else lookup.offset + lookup.limit
    ordered = sorted(matches, key=_ORDER_KEYS[lookup.order_by], reverse=lookup.descending)
    return ordered[lookup.offset : end]


def _by_expiry(change: SetChange[Any, Any]) -> tuple[int, int, str]:
    if change.expires_at is None:
        return (1, 0, change.key)
    return (0, micros_at(change.expires_at), change.key)


_ORDER_KEYS = {
    "created_at": lambda change: (micros_at(change.created_at), change.key),
    "updated_at": lambda change: (micros_at(change.committed_at), change.key),
    "expires_at": _by_expiry,
    "key": lambda change: change.key,
}


class Found:
    """What ``find`` found, as entries: each skipped if it expired since; a
    checkpoint every ``_BATCH`` entries."""

    __slots__ = ("_changes", "_clock", "_pos")

    def __init__(self, changes: list[SetChange[Any, Any]], clock: Callable[[], float]) -> None:
        self._changes = changes
        self._clock = clock
        self._pos = 0

    def __aiter__(self) -> Found:
        return self

    async def __anext__(self) -> Entry[Any]:
        changes = self._changes
        while self._pos < len(changes):
            pos = self._pos
            self._pos = pos + 1
            if pos and pos % _BATCH == 0:
                await anyio.lowlevel.checkpoint()
            change = changes[pos]
            if change.expires_at is None or change.expires_at > self._clock():
                return Entry.from_change(change)
        raise StopAsyncIteration


_BATCH = 100
