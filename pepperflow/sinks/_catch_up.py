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

import os
import time
from collections.abc import Callable
from typing import Any

from ..stores.base import Entry, Store
from ..stores.redis import RedisStore
from ..stores.sqlite import SqliteStore
from ..streams.events import Change, DeleteChange, SetChange

__all__ = ["history_after", "resync_changes", "set_of", "source_id"]


def source_id(source: Store[Any]) -> str:
    """What a mark records of its source, so a sink resumes only from its own source."""
    if isinstance(source, SqliteStore):
        return f"sqlite:{os.path.abspath(source.path)}#{source.name}"
    return f"{source.backend}:{source.name}"


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
