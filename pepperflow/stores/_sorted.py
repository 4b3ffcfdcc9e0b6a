"""A sorted list with cheap inserts and removals: the range structure of a store's index.

A plain list kept sorted with :func:`bisect.insort` moves every item after
the insertion point, so a write to an index of 100,000 entries would move
100,000 references. :class:`SortedList` keeps its items in chunks of at
most ``2 * _LOAD`` items, with each chunk's largest item in ``_maxes``: an
insert or a removal bisects ``_maxes`` for the chunk, then moves at most a
chunk (the layout of the ``sortedcontainers`` package, reduced to what an
index needs: add, remove, count and iterate a range).

Items must be unique and totally ordered (the index keeps ``(time, key)``
pairs and keys). A range is ``lo <= item < hi``, either bound ``None`` for
no bound.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Iterator
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["SortedList"]

_LOAD = 512


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


K = TypeVar("K", bound=_Ordered)


class SortedList(Generic[K]):
    """Unique items in ascending order; see the module docstring."""

    __slots__ = ("_chunks", "_len", "_maxes")

    def __init__(self) -> None:
        self._chunks: list[list[K]] = []
        self._maxes: list[K] = []
        self._len = 0

    def __len__(self) -> int:
        return self._len

    def add(self, item: K) -> None:
        """Insert ``item`` (not already present)."""
        chunks, maxes = self._chunks, self._maxes
        self._len += 1
        if not maxes:
            chunks.append([item])
            maxes.append(item)
            return
        at = bisect_left(maxes, item)
        if at == len(maxes):
            at -= 1
            chunk = chunks[at]
            chunk.append(item)
            maxes[at] = item
        else:
            chunk = chunks[at]
            insort(chunk, item)
        if len(chunk) > 2 * _LOAD:
            chunks[at : at + 1] = [chunk[:_LOAD], chunk[_LOAD:]]
            maxes[at : at + 1] = [chunk[_LOAD - 1], chunk[-1]]

    def remove(self, item: K) -> None:
        """Remove ``item``.

        Raises:
            ValueError: ``item`` is not in the list.
        """
        chunks, maxes = self._chunks, self._maxes
        at = bisect_left(maxes, item)
        if at < len(maxes):
            chunk = chunks[at]
            pos = bisect_left(chunk, item)
            if pos < len(chunk) and not (item < chunk[pos]):
                del chunk[pos]
                self._len -= 1
                if not chunk:
                    del chunks[at], maxes[at]
                elif pos == len(chunk):
                    maxes[at] = chunk[-1]
                return
        raise ValueError(f"{item!r} is not in the list")

    def _position(self, bound: K | None, end: bool) -> tuple[int, int]:
        """Where ``bound`` would go, as (chunk, offset); ``None`` is the start, or the end."""
        if bound is None:
            return (len(self._chunks), 0) if end else (0, 0)
        at = bisect_left(self._maxes, bound)
        if at == len(self._maxes):
            return at, 0
        return at, bisect_left(self._chunks[at], bound)

    def count(self, lo: K | None, hi: K | None) -> int:
        """How many items are in ``lo <= item < hi``."""
        (c0, i0), (c1, i1) = self._position(lo, False), self._position(hi, True)
        if (c0, i0) >= (c1, i1):
            return 0
        chunks = self._chunks
        return sum(len(chunks[c]) for c in range(c0, c1)) - i0 + i1

    def irange(self, lo: K | None, hi: K | None, *, reverse: bool = False) -> Iterator[K]:
        """The items in ``lo <= item < hi``, ascending (descending with ``reverse``).

        The list must not change while the iterator is used.
        """
        (c0, i0), (c1, i1) = self._position(lo, False), self._position(hi, True)
        if (c0, i0) >= (c1, i1):
            return iter(())
        chunks = self._chunks
        if reverse:
            return _backward(chunks, c0, i0, c1, i1)
        return _forward(chunks, c0, i0, c1, i1)


def _forward(chunks: list[list[K]], c0: int, i0: int, c1: int, i1: int) -> Iterator[K]:
    for c in range(c0, min(c1 + 1, len(chunks))):
        chunk = chunks[c]
        yield from chunk[i0 if c == c0 else 0 : i1 if c == c1 else len(chunk)]


def _backward(chunks: list[list[K]], c0: int, i0: int, c1: int, i1: int) -> Iterator[K]:
    for c in range(min(c1, len(chunks) - 1), c0 - 1, -1):
        chunk = chunks[c]
        part = chunk[i0 if c == c0 else 0 : i1 if c == c1 else len(chunk)]
        yield from reversed(part)
