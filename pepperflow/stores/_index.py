"""Subscriptions indexed by the literal head of their pattern.

Each subscription sits on the node of a character trie reached by its
pattern's literal prefix (the whole pattern for a prefix pattern, the text
before the first metacharacter for a glob). Matching a key walks the trie
along the key and stops at the first character no pattern continues with,
so subscriptions on other prefixes cost nothing; only globs reached on the
walk run their regex.
"""

from __future__ import annotations

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


class _Node(Generic[T]):
    __slots__ = ("children", "entries")

    def __init__(self) -> None:
        self.children: dict[str, _Node[T]] = {}
        self.entries: list[T] = []


class SubscriptionIndex(Generic[T]):
    """Entries found by key in registration order; ``len()`` counts them."""

    __slots__ = ("_count", "_root")

    def __init__(self) -> None:
        self._root: _Node[T] = _Node()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, entry: T) -> None:
        node = self._root
        for ch in entry.pattern.prefix:
            child = node.children.get(ch)
            if child is None:
                child = node.children[ch] = _Node()
            node = child
        node.entries.append(entry)
        self._count += 1

    def remove(self, entry: T) -> None:
        """Remove ``entry``; pruning emptied branches. Unknown entries are ignored."""
        path: list[tuple[_Node[T], str]] = []
        node = self._root
        for ch in entry.pattern.prefix:
            child = node.children.get(ch)
            if child is None:
                return
            path.append((node, ch))
            node = child
        try:
            node.entries.remove(entry)
        except ValueError:
            return
        self._count -= 1
        while path and not node.entries and not node.children:
            parent, ch = path.pop()
            del parent.children[ch]
            node = parent

    def match(self, key: str) -> list[T]:
        """The entries whose pattern matches ``key``, in registration order."""
        node = self._root
        found: list[T] = []
        if node.entries:
            _collect(node.entries, key, found)
        children = node.children
        for ch in key:
            child = children.get(ch)
            if child is None:
                break
            if child.entries:
                _collect(child.entries, key, found)
            children = child.children
        if len(found) > 1:
            found.sort(key=_order)
        return found


def _collect(entries: list[T], key: str, found: list[T]) -> None:
    for entry in entries:
        pattern = entry.pattern
        if pattern.regex is None or pattern.match(key):
            found.append(entry)


def _order(entry: Indexed) -> int:
    return entry.order
