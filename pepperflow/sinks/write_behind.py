"""Write-behind: a fast store in front of a durable one, written to it in batches.

::

    async with MemoryStore("cache") as cache, SqliteStore("app.db", namespace="cache") as db:
        async with WriteBehind(cache, db):
            await cache.set("session:1", {"user": "ada"}, ttl=3600)
            ...  # reads and writes at memory speed
        # here every change of cache is in app.db

The application reads and writes the source (a MemoryStore, typically);
every change reaches the target (a SqliteStore or a RedisStore) within
``max_delay`` seconds, in batches of up to ``max_batch`` keys, each one
atomic commit (several changes of a key within one batch are written
once). The machinery is the mirror's (:mod:`pepperflow.sinks._replication`).

**The guarantee.**

- *Closing*: after ``aclose()`` (the end of the ``async with``) returns,
  every change of a write that returned before it was called is in the
  target: values, metadata, deadlines (as ``expires_at``, the same
  instant), deletes and expiries.
- *Crash*: the target always holds the source's state at one seq, its
  mark (a batch and its mark commit together). What a crash of the process
  loses is what was not applied yet: the changes of the last ``max_delay``
  seconds (plus those a down target held back), at most ``buffer`` changes
  in the feed plus ``max_batch`` keys pending.
- *Restart*: an empty source is first filled with the target's keys, so
  the application starts from the state the target holds (the state as of
  the mark); the target then mirrors the source (keys the source lacks are
  removed from it). A :class:`~pepperflow.sinks.Mirror` is the same sink
  without that load.
- *Target down*: a batch is retried with backoff until the target answers
  (a reply lost in the outage is recognized by the mark: never applied
  twice); meanwhile changes wait in the feed, under its ``overflow``
  policy.
"""

from __future__ import annotations

from ._catch_up import set_of
from ._replication import Replication

__all__ = ["WriteBehind"]


class WriteBehind(Replication):
    """Writes every change of ``source``'s keys matching ``pattern`` into ``target``.

    See the module docstring: before anything else, an empty source is
    filled from the target. The options are the mirror's
    (:class:`~pepperflow.sinks.Mirror`, the same sink without that load):
    ``name``, ``max_batch``, ``max_delay``, ``buffer``, ``overflow``,
    ``retry_min``, ``retry_max``.
    """

    kind = "write-behind"

    async def _prepare(self) -> None:
        """Load the target's matching keys into the source when it holds none."""
        async for _ in self._source.scan(self._pattern):
            return  # the source holds keys already: it is the state to keep
        snapshot = await self._applier.retrying(self._target.snapshot)
        name, seq = self._source.name, snapshot.seq
        entries = [set_of(name, e, seq) for e in snapshot.entries if self._match(e.key)]
        if entries:
            await self._source.apply_changes(entries)
