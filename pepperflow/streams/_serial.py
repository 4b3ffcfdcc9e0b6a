"""One delivery at a time to an observer fed by several producers.

:class:`Serializer` serves subjects, merge and the other operators with
several upstreams: deliveries run in arrival order, with backpressure, and
a producer re-entering from inside a delivery is queued, never deadlocked.
"""

from __future__ import annotations

import sys
from collections import deque
from collections.abc import Awaitable, Callable
from types import CodeType, FrameType
from typing import Any, TypeVar

import anyio

__all__ = ["Serializer", "delivers", "delivering_for"]

_X = TypeVar("_X")


class _Item:
    __slots__ = ("arg", "delivered", "fn", "turn")

    def __init__(self, fn: Callable[[Any], Awaitable[None]], arg: Any) -> None:
        self.fn = fn
        self.arg = arg
        self.turn: anyio.Event | None = None
        self.delivered = False


#: Code of the functions that deliver for a serializer held in their local ``gate``.
_DELIVERING: set[CodeType] = set()

_F = TypeVar("_F", bound=Callable[..., Any])


def delivers(fn: _F) -> _F:
    """Mark ``fn`` as delivering for what its local ``gate`` holds (a
    :class:`Serializer`, a store's change hub) once it is bound.

    :func:`delivering_for` looks for such frames among the callers.
    """
    _DELIVERING.add(fn.__code__)
    return fn


def delivering_for(gate: object) -> bool:
    """Whether the current call comes from inside a delivery for ``gate``.

    True when a frame further up the current stack is one of a
    :func:`delivers` function whose local ``gate`` is ``gate``: the same
    task (another task's frames are never among them; nor are those of a
    task that a delivery started). Nothing is paid per delivery: only a
    caller that finds ``gate`` busy looks.
    """
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code in _DELIVERING and frame.f_locals.get("gate") is gate:
            return True
        frame = frame.f_back
    return False


class Serializer:
    """Deliveries one at a time, in arrival order, with backpressure.

    ``await serializer.run(deliver, item)`` returns once ``deliver(item)``
    has run. When a delivery is in progress, a call from another task
    waits for its turn (the task delivering runs the queued items in
    order); a call made from inside a delivery (an observer feeding back
    into its own source) is queued and returns at once, since waiting
    would deadlock. If the delivering task is cancelled, the next waiter
    takes over the queue; a waiter that is cancelled still has its item
    delivered.

    A hot path may inline :meth:`run` in a function marked with
    :func:`delivers`: when ``not (s.busy or s.queue)``, bind the local
    ``gate = s`` (only then: a frame with ``gate`` bound is delivering), set
    ``gate.busy = True``, deliver, ``if gate.queue: await gate.drain()``,
    and ``gate.leave()`` in a ``finally``. Nothing is paid per delivery to
    detect re-entrant calls: only a call that finds the serializer busy
    looks at its callers' frames (:meth:`is_reentrant`).
    """

    __slots__ = ("busy", "queue")

    def __init__(self) -> None:
        self.busy = False
        self.queue: deque[_Item] = deque()

    @delivers
    async def run(self, deliver: Callable[[_X], Awaitable[None]], item: _X) -> None:
        if self.busy or self.queue:
            await self._run_queued(_Item(deliver, item))
            return
        gate = self  # bound only now: from here on this frame delivers
        gate.busy = True
        try:
            await deliver(item)
            if gate.queue:
                await gate.drain()
        finally:
            gate.leave()

    def leave(self) -> None:
        """Stop delivering; if items are still queued (cancelled), wake a waiter."""
        self.busy = False
        if self.queue:
            self._hand_over()

    def is_reentrant(self) -> bool:
        """Whether the current call comes from inside this serializer's delivery.

        See :func:`delivering_for`.
        """
        return delivering_for(self)

    async def _run_queued(self, item: _Item) -> None:
        self.queue.append(item)
        if self.busy and self.is_reentrant():
            return  # delivered right after the current delivery
        while self.busy:
            item.turn = turn = anyio.Event()
            try:
                await turn.wait()
            except BaseException:
                if turn.is_set() and not item.delivered and not self.busy:
                    self._hand_over()  # it was our turn to deliver: pass it on
                raise
            if item.delivered:
                return
        self.busy = True
        try:
            await self.drain()
        finally:
            self.leave()

    @delivers
    async def drain(self) -> None:
        """Deliver the queued items, in order (only the delivering task calls this)."""
        gate = self
        queue = gate.queue
        while queue:
            item = queue.popleft()
            try:
                await item.fn(item.arg)
            finally:
                item.delivered = True
                if item.turn is not None:
                    item.turn.set()

    def _hand_over(self) -> None:
        """The delivering task stopped with items queued: wake a waiter to deliver them."""
        for item in self.queue:
            turn = item.turn
            if turn is not None and not turn.is_set():
                turn.set()
                return
