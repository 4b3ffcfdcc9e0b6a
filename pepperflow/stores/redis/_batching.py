"""The sets of one RedisStore's concurrent writers share a script call.

A set made while no other set of the store is awaiting its reply runs as
it always did: the one-key ``set`` script, at once. Sets made while one is
in flight wait; when it returns, up to :data:`MAX_BATCH` of them go in one
``sets`` script (``lua/sets.lua``), sent by the first of them one pass of
the event loop later (so that the tasks of the call that just returned,
setting again, join it), then the next waiting ones, and so on; right
after a batch the next batch's turn has come, so a set made then goes
as its first. Each set stays its own: its own version, its own
compare-and-set, its own ttl, atomic with its changelog entry, and the
sets commit in the order they were made. A batch costs one round trip and
one script: with 16 to 64 writer tasks Redis spends 3-8 microseconds per
set instead of 14-44, and the client one reply per batch
(docs/performance.md, RedisStore at scale).

What a caller sees does not change: the set returns its version (or raises
VersionConflict) once the change is committed and delivered to this
process's subscribers. A batch the script refuses (``ValueError``: nothing
was written) is sent again a set at a time, so only the bad set fails; an
error that keeps Redis from answering fails every set of the batch. A
waiting set that is cancelled before its batch's turn is dropped from it;
once sent, a batch is awaited to its end (shielded: the other sets'
outcomes depend on it), as a write's reply is. The first set of a batch
sends it: cancelled while others wait in it, its task still sends them in
their turn (shielded, one reply's wait at most) before the cancellation
goes on.
"""

from __future__ import annotations

import anyio
import anyio.lowlevel

from ...streams.events import Change
from ._decoding import Skipped
from ._follower import Follower
from ._protocol import Reply, SetArgs, WriteHead
from ._writes import Writes

__all__ = ["MAX_BATCH", "SetBatcher"]

#: The most sets in one ``sets`` script (its bulk commands stay within Lua's limits).
MAX_BATCH = 256

#: a set's version, its reply (sent alone: recorded by its task), or its error
Outcome = int | Reply[WriteHead] | BaseException


class _Alone(Exception):
    """A batch of one: sent as a set alone."""


class _Batch:
    """Sets waiting for their turn (None: a set cancelled before it), then
    their outcomes. Its first set waits for :attr:`go` and sends it; the
    others wait for :attr:`done`."""

    __slots__ = ("changes", "done", "go", "items", "last", "outcomes", "sent")

    def __init__(self) -> None:
        self.items: list[SetArgs | None] = []
        self.sent = False  # closed: no set joins it or leaves it any more
        self.go = anyio.Event()
        self.done = anyio.Event()
        self.outcomes: list[Outcome | None] = []
        self.changes: list[Change | Skipped] = []
        self.last = 0  # the last seq the batch committed (0: delivered already)


class SetBatcher:
    """Runs the sets of one store (:meth:`Writes.set` alone, or batched)."""

    __slots__ = ("_busy", "_follower", "_queue", "_writes")

    def __init__(self, writes: Writes, follower: Follower) -> None:
        self._writes = writes
        self._follower = follower
        self._busy = False  # a set or a batch is awaiting its reply
        self._queue: list[_Batch] = []  # the batches waiting for their turn, in order

    async def set(self, args: SetArgs) -> int:
        """Set as ``args`` says; the key's new version (VersionConflict on
        a compare-and-set that did not match)."""
        if not self._busy:
            self._busy = True
            try:
                reply = await self._writes.send_set(args)
            finally:
                self._hand_over()  # before delivering: a callback may set too
            return await self._writes.written(reply, args.key, args.if_version)
        queue = self._queue
        if queue and len(queue[-1].items) < MAX_BATCH:
            batch = queue[-1]
        else:
            batch = _Batch()
            queue.append(batch)
        index = len(batch.items)
        batch.items.append(args)
        if index == 0:
            await self._lead(batch)
        else:
            try:
                await batch.done.wait()
            except BaseException:
                if not batch.sent:
                    batch.items[index] = None  # dropped before its batch was sent
                raise
        return await self._outcome(batch, index)

    async def _lead(self, batch: _Batch) -> None:
        """Wait for ``batch``'s turn, then send it."""
        try:
            await batch.go.wait()
        except BaseException:
            batch.items[0] = None
            if batch.go.is_set() or any(item is not None for item in batch.items):
                with anyio.CancelScope(shield=True):
                    await batch.go.wait()
                    await self._send(batch)
            else:
                self._queue.remove(batch)  # alone in it, before its turn
            raise
        # One pass of the event loop first: the sets of the batch that just
        # returned, whose tasks go on to set again, join this one.
        await anyio.lowlevel.cancel_shielded_checkpoint()
        await self._send(batch)

    def _hand_over(self, batched: bool = False) -> None:
        """The call in flight returned: the next batch's turn (it stays open
        to new sets until it is sent). After a batch (``batched``) with none
        waiting, the next batch's turn has come already: the sets of the
        batch that returned, whose tasks go on to set again, join it
        instead of the first of them going alone (and the others after)."""
        queue = self._queue
        if queue:
            queue[0].go.set()
        elif batched:
            queue.append(_Batch())
            queue[0].go.set()
        else:
            self._busy = False

    async def _send(self, batch: _Batch) -> None:
        """Send ``batch`` (shielded), give each set its outcome, then hand over."""
        batch.sent = True
        if batch in self._queue:
            self._queue.remove(batch)
        items = batch.items
        live = [(i, args) for i, args in enumerate(items) if args is not None]
        outcomes: list[Outcome | None] = [None] * len(items)
        try:
            with anyio.CancelScope(shield=True):
                await self._run(batch, live, outcomes)
        finally:
            for i, _ in live:
                if outcomes[i] is None:  # interrupted (not by an Exception): unknown
                    outcomes[i] = RuntimeError("the batch of this set was interrupted")
            batch.outcomes = outcomes
            batch.done.set()
            self._hand_over(len(live) > 1)

    async def _run(
        self, batch: _Batch, live: list[tuple[int, SetArgs]], outcomes: list[Outcome | None]
    ) -> None:
        """Run the ``live`` sets of ``batch``, their outcomes into ``outcomes``."""
        try:
            if len(live) < 2:  # the one-key script costs Redis less
                raise _Alone
            found, batch.changes, batch.last = await self._writes.sets([a for _, a in live])
            for (i, _), outcome in zip(live, found, strict=True):
                outcomes[i] = outcome
        except (_Alone, ValueError):  # ValueError: refused, nothing was written
            for i, args in live:
                outcomes[i] = await self._alone(args)
        except Exception as exc:  # every set of the batch fails as its call did
            for i, _ in live:
                outcomes[i] = exc

    async def _alone(self, args: SetArgs) -> Outcome:
        """One set run by itself: its reply (recorded by its own task) or its error."""
        try:
            return await self._writes.send_set(args)
        except Exception as exc:
            return exc

    async def _outcome(self, batch: _Batch, index: int) -> int:
        """Deliver ``batch`` here (after the hand-over: a callback
        delivered to may set too), then its set ``index``'s version or error."""
        if batch.last:
            await self._follower.caught_up(batch.changes, batch.last)
        outcome = batch.outcomes[index]
        if isinstance(outcome, int):
            return outcome
        if isinstance(outcome, Reply):
            args = batch.items[index]
            assert args is not None, "a dropped set has no outcome"
            return await self._writes.written(outcome, args.key, args.if_version)
        assert outcome is not None, "a set woken without its outcome"
        raise outcome
