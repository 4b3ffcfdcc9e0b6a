"""Subjects: observers that multicast what they receive to their subscribers.

A subject is both an :class:`~aioreactive.AsyncObserver` (a producer calls
``await subject.asend(x)``, then ``aclose()`` or ``athrow(exc)``) and an
:class:`~aioreactive.AsyncObservable` (observers subscribe to it).

* **Order and backpressure**: ``asend`` returns after every subscriber's
  ``asend`` returned, one subscriber after the other in subscription order.
  Calls from several tasks are delivered one at a time, in arrival order
  (a caller waits for its turn); a call made from inside a delivery (an
  observer sending into the subject it listens to) is queued and delivered
  right after the current value.
* **Errors**: a subscriber whose ``asend`` raises gets that exception
  through its ``athrow`` and is unsubscribed; the others are unaffected.
* **End**: after ``aclose``/``athrow``, further calls are ignored, and a
  new subscriber gets the terminal at once.
* **Cancellation**: a producer cancelled while a subscriber awaits sees the
  cancellation there; that value does not reach the later subscribers.
  Values queued by other tasks are still delivered.

:class:`Subject` is hot: a subscriber gets what is sent after it
subscribed. :class:`LatestSubject` first replays the latest value (or the
latest value of each key) to every new subscriber.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from aioreactive import AsyncDisposable, AsyncObserver

from ._core import Observable, close_to, send_or_fail, throw_to
from ._serial import Serializer, delivers

__all__ = ["LatestSubject", "Subject"]

_T = TypeVar("_T")


class _Subscription(AsyncDisposable, Generic[_T]):
    __slots__ = ("active", "observer", "subject")

    def __init__(self, subject: Subject[_T], observer: AsyncObserver[_T]) -> None:
        self.subject = subject
        self.observer = observer
        self.active = True

    def stop(self) -> None:
        """Unsubscribe (synchronously): the observer gets nothing more."""
        if self.active:
            self.active = False
            self.subject._remove(self)

    async def dispose_async(self) -> None:
        self.stop()


class Subject(Observable[_T], AsyncObserver[_T]):
    """A hot multicast subject (see the module docstring).

    ::

        subject = Subject[int]()
        sub = await subject.subscribe_async(observer)
        await subject.asend(1)      # returns once observer.asend(1) returned
        await subject.aclose()
    """

    def __init__(self) -> None:
        self._subs: tuple[_Subscription[_T], ...] = ()
        self._gate = Serializer()
        self._ended = False  # a terminal was accepted (it may still be queued)
        self._closed = False  # the terminal was delivered
        self._error: Exception | None = None
        self._remembers = False  # True: _remembered runs before each delivery

    @property
    def subscriber_count(self) -> int:
        """How many observers are subscribed now."""
        return len(self._subs)

    # -- the observer side ---------------------------------------------------

    @delivers
    async def asend(self, value: _T) -> None:
        """Deliver ``value`` to every subscriber; return when they all took it."""
        if self._ended:
            return
        serializer = self._gate
        if serializer.busy or serializer.queue:
            await serializer.run(self._deliver, value)
            return
        # Hot path, measured: the serializer's fast path and _deliver's loop, with
        # send_or_fail inlined (its one inlined copy). Calling the helper per
        # subscriber took a subject with one observer from ~3.2 M to ~2.3 M
        # values/s, and the three-stage pipeline of bench_streams.py down ~7%.
        gate = serializer
        gate.busy = True
        try:
            if not self._remembers or await self._remembered(value):
                for sub in self._subs:
                    if sub.active:
                        try:
                            await sub.observer.asend(value)
                        except Exception as exc:
                            sub.stop()
                            await throw_to(sub.observer, exc)
            if gate.queue:
                await gate.drain()
        finally:
            gate.leave()

    async def athrow(self, error: Exception) -> None:
        """End every subscription with ``error``."""
        if not self._ended:
            self._ended = True
            await self._gate.run(self._deliver_end, error)

    async def aclose(self) -> None:
        """End every subscription normally."""
        if not self._ended:
            self._ended = True
            await self._gate.run(self._deliver_end, None)

    async def _deliver(self, value: _T) -> None:
        if not self._remembers or await self._remembered(value):
            for sub in self._subs:
                if sub.active:
                    await send_or_fail(sub.observer, value, sub.stop)

    async def _remembered(self, value: _T) -> bool:
        """Run before ``value`` is delivered (when ``_remembers``); False: deliver nothing."""
        return True

    async def _deliver_end(self, error: Exception | None) -> None:
        self._closed = True
        self._error = error
        subs, self._subs = self._subs, ()
        for sub in subs:
            if sub.active:
                sub.active = False
                await self._end(sub.observer)

    async def _end(self, observer: AsyncObserver[_T]) -> None:
        if self._error is not None:
            await throw_to(observer, self._error)
        else:
            await close_to(observer)

    # -- the observable side -------------------------------------------------

    async def _subscribe(self, observer: AsyncObserver[_T]) -> AsyncDisposable:
        sub = _Subscription(self, observer)
        if self._closed:
            sub.active = False
            await self._end(observer)
        else:
            self._subs = (*self._subs, sub)
        return sub

    def _remove(self, sub: _Subscription[_T]) -> None:
        self._subs = tuple(s for s in self._subs if s is not sub)

    def __repr__(self) -> str:
        state = "ended" if self._ended else f"{len(self._subs)} subscribers"
        return f"<{type(self).__name__} {state}>"


class LatestSubject(Subject[_T]):
    """A subject that replays the latest value to each new subscriber.

    With ``key``, it keeps the latest value of each key (``key(value)``)
    and replays them all, in the order they were last sent, e.g.
    ``LatestSubject(key=lambda change: change.key)`` replays a store's
    current state. The replay and the subscription happen at one point of
    the delivery order: a subscriber gets every value exactly once, either
    replayed or live. If ``key`` raises, the subject fails with that error.
    After the end, a new subscriber gets the replay, then the terminal.
    """

    def __init__(self, key: Callable[[_T], Hashable] | None = None) -> None:
        super().__init__()
        self._key = key
        self._latest: dict[Hashable, _T] = {}
        self._remembers = True

    @property
    def latest(self) -> list[_T]:
        """The values a new subscriber would get replayed now, in order."""
        return list(self._latest.values())

    async def _remembered(self, value: _T) -> bool:
        """Record ``value`` as the latest (of its key); if ``key`` raises, fail the subject."""
        if self._key is None:
            self._latest[None] = value
            return True
        try:
            key = self._key(value)
        except Exception as exc:
            self._ended = True
            await self._deliver_end(exc)
            return False
        self._latest.pop(key, None)
        self._latest[key] = value
        return True

    async def _subscribe(self, observer: AsyncObserver[_T]) -> AsyncDisposable:
        sub = _Subscription(self, observer)
        await self._gate.run(self._replay_to, sub)
        return sub

    async def _replay_to(self, sub: _Subscription[_T]) -> None:
        for value in list(self._latest.values()):
            if not sub.active or not await send_or_fail(sub.observer, value, sub.stop):
                return
        if not sub.active:
            return
        if self._closed:
            sub.active = False
            await self._end(sub.observer)
        else:
            self._subs = (*self._subs, sub)
