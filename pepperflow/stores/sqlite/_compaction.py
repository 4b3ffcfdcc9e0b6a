"""Changelog compaction: dropping the rows no state folds to, at the cost of what it drops.

The changelog's fold is the state, so a row can go once it is older than
the last ``retain`` changes and nothing folds to it any more: a set that a
later change of its key replaced or removed, and a delete or an expiry
(they remove a key, and a later fold that starts without the key needs
them no more). The namespace's newest row always stays, so ``seq`` never
goes back (:func:`compact`'s bound).

**Stale rows.** Which rows those are is known when they go stale: a change
folded into the state replaces (or removes) the key's latest set, whose
seq the state holds, and a delete or an expiry is stale from the start.
:class:`StaleRows` keeps those seqs as this process sees the changes: the
changelog it folds at open, its own commits, and the other processes'
changes it reads. :func:`compact` deletes the ones old enough by their
seq, so it costs what it drops, not the size of the file (scanning a
namespace of a million rows for them took a second, every ``retain``
changes). A row another process made stale that this one has not read yet
waits for the next compaction (or that process's own).

The seqs are kept in memory, 8 bytes each: those still within the last
``retain`` changes at a compaction, and the ones noted until the next (one
per set that replaces a key, two per removal): at most three times
``retain``. Without automatic compaction (``retain=0``, ``store.compact()``
only) or with a ``retain`` above :data:`TRACKED_RETAIN`, nothing is kept
and :func:`compact` scans the namespace instead.
"""

from __future__ import annotations

import sqlite3
from array import array
from collections.abc import Iterable, Mapping, MutableSequence
from typing import Any, Protocol

from ...streams.events import Change, SetChange

__all__ = ["TRACKED_RETAIN", "Changelog", "StaleRows", "compact", "note", "tracked"]

#: The largest ``retain`` whose stale rows are kept in memory (at most ~24 MB).
TRACKED_RETAIN = 1_000_000
#: Seqs per DELETE statement (and the namespace: within 999 variables).
_PER_DELETE = 998


class StaleRows:
    """The seqs of the rows of one namespace that no state folds to any more.

    Notes are taken before a change is folded (:func:`note`), or by the
    write transaction as it replaces and removes keys (:mod:`._transaction`
    does the same inline on its hot path), and added once it committed
    (:meth:`extend`). Only the connection's thread touches it.
    """

    __slots__ = ("seqs",)

    def __init__(self) -> None:
        self.seqs = array("q")

    def extend(self, seqs: Iterable[int]) -> None:
        """Note rows a committed transaction made stale."""
        self.seqs.extend(seqs)

    def due(self, bound: int) -> list[int]:
        """The noted seqs at or below ``bound``, in order (not forgotten yet)."""
        return sorted(seq for seq in self.seqs if seq <= bound)

    def forget(self, bound: int) -> None:
        """Forget the seqs at or below ``bound`` (their rows are gone)."""
        self.seqs = array("q", (seq for seq in self.seqs if seq > bound))


def note(
    stale: MutableSequence[int], state: Mapping[str, SetChange[Any, Any]], change: Change
) -> None:
    """``change`` is about to be folded into ``state``: add to ``stale`` the seqs
    of the rows it makes stale (the key's set it replaces or removes; itself,
    when it is a delete or an expiry)."""
    old = state.get(change.key)
    if old is not None:
        stale.append(old.seq)
    if not isinstance(change, SetChange):
        stale.append(change.seq)


class Changelog(Protocol):
    """What :func:`compact` needs of a store's connection to its file (a
    :class:`~pepperflow.stores.sqlite._connection.Connection`, which holds
    the :class:`StaleRows` of this module)."""

    #: ``seq`` at the last compaction (:func:`compact` sets it).
    compacted_at: int

    @property
    def seq(self) -> int: ...
    @property
    def retain(self) -> int: ...
    @property
    def ns(self) -> str: ...
    @property
    def stale(self) -> StaleRows | None: ...
    @property
    def conn(self) -> sqlite3.Connection: ...
    def execute(self, sql: str, parameters: Any = (), /) -> sqlite3.Cursor: ...
    def max_seq(self) -> int: ...


def tracked(retain: int) -> StaleRows | None:
    """The stale rows to keep for a store of this ``retain``; ``None``: scan instead."""
    return StaleRows() if 0 < retain <= TRACKED_RETAIN else None


def compact(connection: Changelog) -> int:
    """Drop the rows older than the last ``retain`` that are not the latest of
    their key (deletes and expiries among them: nothing folds to them); the
    namespace's newest row always stays, so ``seq`` never goes back. Returns
    how many rows were dropped.
    """
    bound = min(connection.seq - connection.retain, connection.max_seq() - 1)
    stale = connection.stale
    if stale is None:
        dropped = _scan(connection, bound)
    else:
        dropped = _delete(connection, stale.due(bound))
        stale.forget(bound)
    connection.compacted_at = connection.seq
    return dropped


def _delete(connection: Changelog, seqs: list[int]) -> int:
    """Delete the rows of ``seqs`` in one transaction; how many there were."""
    if not seqs:
        return 0
    execute = connection.execute
    dropped = 0
    execute("BEGIN IMMEDIATE")
    try:
        for start in range(0, len(seqs), _PER_DELETE):
            chunk = seqs[start : start + _PER_DELETE]
            marks = ", ".join("?" * len(chunk))
            cursor = execute(
                f"DELETE FROM pepperflow_changes WHERE ns = ? AND seq IN ({marks})",
                (connection.ns, *chunk),
            )
            dropped += cursor.rowcount
        execute("COMMIT")
    except BaseException:
        if connection.conn.in_transaction:
            execute("ROLLBACK")
        raise
    return dropped


def _scan(connection: Changelog, bound: int) -> int:
    """Find the rows to drop by scanning the namespace (stale rows not tracked)."""
    cursor = connection.execute(
        "DELETE FROM pepperflow_changes WHERE ns = ?1 AND seq <= ?2 AND (is_set = 0 OR seq"
        " NOT IN (SELECT MAX(seq) FROM pepperflow_changes WHERE ns = ?1 GROUP BY key))",
        (connection.ns, bound),
    )
    return int(cursor.rowcount)
