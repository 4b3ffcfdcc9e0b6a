"""Subscriptions indexed by the literal head of their pattern.

Each subscription is filed under its pattern's literal prefix (the whole
pattern for a prefix pattern, the text before the first metacharacter for a
glob), and the index keeps, per first character, the distinct lengths of
those prefixes. Matching a key looks up the key's head of each length filed
under its first character (``key[:n]``), one dict lookup per such length:
its cost depends on how many different prefix lengths start like the key,
never on how many keys the store holds or how many subscriptions sit on
other prefixes, and it needs no per-key cache
(the 4,096-key cache it replaces was cleared when full, so past that many
keys every write walked a trie and allocated). Only the globs filed under a
matching head run their regex. A subscription to one whole key
(:func:`~pepperflow._patterns.exact_pattern`) is filed apart, by its key:
one more lookup, whatever the number of such subscriptions, and keys that
merely start with it never reach it.

The lists the index files are never changed in place (an add or remove
files a new list: O(subscriptions on that head), as one write delivering to
them is), so :meth:`SubscriptionIndex.match` hands out the filed
list itself when one head matches, and a change queued with it keeps the
subscribers of its commit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

from .._patterns import Pattern

__all__ = ["Indexed", "SubscriptionIndex"]


class Indexed(Protocol):
    """What the index needs of an entry: its pattern and a stable order."""

    @property
    def pattern(self) -> Pattern: ...

    @property
    def order(self) -> int: ...


T = TypeVar("T", bound=Indexed)

#: What matches nothing: shared, never changed.
_NOTHING: list[object] = []


class SubscriptionIndex(Generic[T]):
    """Entries found by key in registration order; ``len()`` counts them."""

    __slots__ = (
        "_anyhead",
        "_by_first",
        "_count",
        "_exact",
        "_filed",
        "_firsts",
        "_globbed",
        "_heads",
        "_lengths",
        "_shape",
        "firsts",
        "match",
    )

    def __init__(self) -> None:
        # Literal head -> its entries in registration order (a new list on every change).
        self._filed: dict[str, list[T]] = {}
        # Whole key -> its exact entries in registration order (a new list on every change).
        self._exact: dict[str, list[T]] = {}
        # The heads whose entries include a glob (those need their regex run).
        self._globbed: set[str] = set()
        # Length -> how many heads of that length are filed; the lengths, ascending.
        self._heads: dict[int, int] = {}
        self._lengths: tuple[int, ...] = ()
        # First character -> length -> how many heads (not the empty one) of it;
        # first character -> the lengths to look up, ascending (0 first when
        # "" is a head); those of a key whose first character has none.
        self._shape: dict[str, dict[int, int]] = {}
        self._by_first: dict[str, tuple[int, ...]] = {}
        self._anyhead: tuple[int, ...] = ()
        # First character -> how many heads and exact keys start with it.
        self._firsts: dict[str, int] = {}
        #: The first characters of the keys an entry may match (``key[:1] in
        #: firsts``: one lookup in a small set rules out most keys no entry
        #: matches); ``None``: no such check (an entry's head is empty, or
        #: ``match`` is one slice and one lookup, as cheap as the check).
        self.firsts: frozenset[str] | None = frozenset()
        self._count = 0
        #: ``match(key)``: the entries whose pattern matches ``key``, in
        #: registration order (a list that may be shared: read it, never
        #: change it). Made for the index's shape on every add and remove.
        self.match: Callable[[str], list[T]] = self._match_heads

    def __len__(self) -> int:
        return self._count

    def add(self, entry: T) -> None:
        head = entry.pattern.prefix
        if entry.pattern.exact:
            self._file_exact(head, [*self._exact.get(head, ()), entry])
        else:
            self._file(head, [*self._filed.get(head, ()), entry])
        self._count += 1

    def remove(self, entry: T) -> None:
        """Remove ``entry``. Unknown entries are ignored."""
        head = entry.pattern.prefix
        filed = self._exact if entry.pattern.exact else self._filed
        entries = list(filed.get(head, ()))
        try:
            entries.remove(entry)
        except ValueError:
            return
        if entry.pattern.exact:
            self._file_exact(head, entries)
        else:
            self._file(head, entries)
        self._count -= 1

    def _file(self, head: str, entries: list[T]) -> None:
        """File ``entries`` (a new list) under ``head``; none: forget the head."""
        if not entries:
            del self._filed[head]
            self._reshape_heads(head, -1)
        elif self._filed.setdefault(head, entries) is not entries:
            self._filed[head] = entries
        else:  # a new head
            self._reshape_heads(head, 1)
        if any(entry.pattern.regex is not None for entry in entries):
            self._globbed.add(head)
        else:
            self._globbed.discard(head)
        self._reshape()

    def _reshape_heads(self, head: str, step: int) -> None:
        """Count ``head`` in (``step`` 1) or out (-1) of the heads' lengths."""
        _count(self._heads, len(head), step)
        _count(self._firsts, head[:1], step)
        self._lengths = tuple(sorted(self._heads))
        first = head[:1]
        if not first:  # "" matches every key: its length 0 is looked up for all
            self._anyhead = (0,) if step > 0 else ()
            for each, lengths in self._shape.items():
                self._by_first[each] = (*self._anyhead, *sorted(lengths))
            return
        lengths = self._shape.setdefault(first, {})
        _count(lengths, len(head), step)
        if lengths:
            self._by_first[first] = (*self._anyhead, *sorted(lengths))
        else:
            del self._shape[first], self._by_first[first]

    def _file_exact(self, key: str, entries: list[T]) -> None:
        """File ``entries`` (a new list) of exactly ``key``; none: forget the key."""
        if not entries:
            del self._exact[key]
            _count(self._firsts, key[:1], -1)
        elif self._exact.setdefault(key, entries) is not entries:
            self._exact[key] = entries
        else:  # a new key
            _count(self._firsts, key[:1], 1)
        self._reshape()

    def _reshape(self) -> None:
        """Make ``match`` and ``firsts`` anew for the index's shape."""
        self.match = self._matcher()
        general = self.match in (self._match_heads, self._match_both)
        self.firsts = frozenset(self._firsts) if general and "" not in self._firsts else None

    def _matcher(self) -> Callable[[str], list[T]]:
        """The fastest ``match`` for the index now: with exact keys only, one
        lookup; with one head length and no glob (subscriptions on
        ``"user:"``, say) one slice and one lookup (a key shorter than that
        length is its own slice, and no head of that length equals it)."""
        nothing: list[T] = _nothing()
        if self._exact:
            if not self._filed:
                exact = self._exact
                return lambda key: exact.get(key, nothing)
            return self._match_both
        if self._globbed or len(self._lengths) != 1:
            return self._match_heads
        filed, (length,) = self._filed, self._lengths
        return lambda key: filed.get(key[:length], nothing)

    def _match_both(self, key: str) -> list[T]:
        """``match`` with exact keys and heads: both looked up, merged in order."""
        found = self._match_heads(key)
        exact = self._exact.get(key)
        if exact is None:
            return found
        return sorted([*found, *exact], key=_order) if found else exact

    def _match_heads(self, key: str) -> list[T]:
        """``match`` in general: a lookup per head length the key's first
        character has (and the empty head's, if filed), globs run."""
        filed = self._filed
        found: list[T] | None = None
        size = len(key)
        for length in self._by_first.get(key[:1], self._anyhead):
            if length > size:
                break
            head = key[:length]
            entries = filed.get(head)
            if entries is None:
                continue
            if head in self._globbed:
                entries = [entry for entry in entries if entry.pattern.match(key)]
            if found is None:
                found = entries
            elif entries:
                found = sorted([*found, *entries], key=_order)
        return found or _NOTHING  # type: ignore[return-value]  # empty: no T in it


K = TypeVar("K")


def _count(counts: dict[K, int], key: K, step: int) -> None:
    """Add ``step`` to ``counts[key]``; a count that reaches 0 is removed."""
    left = counts.get(key, 0) + step
    if left:
        counts[key] = left
    else:
        del counts[key]


def _order(entry: Indexed) -> int:
    return entry.order


def _nothing() -> list[T]:
    """The shared empty match (no entry of any type is in it)."""
    return _NOTHING  # type: ignore[return-value]
