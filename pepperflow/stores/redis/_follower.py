"""The changelog follower and ordered delivery of one RedisStore.

Every process commits changes with one total order (their ``seq``); this
process's subscribers and feeds receive them in that order, whoever
committed them. Changes arrive from two sides, each decoded once from the
bytes the committing script built, by the store's decoders
(:class:`._decoding.Decoding`, the store's types):

- a write's reply (its own changes, when someone here listens), delivered
  before the write returns, after any earlier change it had not delivered
  yet (read from the changelog if it must be);
- the follower task, which reads the changelog (``XREAD BLOCK``) for the
  changes of every process.

Both hand changes to :meth:`Follower._know` (by seq, so one that arrives
both ways is delivered once) and deliver in seq order under one lock.
While nothing here listens the follower does not read the changelog: it
only refreshes the newest seq every ``sweep_interval``.

A change that does not decode as the store's types (:class:`._decoding.Skipped`)
keeps its place in the order: delivery passes it, logs it on the
``"pepperflow"`` logger and counts it in :attr:`Follower.undecodable`; no
subscriber or feed gets it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable, Sequence
from contextvars import ContextVar
from typing import Any

import anyio
import anyio.abc

from ..._errors import StoreAccessDenied, StoreUnavailable
from ...streams.events import Change, SetChange
from .._hub import ChangeHub
from ._commands import Commands
from ._decoding import Decoding, Skipped
from ._protocol import LogEntry, RangeArgs, StatusArgs
from ._scripts import RANGE, STATUS
from ._sweeper import Counts

__all__ = ["Follower"]

logger = logging.getLogger("pepperflow")

_FOLLOW_BLOCK_MS = 1000
_READ_BACK_NAP = 0.001  # seconds
_RANGE_ENTRIES = 100  # changelog entries per read of changes_after
_PAUSE = 0.05  # seconds before reading again after a failure (doubled up to 1 s)

# The followers delivering in this context (a write from a callback must not wait for itself).
_delivering: ContextVar[tuple[Follower, ...]] = ContextVar(
    "pepperflow_redis_delivering", default=()
)


class Follower:
    """Ordered delivery of the changes of every process to ``hub``.

    ``seq`` is the newest seq known, ``read`` the last the follower read,
    ``delivered`` the last delivered (or skipped, with nobody to deliver to).
    ``undecodable`` counts the changes skipped because they do not decode.
    """

    def __init__(
        self,
        commands: Commands,
        decoding: Decoding[Any],
        hub: ChangeHub,
        counts: Counts,
        note_deadline: Callable[[float], None],
        interval: float,
    ) -> None:
        self._commands = commands
        self._decoding = decoding
        self._hub = hub
        self._counts = counts
        self._note_deadline = note_deadline
        self._interval = interval
        self.seq = self.read = self.delivered = self.undecodable = 0
        self._writers = 0  # writes of this process delivering their changes (committed)
        self._known: dict[int, Change | Skipped] = {}
        self.lock = anyio.Lock(fast_acquire=True)
        self._listening = anyio.Event()  # set when a subscriber or feed arrives

    def start_at(self, seq: int) -> None:
        self.seq = self.read = self.delivered = seq

    def listening(self) -> bool:
        return bool(self._hub.count)

    def listen(self) -> None:
        """A subscriber or feed arrived: wake a parked follower."""
        self._listening.set()

    def learn_seq(self, seq: int) -> None:
        """A seq committed by now; with nobody to deliver to, delivery moves
        there too, so a new subscriber starts after it."""
        if seq > self.seq:
            self.seq = seq
        if not self._hub.count:
            if seq > self.delivered:
                self.delivered = seq
            self._known.clear()

    # -- delivery ------------------------------------------------------------

    async def committed(self, blobs: Sequence[bytes], last: int) -> None:
        """Deliver every change up to seq ``last``, ``blobs`` among them (a
        commit of this process). Committed already: if an earlier change
        cannot be read to keep the order, the follower delivers both once
        Redis answers again. Changes no subscription matches do not wait for
        a delivery under way: the task delivering passes them in their turn."""
        await self.caught_up(self.noted(blobs), last)

    def noted(self, blobs: Sequence[bytes]) -> list[Change | Skipped]:
        """``blobs`` (changes committed by this process) decoded and held
        until their turn; none when nobody here listens."""
        if not self._hub.count or not blobs:
            return []
        changes = self._decoding.changes(blobs)
        self._know(changes)
        return changes

    async def caught_up(self, changes: Sequence[Change | Skipped], last: int) -> None:
        """Deliver every change up to seq ``last`` (``changes``, already
        :meth:`noted`, among them), as :meth:`committed`."""
        hub = self._hub
        if not hub.count:
            return
        if self.lock.locked() and not any(hub.wanted(change.key) for change in changes):
            return
        self._writers += 1
        try:
            with contextlib.suppress(StoreUnavailable):
                await self.deliver(last)
        finally:
            self._writers -= 1

    def _know(self, changes: Iterable[Change | Skipped]) -> None:
        """Hold ``changes`` until their turn (those not delivered nor held yet)."""
        delivered, known = self.delivered, self._known
        for change in changes:
            seq = change.seq
            if seq > delivered and seq not in known:
                known[seq] = change
                if type(change) is SetChange and change.expires_at is not None:
                    self._note_deadline(change.expires_at)

    async def deliver(self, upto: int) -> None:
        """Deliver every change up to seq ``upto`` (and those known after it,
        unless another task waits to deliver), in order."""
        if self in _delivering.get():
            return  # a write from inside a callback: the running delivery takes it next
        async with self.lock:
            await self.deliver_locked(upto)

    async def deliver_locked(self, upto: int) -> None:
        """:meth:`deliver`, holding :attr:`lock`."""
        known, hub = self._known, self._hub
        if not hub.count:
            self.delivered = max(self.delivered, upto)
            known.clear()
            return
        token = _delivering.set((*_delivering.get(), self))
        try:
            while True:
                nxt = self.delivered + 1
                if nxt > upto and (nxt not in known or self.lock.statistics().tasks_waiting):
                    return  # the rest is the next one's: a writer here delivers its own
                change = known.pop(nxt, None)
                if change is None:
                    await self._fetch(nxt, upto)
                    continue
                self.delivered = nxt
                if type(change) is Skipped:
                    self.skip(change)
                elif hub.count:
                    await hub.publish(change)
        finally:
            _delivering.reset(token)

    def skip(self, change: Skipped) -> None:
        """Pass a change that does not decode: log it and count it."""
        self.undecodable += 1
        logger.error(
            "%s: change %d (key %r) skipped by subscribers and feeds: %s",
            self._commands.owner,
            change.seq,
            change.key,
            change.error,
        )

    async def changes_between(self, first: int, last: int) -> tuple[int, list[Change | Skipped]]:
        """The changes ``first..last`` still in the changelog, and its oldest seq."""
        reply = await self._commands.read(RANGE, RangeArgs(first, last - first + 1))
        changes = self._decoding.changes(reply.items)
        return reply.head.oldest, [c for c in changes if first <= c.seq <= last]

    async def changes_after(self, seq: int) -> list[Change]:
        """Every change after ``seq`` still in the changelog, in order (the
        store's ``changes_since``); UndecodableValue for one that does not decode."""
        out: list[Change] = []
        while True:
            reply = await self._commands.read(RANGE, RangeArgs(seq + 1, _RANGE_ENTRIES))
            changes = [c for c in self._decoding.changes(reply.items) if c.seq > seq]
            if not changes:
                return out
            for change in changes:
                if type(change) is Skipped:
                    raise change.error
                out.append(change)
            seq = changes[-1].seq

    async def _fetch(self, first: int, last: int) -> None:
        """Read the changes ``first..last`` from the changelog to deliver them."""
        oldest, changes = await self.changes_between(first, last)
        self._know(changes)
        known = self._known
        if first not in known:
            # Trimmed from the changelog (or never there): skip to what exists.
            resume = min((s for s in known if s > first), default=last + 1)
            self.missed(first, resume - 1, oldest)
            self.delivered = resume - 1

    def missed(self, first: int, last: int, oldest: int) -> None:
        logger.warning(
            "%s: changes %d..%d are no longer in the changelog (oldest kept: %d);"
            " subscribers miss them. Raise changelog_length if a follower falls this"
            " far behind.",
            self._commands.owner,
            first,
            last,
            oldest,
        )

    async def replay(
        self,
        seq: int,
        entries: Iterable[SetChange[Any, Any] | Skipped],
        match: Callable[[str], bool],
    ) -> list[Change]:
        """A feed's replay (holding :attr:`lock`): of the live ``entries`` at
        ``seq``, those ``match`` accepts, then the changes after ``seq``
        already delivered (:meth:`catch_up`); an entry that does not decode
        is skipped (:meth:`skip`)."""
        out: list[Change] = []
        for change in entries:
            if not match(change.key):
                continue
            if type(change) is Skipped:
                self.skip(change)
            else:
                out.append(change)
        # The current subscribers get everything up to seq first.
        out.extend(await self.catch_up(seq, match))
        return out

    async def catch_up(self, seq: int, match: Callable[[str], bool]) -> list[Change]:
        """For a feed replaying the state at ``seq`` (holding :attr:`lock`):
        deliver everything up to ``seq`` to the current subscribers, and
        return the changes after it already delivered that ``match`` accepts
        (with nobody to deliver to, delivery may have moved past ``seq``)."""
        await self.deliver_locked(seq)
        out: list[Change] = []
        while self.delivered > seq:
            target = self.delivered
            oldest, changes = await self.changes_between(seq + 1, target)
            if changes and changes[0].seq != seq + 1:
                self.missed(seq + 1, changes[0].seq - 1, oldest)
            for change in changes:
                if match(change.key):
                    if type(change) is Skipped:
                        self.skip(change)
                    else:
                        out.append(change)
            seq = target
        return out

    # -- the follower task ---------------------------------------------------

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Follow the changelog until cancelled (a task); started once its
        connection is made."""
        await self._connect()
        task_status.started()
        pause = _PAUSE
        while True:
            if not self._hub.count and await self._parked():
                continue
            try:
                entries = await self._commands.xread(self.read, _FOLLOW_BLOCK_MS)
                if not entries and pause > _PAUSE:
                    await self.check_server_seq()
            except StoreUnavailable as exc:
                logger.warning("%s: changelog follower: %s; retrying", self._commands.owner, exc)
                await anyio.sleep(pause)
                pause = min(pause * 2, 1.0)
                continue
            pause = _PAUSE
            if entries:
                await self._take(entries)

    async def _connect(self) -> None:
        """A first read (it makes the follower's connection), retried until it
        answers; a refusal (StoreAccessDenied) is raised."""
        pause = _PAUSE
        while True:
            try:
                await self._commands.xread(self.read, 1)
                return
            except StoreAccessDenied:
                raise
            except StoreUnavailable:
                await anyio.sleep(pause)
                pause = min(pause * 2, 1.0)

    async def _parked(self) -> bool:
        """With nobody to deliver to, wait for a listener for up to
        ``interval``; True if still nobody listens (then learn the head seq)."""
        listening = self._listening = anyio.Event()
        with anyio.move_on_after(self._interval):
            await listening.wait()
        if self._hub.count:
            return False
        with contextlib.suppress(StoreUnavailable):
            await self.check_server_seq()
        return True

    async def _take(self, entries: list[LogEntry]) -> None:
        """Deliver what ``entries`` hold that this process did not deliver yet."""
        last = entries[-1].seq
        self.read = last
        if last > self.seq:
            self.seq = last
        if not self._hub.count:
            self.delivered = max(self.delivered, last)
            return
        if self._commands.writing or self._writers or last <= self.delivered:
            # This process is writing (each write delivers every change up
            # to its own, reading the others' from the changelog) or wrote
            # these: nap, so a busy writer is not read back write by write,
            # and, while writes here are under way, let their writers
            # deliver their own changes, in their own tasks (see
            # pepperflow.stores._delivery). What remains undelivered then
            # (a writer was cancelled or lost its reply) is delivered below.
            nap = _READ_BACK_NAP
            await anyio.sleep(nap)
            while self._commands.writing or self._writers:
                nap = min(2 * nap, _PAUSE)
                await anyio.sleep(nap)
            if last <= self.delivered:
                return
        delivered = self.delivered
        for entry in entries:
            if entry.seq > delivered:
                self._know(self._decoding.changes(entry.changes))
        with contextlib.suppress(StoreUnavailable):
            await self.deliver(last)

    async def check_server_seq(self) -> None:
        """Learn the server's seq and counts: move a parked follower to the
        head, and notice a server that lost its data (its seq went back)."""
        commands = self._commands
        head = (await commands.call(STATUS, StatusArgs(False, ""), [commands.ix_key])).head
        seq = head.seq
        if seq < self.read:
            logger.error(
                "%s: the Redis server lost data (its seq is %d, this store had read %d);"
                " following from %d",
                self._commands.owner,
                seq,
                self.read,
                seq,
            )
            self.start_at(seq)
            self._known.clear()
            self._counts.reset()
        elif not self._hub.count:
            self.read = max(self.read, seq)
            self.learn_seq(seq)
        self._counts.take(seq, head.keys, head.ttl_keys)
