"""Ordered delivery of committed changes: who delivers, who waits, and for what.

The contract, the same on every backend (docs/changes.md states it for users):

* **Order.** A store delivers its changes one at a time, in commit order,
  each to its subscribers (decided at commit time) in registration order.
* **Who waits.** A write returns once its changes have been delivered:
  callbacks awaited, feeds handed the change (or waited for, under their
  ``"block"`` overflow). So it also waits for the changes committed before
  it that have subscribers. A write whose changes match no subscription
  never waits.
* **Which task.** The deliverer is one task at a time (it holds *the role*).
  A change is delivered in the task of a writer waiting for it: when the
  change before it is done, the role passes to that writer. The task
  holding the role then (else the store's own task, the *courier*:
  :meth:`Deliveries.run_courier`) delivers a change no writer waits for (a
  callback's write, another process's, a cancelled writer's) and one only
  feeds get (no callback sees the task, so writers queued behind a full
  feed do not take the role in turn, a wake-up each).
* **Cancellation.** Cancelling a waiting writer ends its wait at once; its
  write stays committed and its changes still reach every subscriber, in
  order. If the writer's task was running a callback, that callback sees
  the cancellation, and the rest goes on without the writer: the role
  passes to the next writer in line, else to the courier. Only a store
  with no courier (a MemoryStore outside ``async with``) delivers the rest
  in the cancelled task, under a shield (a feed with a full buffer is then
  failed with :class:`~pepperflow.FeedOverflow` rather than waited for).
* **A stuck callback** holds up every later delivery of its store, and the
  writers waiting for those, until it returns, the task running it is
  cancelled (its writer's, or the store's when the store closes), or
  ``callback_timeout`` passes. Writers behind it can always stop waiting by
  being cancelled, and writes no subscription matches never wait.
* **callback_timeout.** Each call of a callback (and the awaitable a sync
  callback returns) gets at most that many seconds; one that overruns is
  cancelled, logged on the ``"pepperflow"`` logger (store, key, seq and
  callback), counted in ``callback_errors``, and skipped: the other
  subscribers still get the change. A feed keeps its overflow policy.

A write made from inside a callback queues its change and returns at once
(waiting would deadlock); the task delivering delivers it in its turn.
MemoryStore and RedisStore await ``ChangeHub.publish`` in the writer's task
(a RedisStore's follower task delivers the other processes' changes, and
leaves this process's writers their own). A SqliteStore posts each
committed transaction from the event loop, in commit order
(:meth:`Deliveries.post`, :meth:`Deliveries.post_group`), and its writers
then :meth:`Deliveries.wait`: writes committed in one transaction share a
:class:`Ticket`, and one of their writers delivers them.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import anyio
import anyio.abc

from .._log_fields import change_fields
from ..streams._serial import delivering_for, delivers
from ..streams.events import Change

__all__ = ["Deliveries", "Recipient", "Ticket"]

logger = logging.getLogger("pepperflow")

# A ticket's state: its writers wait; it was handed the role; one delivers; done.
_WAITING, _TURN, _RUNNING, _DONE = range(4)


class Recipient(Protocol):
    """What delivery needs of a subscriber (:class:`~pepperflow.stores._hub.Subscription`)."""

    #: False once it unsubscribed: it is skipped.
    active: bool
    #: ``await callback(change)`` when ``is_async``, else ``callback(change, wait)``
    #: returns None when done or an awaitable to await.
    callback: Any
    is_async: bool
    #: The user's callback, as log records name it.
    name: str
    #: Seconds each call may take, or None.
    timeout: float | None
    #: The feed it serves; None for a callback.
    feed: Any


#: One pending change: the change, its subscribers not yet served, its
#: writers' ticket (None: nobody waits). A change of None stands for a
#: group not yet in the store's state (:meth:`Deliveries.post_group`).
Entry = tuple[Change | None, Sequence[Recipient], "Ticket | None"]

# The hubs whose writes the current context queues (Deliveries.delivering).
_delivering: ContextVar[tuple[Deliveries, ...]] = ContextVar("pepperflow_delivering", default=())


class Ticket:
    """The changes of one write, or of writes committed together, on their way.

    ``writers`` counts the tasks that wait for them or are still to come
    (:meth:`Deliveries.wait`, :meth:`Deliveries.release`); while it is not
    0, one of those tasks delivers them.
    """

    __slots__ = ("group", "left", "state", "wake", "writers")

    def __init__(
        self,
        left: int,
        writers: int,
        group: tuple[list[Change], Callable[[list[Change]], None]] | None = None,
    ) -> None:
        self.left = left  # entries not delivered yet
        self.writers = writers
        self.state = _WAITING
        self.wake: anyio.Event | None = None
        self.group = group  # a group not yet in the state, and what takes it in

    def notify(self, state: int) -> None:
        self.state = state
        wake = self.wake
        if wake is not None:
            self.wake = None
            wake.set()


class Deliveries:
    """The ordered delivery of one store's changes; see the module docstring.

    :class:`~pepperflow.stores._hub.ChangeHub` adds the subscriptions.
    ``callback_timeout`` is ``None`` or seconds (checked by the store).
    """

    __slots__ = ("_busy", "_courier", "_pending", "callback_errors", "callback_timeout", "store")

    def __init__(self, store: str, callback_timeout: float | None) -> None:
        self.store = store
        self.callback_timeout = callback_timeout
        self.callback_errors = 0
        self._busy = False  # a task holds the role
        self._pending: deque[Entry] = deque()
        self._courier: anyio.Event | None = None  # set it to hand the courier the role

    def _match(self, key: str) -> Sequence[Recipient]:
        raise NotImplementedError

    def delivering_here(self) -> bool:
        """Whether the current call comes from inside this hub's delivery (a
        write made by a callback) or a :meth:`delivering` block.

        Nothing is paid per delivery: a delivering function binds its local
        ``gate`` (:func:`~pepperflow.streams._serial.delivers`); only a write
        that finds the hub busy looks for that frame among its callers. A
        task a callback starts is not the callback: its writes wait their turn.
        """
        return self._busy and (delivering_for(self) or self in _delivering.get())

    @contextmanager
    def delivering(self) -> Iterator[None]:
        """Writes made inside this block queue their changes instead of waiting for them."""
        token = _delivering.set((*_delivering.get(), self))
        try:
            yield
        finally:
            _delivering.reset(token)

    # -- the store's side: changes committed elsewhere (SqliteStore) ---------

    @property
    def idle(self) -> bool:
        """Nothing is being delivered, and the store's courier runs."""
        return not self._busy and self._courier is not None

    def post(self, changes: list[Change], writers: int) -> Ticket | None:
        """Queue committed ``changes`` (in the state already) for ``writers``
        tasks to :meth:`wait` for; None when no subscription matches them."""
        match = self._match
        batch = [(change, subs) for change in changes if (subs := match(change.key))]
        if not batch:
            return None
        ticket = Ticket(len(batch), writers)
        self._pending.extend((change, subs, ticket) for change, subs in batch)
        if not writers:
            self._unattended()
        return ticket

    def post_group(
        self, changes: list[Change], take_in: Callable[[list[Change]], None], writers: int
    ) -> Ticket:
        """Queue committed ``changes`` not in the state yet: ``take_in(changes)``
        folds them in when their delivery starts, and their subscribers are
        matched then, so a feed attached meanwhile misses nothing."""
        ticket = Ticket(1, writers, (changes, take_in))
        self._pending.append((None, [], ticket))
        if not writers:
            self._unattended()
        return ticket

    async def wait(self, ticket: Ticket) -> None:
        """Return once ``ticket``'s changes are delivered, delivering them (and
        the changes before them nobody waits for) in this task in their turn.

        Cancelled, it stops waiting at once; the changes are still delivered.
        """
        running = False
        try:
            while ticket.state != _DONE:
                if ticket.state == _TURN or not self._busy:
                    self._busy = True
                    ticket.state = _RUNNING
                    running = True
                    await self._run(ticket)
                    running = False
                    if ticket.state != _DONE:  # it passed the role to a writer before it
                        ticket.state = _WAITING
                    continue
                wake = ticket.wake
                if wake is None:
                    ticket.wake = wake = anyio.Event()
                await wake.wait()
        except BaseException:
            ticket.writers -= 1
            if running or (ticket.state == _TURN and not ticket.writers):
                if ticket.state != _DONE:
                    ticket.state = _WAITING
                with anyio.CancelScope(shield=True):
                    await self._hand_off()
            raise
        ticket.writers -= 1

    async def release(self, ticket: Ticket) -> None:
        """A writer counted in ``ticket`` will not :meth:`wait` for it."""
        ticket.writers -= 1
        if ticket.writers:
            return
        if not self._busy:
            self._unattended()
        elif ticket.state == _TURN:  # the role was handed to it: pass it on
            ticket.state = _WAITING
            with anyio.CancelScope(shield=True):
                await self._hand_off()

    # -- the store's own task ------------------------------------------------

    async def run_courier(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        """The store's task for changes no writer is left to deliver (until cancelled)."""
        task_status.started()
        wake: anyio.Event | None = None
        try:
            while True:
                self._courier = wake = anyio.Event()
                await wake.wait()  # set with the role handed over
                await self._run(None)
        except BaseException:
            if wake is not None and wake.is_set():  # the store closes while it delivers
                with anyio.CancelScope(shield=True):
                    await self._hand_off()
            elif self._courier is wake:
                self._courier = None
            raise

    def _unattended(self) -> None:
        """Changes were queued that nobody will deliver: if the role is free, to the courier."""
        courier = self._courier
        if not self._busy and self._pending and courier is not None:
            self._busy = True
            self._courier = None
            courier.set()

    # -- holding the role ------------------------------------------------------

    async def _run(self, me: Ticket | None, wait: bool = True) -> None:
        """Deliver the pending changes in order, until the next one is for a
        writer that waits (it gets the role) or none is left (the role is free)."""
        pending = self._pending
        while pending:
            change, subs, ticket = pending[0]
            if ticket is not None and ticket is not me and ticket.writers:  # noqa: SIM102
                # A writer waits for it (a waiting one: none other runs): a callback's, its task.
                if change is None or not all(sub.feed is not None for sub in subs):
                    ticket.notify(_TURN)
                    return
            pending.popleft()
            if change is None:
                assert ticket is not None
                self._expand(ticket)
                continue
            await self._deliver(change, subs, ticket, wait)
            if ticket is not None:
                ticket.left -= 1
                if not ticket.left:
                    ticket.notify(_DONE)
        self._busy = False

    def _expand(self, ticket: Ticket) -> None:
        """A group's delivery starts: take it into the state, match its subscribers."""
        assert ticket.group is not None
        changes, take_in = ticket.group
        ticket.group = None
        take_in(changes)
        match = self._match
        entries = [(change, subs, ticket) for change in changes if (subs := match(change.key))]
        ticket.left = len(entries)
        if entries:
            self._pending.extendleft(reversed(entries))
        else:
            ticket.notify(_DONE)

    def _pass_on(self) -> bool:
        """Hand the role to the first writer in line, else to the courier; False if neither."""
        for _, _, ticket in self._pending:
            if ticket is not None and ticket.writers and ticket.state == _WAITING:
                ticket.notify(_TURN)
                return True
        if not self._pending:
            self._busy = False
            return True
        courier = self._courier
        if courier is None:
            return False
        self._courier = None
        courier.set()
        return True

    async def _hand_off(self) -> None:
        """The task holding the role stops (cancelled): the rest goes on without it.

        Call it shielded: with nobody to take the role, this task delivers
        the rest, not waiting for full feeds.
        """
        if not self._pass_on():
            await self._run(None, wait=False)

    @delivers
    async def _deliver(
        self,
        change: Change,
        subs: Sequence[Recipient],
        ticket: Ticket | None,
        wait: bool,
        started: Awaitable[None] | None = None,
    ) -> None:
        """Deliver ``change`` to ``subs`` in order; cancelled, queue the rest first.

        ``started`` is what the first subscriber returned when it was called
        already (:meth:`ChangeHub.publish_now`): it is awaited in its place.
        """
        gate = self  # this frame delivers (delivering_here)
        for i, sub in enumerate(subs):
            if started is None and not sub.active:
                continue
            try:
                if started is None:
                    # A coroutine from an async callback; from a Deliver, None when done.
                    call = sub.callback
                    result = call(change) if sub.is_async else call(change, wait)
                else:  # the first subscriber's, called already
                    result, started = started, None
                if result is not None:
                    bounded = sub.timeout is not None
                    await (gate._bounded(sub, result, change) if bounded else result)
            except Exception as exc:
                self._log_error(change, sub, exc)
            except BaseException:
                self._pending.appendleft((change, subs[i + 1 :], ticket))
                raise

    async def _bounded(self, sub: Recipient, call: Any, change: Change) -> None:
        with anyio.move_on_after(sub.timeout) as scope:
            await call
        if scope.cancelled_caught:
            self.callback_errors += 1
            logger.error(
                "store %r: change callback %s did not return within callback_timeout"
                " (%g s) on key %r (seq %d); it was cancelled and skipped, the other"
                " subscribers get the change",
                self.store,
                sub.name,
                sub.timeout,
                change.key,
                change.seq,
                extra=change_fields(change),
            )

    def _log_error(self, change: Change, sub: Recipient, exc: Exception) -> None:
        self.callback_errors += 1
        logger.error(
            "store %r: change callback %s failed on key %r (seq %d); the write and the"
            " other subscribers are unaffected",
            self.store,
            sub.name,
            change.key,
            change.seq,
            exc_info=exc,
            extra=change_fields(change),
        )
