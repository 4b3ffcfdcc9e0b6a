"""Mirror: a live one-way copy of a store's keys into another store.

::

    async with RedisStore(url, namespace="app") as shared, SqliteStore("offline.db") as local:
        async with Mirror(shared, local, "user:"):
            ...  # local holds shared's "user:" keys, within max_delay of each change

A mirror keeps the target's keys matching the pattern equal to the
source's: every set (value, metadata, deadline), delete and expiry of a
matching key is applied to the target, in batches (see
:mod:`pepperflow.sinks._replication` for batching, backpressure, retries
and failure). Keys outside the pattern are left alone in the target.

**Resuming.** Each batch commits with a mark in the target (the source seq
it holds up to; :mod:`pepperflow.stores._apply`). A mirror started again
with the same name reads that mark and applies only the source's changes
after it, with no gap and no change applied twice, when the source keeps a
changelog that still holds them (SqliteStore within ``retain`` changes,
RedisStore within ``changelog_length``). Otherwise (a MemoryStore source,
a changelog compacted or trimmed past the mark, a first start) it resyncs:
it compares a snapshot of the source with the target and writes only the
keys that differ, and removes the target's matching keys the source lacks.

The mark's name is ``name`` (by default ``"mirror:<source name>:<pattern>"``):
two mirrors into one target need different names when they copy different
patterns or sources.
"""

from __future__ import annotations

from ._replication import Replication

__all__ = ["Mirror"]


class Mirror(Replication):
    """A live one-way copy of ``source``'s keys matching ``pattern`` into ``target``.

    Use it with ``async with`` (or ``__aenter__``/``aclose``); see the module
    docstring, and :class:`~pepperflow.sinks._replication.Replication` for
    the options: ``name`` (the target's mark), ``max_batch`` (keys per
    batch, default 1,000), ``max_delay`` (seconds a change waits for its
    batch, default 0.1), ``buffer`` and ``overflow`` (the source feed's),
    ``retry_min`` and ``retry_max`` (the backoff while a store is down).
    """

    kind = "mirror"
