"""The expiry sweeper and the key counts of one RedisStore.

A key with a ttl has an entry in the namespace's expiry index (a sorted set
by deadline). :class:`Sweeper` runs the sweep script, which commits one
expire change per due key atomically, so each expiry is committed once
whichever process sweeps first: at the nearest deadline this process knows
of (its own writes', every key's after each sweep) and at least every
``sweep_interval``.

:class:`Counts` holds ``keys``/``ttl_keys`` for ``statistics()``, which is
synchronous: an absolute figure read at some seq (a sweep, a status read)
plus this process's own writes committed after it, kept until a newer
figure covers them, so replies that cross on different connections count
each write once.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from typing import Protocol

import anyio
import anyio.abc

from ..._errors import StoreUnavailable
from ._commands import Commands
from ._protocol import SweepArgs
from ._scripts import SWEEP

__all__ = ["Counts", "Delivery", "Sweeper"]

logger = logging.getLogger("pepperflow")

_SWEEP_LIMIT = 1000  # keys expired per sweep script


class Counts:
    """The live keys and the keys with a ttl, as this process knows them."""

    __slots__ = ("_counted_at", "_deltas", "keys", "ttl_keys")

    def __init__(self) -> None:
        self.keys = 0
        self.ttl_keys = 0
        self._counted_at = -1  # the seq of the absolute figure held
        self._deltas: list[tuple[int, int, int]] = []  # own writes after it: seq, keys, ttl

    def add(self, seq: int, keys: int, ttl_keys: int) -> None:
        """Add one write's change of the counts (committed at ``seq``)
        unless the figure held already has it."""
        if (keys or ttl_keys) and seq > self._counted_at:
            self.keys += keys
            self.ttl_keys += ttl_keys
            self._deltas.append((seq, keys, ttl_keys))

    def take(self, seq: int, keys: int, ttl_keys: int) -> None:
        """Take counts read at ``seq``, plus the own writes committed after it."""
        if seq < self._counted_at:
            return  # an older figure than the one held
        self._counted_at = seq
        later = self._deltas = [delta for delta in self._deltas if delta[0] > seq]
        self.keys = keys + sum(delta[1] for delta in later)
        self.ttl_keys = ttl_keys + sum(delta[2] for delta in later)

    def reset(self) -> None:
        """Forget the figure (the server lost data): the next one is taken whole."""
        self._counted_at = -1
        self._deltas.clear()


class Delivery(Protocol):
    """What the sweeper needs of ordered delivery (the follower)."""

    def listening(self) -> bool:
        """Whether anyone here receives changes."""

    def learn_seq(self, seq: int) -> None:
        """A seq committed by now."""

    async def committed(self, blobs: Sequence[bytes], last: int) -> None:
        """Deliver the changes up to ``last``, ``blobs`` among them."""


class Sweeper:
    """Sweeps the expiry index at the next deadline known; see the module docstring.

    ``clock_offset`` is the server's clock minus this machine's, as the last
    write's reply told it; :meth:`now` is the server's time by it.
    """

    def __init__(
        self, commands: Commands, counts: Counts, delivery: Delivery, interval: float
    ) -> None:
        self._commands = commands
        self._counts = counts
        self._delivery = delivery
        self._interval = interval
        self.expired = 0
        self.errors = 0  # sweeps that failed (logged, retried)
        self.clock_offset = 0.0
        self.next_deadline = math.inf
        self._wake = anyio.Event()
        self._lock = anyio.Lock(fast_acquire=True)
        self._sweeping = False
        self._noted_while_sweeping = math.inf

    def now(self) -> float:
        return time.time() + self.clock_offset

    def note_deadline(self, deadline: float) -> None:
        """A key's deadline: sweep then if it is the nearest known."""
        if self._sweeping and deadline < self._noted_while_sweeping:
            self._noted_while_sweeping = deadline
        if deadline < self.next_deadline:
            self.next_deadline = deadline
            self._wake.set()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """Sweep once, report started, then sweep at each deadline (a task)."""
        await self.sweep()
        task_status.started()
        while True:
            try:
                await self.sweep()
            except StoreUnavailable as exc:
                self.errors += 1
                logger.warning("%s: expiry sweep could not reach Redis (%s)", self._owner, exc)
                await anyio.sleep(min(self._interval, 0.5))
                continue
            delay = min(self._interval, max(0.0, self.next_deadline - self.now()))
            if delay > 0:
                self._wake = anyio.Event()
                with anyio.move_on_after(delay):
                    await self._wake.wait()

    @property
    def _owner(self) -> str:
        return self._commands.owner

    async def sweep(self) -> None:
        """Expire the due keys (one atomic script); learn the next deadline.

        One sweep runs at a time. The next deadline is the index's earliest
        as the script saw it, or an earlier one this process learned that
        the script could not have seen (noted while it ran, or still ahead).
        """
        delivery = self._delivery
        async with self._lock:
            before = self.next_deadline
            self._noted_while_sweeping = math.inf
            self._sweeping = True
            try:
                args = SweepArgs(_SWEEP_LIMIT, delivery.listening())
                # The due keys' entries and index keys: asked for (lua/sweep.lua).
                reply = await self._commands.call(SWEEP, args, [self._commands.ix_key])
            finally:
                self._sweeping = False
            head = reply.head
            self.expired += head.expired
            self._counts.take(head.seq, head.keys, head.ttl_keys)
            still_ahead = before if before > head.now else math.inf
            nearest = math.inf if head.next_deadline is None else head.next_deadline
            self.next_deadline = min(nearest, self._noted_while_sweeping, still_ahead)
            delivery.learn_seq(head.seq)
        if head.expired:
            # Deliver the expire changes now rather than when the follower reads them.
            await delivery.committed(reply.items, head.seq)

    async def sweep_due(self) -> None:
        """Before a read: commit and deliver the expiries already due (known deadlines)."""
        if self.next_deadline <= self.now():
            await self.sweep()
