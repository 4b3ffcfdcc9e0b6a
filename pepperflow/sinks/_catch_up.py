"""Where a sink starts: the source's changes after the target's mark, or a resync.

A sink (:mod:`._replication`) opens its feed of the source first, then
brings the target up to date by one of two ways:

- **resume**: the target's mark says which source seq it holds up to; a
  source with a changelog (SqliteStore, RedisStore) gives the changes after
  it (:func:`history_after`), and the sink applies those. The history must
  be whole: seqs are dense on every backend (one per change), so changes
  ``mark + 1 .. last`` with no hole are all of them. A changelog compacted
  (SqliteStore's ``retain``) or trimmed (RedisStore's ``changelog_length``)
  past the mark has a hole, and the sink resyncs instead.
- **resync**: a snapshot of the source (its state at one seq) against the
  target's entries: the sets of the keys that differ and the removals of
  the keys the source lacks (:func:`resync_changes`). Keys already equal
  are not written again.

Either way the sink then follows the feed, skipping the changes at or
below the seq it caught up to, so nothing is applied twice and nothing is
missed (the feed was open before the history or the snapshot was read).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from ..stores.base import Entry, Store
from ..stores.redis import RedisStore
from ..stores.sqlite import SqliteStore
from ..streams.events import Change, DeleteChange, SetChange
from ._applier import Applier, TargetLost
from .log import SINKS_LOGGER

__all__ = ["CatchUp", "history_after", "log_lost", "resync_changes", "set_of"]

logger = logging.getLogger(SINKS_LOGGER)


class CatchUp:
    """How a sink brings its target (``applier``'s) up to ``source``'s keys
    that ``match`` accepts, in batches of ``max_batch``; see the module docstring.
    ``resyncs`` counts the resyncs."""

    def __init__(
        self,
        source: Store[Any],
        applier: Applier,
        match: Callable[[str], bool],
        max_batch: int,
    ) -> None:
        self._source = source
        self._applier = applier
        self._match = match
        self._max_batch = max_batch
        self.resyncs = 0

    async def run(self) -> int:
        """Resume after the target's mark, or resync; the source seq the target
        now holds the source's state at (the feed skips changes up to it)."""
        applier = self._applier
        mark = await applier.read_mark()
        history = None
        if mark is not None:
            seq = mark.seq
            history = await applier.retrying(lambda: history_after(self._source, seq))
        if mark is None or history is None:
            return await self.resync()
        try:
            return await self._replay(history, mark.seq)
        except TargetLost as lost:
            log_lost(applier, lost)
            return await self.resync()

    async def _replay(self, history: list[Change], seq: int) -> int:
        """Apply the source's ``history`` after ``seq`` (the target's mark), in order."""
        applier = self._applier
        applier.applied_seq = seq
        last = history[-1].seq if history else seq
        batches = self._batches([change for change in history if self._match(change.key)])
        for batch in batches[:-1]:
            await applier.apply(_latest(batch), batch[-1].seq)
        if last > seq:
            await applier.apply(_latest(batches[-1]), last)
        return last

    async def resync(self) -> int:
        """Make the target's matching keys the source's, from a snapshot; its seq."""
        applier = self._applier
        changes, seq = await applier.retrying(
            lambda: resync_changes(self._source, applier.target, self._match)
        )
        self.resyncs += 1
        applier.applied_seq = -1
        batches = self._batches(changes)
        for batch in batches[:-1]:
            # No mark until the last batch: the target is at no one seq before it.
            await applier.apply(batch, None)
        await applier.apply(batches[-1], seq)
        return seq

    def _batches(self, changes: list[Change]) -> list[list[Change]]:
        """``changes`` cut in batches of ``max_batch`` (one empty batch for none)."""
        size = self._max_batch
        return [changes[i : i + size] for i in range(0, len(changes), size)] or [[]]


def log_lost(applier: Applier, lost: TargetLost) -> None:
    """Log that the target lost data, before a resync."""
    logger.error("sink %r: %s; resyncing", applier.name, lost, extra=applier.fields)


def _latest(changes: list[Change]) -> list[Change]:
    """The last change of each key of ``changes`` (a batch holds one per key)."""
    return list({change.key: change for change in changes}.values())


async def history_after(source: Store[Any], seq: int) -> list[Change] | None:
    """Every change of ``source`` after ``seq``, or ``None`` when it cannot give them all.

    ``None`` for a store without a changelog (MemoryStore), a changelog
    compacted or trimmed past ``seq``, or a source behind ``seq`` (a new
    file, a Redis server that lost its data).
    """
    if not isinstance(source, SqliteStore | RedisStore):
        return None
    if source.statistics().seq < seq:
        return None
    changes = await source.changes_since(seq)
    if changes and (changes[0].seq != seq + 1 or changes[-1].seq - seq != len(changes)):
        return None  # a hole: compacted or trimmed
    return changes


async def resync_changes(
    source: Store[Any], target: Store[Any], match: Callable[[str], bool]
) -> tuple[list[Change], int]:
    """The changes that make ``target``'s keys matching ``match`` equal to
    ``source``'s, and the source seq they bring the target to."""
    snapshot = await source.snapshot()
    wanted = {entry.key: entry for entry in snapshot.entries if match(entry.key)}
    present = {entry.key: entry for entry in (await target.snapshot()).entries if match(entry.key)}
    now = time.time()
    out: list[Change] = []
    for key, entry in wanted.items():
        if not _same(present.get(key), entry):
            out.append(set_of(source.name, entry, snapshot.seq))
    for key, old in present.items():
        if key not in wanted:
            out.append(DeleteChange(source.name, key, old.version, snapshot.seq, now))
    return out, snapshot.seq


def _same(old: Entry[Any] | None, new: Entry[Any]) -> bool:
    return (
        old is not None
        and old.value == new.value
        and old.metadata == new.metadata
        and old.expires_at == new.expires_at
    )


def set_of(store: str, entry: Entry[Any], seq: int) -> SetChange[Any, Any]:
    """The set that makes a key what ``entry`` holds."""
    return SetChange(
        store,
        entry.key,
        entry.version,
        seq,
        entry.updated_at,
        entry.value,
        entry.created_at,
        entry.metadata,
        entry.expires_at,
    )
