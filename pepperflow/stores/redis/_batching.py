"""The sets of one RedisStore's concurrent writers share a script call.

A set made while no other set of the store is awaiting its reply runs as
it always did: the one-key ``set`` script, at once. Sets made while one is
in flight wait; when it returns, up to :data:`MAX_BATCH` of them go in one
``sets`` script (``lua/sets.lua``), sent by the first of them, then the
next waiting ones, and so on. Each set stays its own: its own version, its
own compare-and-set, its own ttl, atomic with its changelog entry, and the
sets commit in the order they were made. A batch costs one round trip and
one script: under load from many tasks Redis spends a few microseconds per
set instead of 15-30, and the client one reply per batch.

What a caller sees does not change: the set returns its version (or raises
VersionConflict) once the change is committed and delivered to this
process's subscribers. A batch the script refuses (``ValueError``: nothing
was written) is sent again a set at a time, so only the bad set fails; an
error that keeps Redis from answering fails every set of the batch. A
waiting set that is cancelled before its batch is sent is dropped; once
sent, the batch is awaited to its end (shielded: the other sets' outcomes
depend on it), as a write's reply is.
"""

from __future__ import annotations

import anyio

from ...streams.events import Change
from ._decoding import Skipped
from ._follower import Follower
from ._protocol import SetArgs
from ._writes import Writes

__all__ = ["MAX_BATCH", "SetBatcher"]

#: The most sets in one ``sets`` script (its bulk commands stay within Lua's limits).
MAX_BATCH = 256

Outcome = int | BaseException


class _Alone(Exception):
    """A batch of one: sent as a set alone."""


class _Waiting:
    """A set waiting for its batch: its arguments, then its outcome."""

    __slots__ = ("args", "batch", "changes", "done", "last", "outcome")

    def __init__(self, args: SetArgs) -> None:
        self.args = args
        self.done = anyio.Event()
        self.batch: list[_Waiting] | None = None  # set on the one that sends its batch
        self.outcome: Outcome | None = None
        self.changes: list[Change | Skipped] = []
        self.last = 0


class SetBatcher:
    """Runs the sets of one store (:meth:`Writes.set` alone, or batched)."""

    __slots__ = ("_busy", "_follower", "_queue", "_writes")

    def __init__(self, writes: Writes, follower: Follower) -> None:
        self._writes = writes
        self._follower = follower
        self._busy = False  # a set or a batch is awaiting its reply
        self._queue: list[_Waiting] = []

    async def set(self, args: SetArgs) -> int:
        """Set as ``args`` says; the key's new version (VersionConflict on
        a compare-and-set that did not match)."""
        if not self._busy:
            self._busy = True
            try:
                return await self._writes.set(args)
            finally:
                self._hand_over()
        waiting = _Waiting(args)
        self._queue.append(waiting)
        try:
            await waiting.done.wait()
        except BaseException:
            await self._cancelled(waiting)
            raise
        if waiting.batch is not None:
            await self._send(waiting.batch)
        return await self._outcome(waiting)

    async def _cancelled(self, waiting: _Waiting) -> None:
        """``waiting``'s task was cancelled: drop it if its batch was not
        made yet; send the batch if it was to send it."""
        if waiting in self._queue:
            self._queue.remove(waiting)
        elif waiting.batch is not None and waiting.outcome is None:
            with anyio.CancelScope(shield=True):
                await self._send(waiting.batch)

    def _hand_over(self) -> None:
        """The call in flight returned: the next batch's first set sends it."""
        queue = self._queue
        if not queue:
            self._busy = False
            return
        batch = queue[:MAX_BATCH]
        del queue[:MAX_BATCH]
        first = batch[0]
        first.batch = batch
        first.done.set()

    async def _send(self, batch: list[_Waiting]) -> None:
        """Send ``batch`` (shielded), give each set its outcome, then hand over."""
        outcomes: list[Outcome] = []
        changes: list[Change | Skipped] = []
        last = 0
        try:
            with anyio.CancelScope(shield=True):
                try:
                    if len(batch) == 1:  # the one-key script costs Redis less
                        raise _Alone
                    found, noted, last = await self._writes.sets([item.args for item in batch])
                    outcomes, changes = list(found), noted
                except (_Alone, ValueError):  # ValueError: refused, nothing written
                    outcomes = [await self._alone(item.args) for item in batch]
                except Exception as exc:  # every set of the batch fails as its call did
                    outcomes = [exc] * len(batch)
        finally:
            for item, outcome in zip(batch, outcomes, strict=False):
                item.outcome, item.changes, item.last = outcome, changes, last
                item.done.set()
            for item in batch[len(outcomes) :]:  # interrupted (not an Exception): unknown
                item.outcome = RuntimeError("the batch of this set was interrupted")
                item.done.set()
            self._hand_over()

    async def _alone(self, args: SetArgs) -> Outcome:
        """One set of a refused batch, run by itself: its version or its error."""
        try:
            return await self._writes.set(args)
        except Exception as exc:
            return exc

    async def _outcome(self, waiting: _Waiting) -> int:
        """Deliver ``waiting``'s batch here, then its version or its error."""
        if waiting.last:
            await self._follower.caught_up(waiting.changes, waiting.last)
        outcome = waiting.outcome
        if isinstance(outcome, int):
            return outcome
        assert outcome is not None, "a set woken without its outcome"
        raise outcome
