"""``store.changes(...)``: a change feed, consumed with ``async for``.

::

    async with store.changes("user:", replay=True) as feed:
        async for change in feed:
            ...

The feed buffers at most ``buffer`` changes between the writers and the
consumer. What happens when the buffer is full is the ``overflow`` policy:

``"block"`` (default)
    the writer waits until the consumer takes a change (backpressure).
``"drop_oldest"``
    the oldest buffered change is dropped; the writer never waits.
``"latest_per_key"``
    the buffer keeps only the newest pending change of each key (a newer
    change for a buffered key replaces it, in commit order of the newest);
    when ``buffer`` distinct keys are pending, the writer waits.
``"error"``
    the writer never waits; the consumer receives the changes buffered so
    far, then :class:`~pepperflow.FeedOverflow`.

With ``replay=True`` the feed first delivers the current state (one
:class:`~pepperflow.streams.SetChange` per live key matching the pattern,
in commit order), then every later change, with no gap and no duplicate:
the state and the subscription are taken at the same commit point. Replay
is not bounded by ``buffer``.

When the store closes, the consumer receives what was buffered, then the
iteration ends. Exiting the ``async with`` block unsubscribes.

A feed is also an aioreactive ``AsyncObservable``::

    sub = await pipe(store.changes("user:"), rx.filter(p), rx.map(f)).subscribe_async(obs)

Each ``subscribe_async(observer)`` is its own subscription (no buffer): the
writer awaits ``observer.asend(change)`` before its write returns, in
commit order (backpressure), like an async ``store.subscribe`` callback.
With ``replay=True`` the observer first gets the current state, with no gap
and no duplicate; writers wait meanwhile. An exception raised by the
observer's ``asend`` goes to its ``athrow`` and ends the subscription. When
the store closes, the observer gets ``aclose()``. ``dispose_async()`` on
the returned subscription unsubscribes at once (it never waits). Only
``overflow="block"`` applies (to buffer without waiting, pipe through an
operator that declares its buffer, e.g. ``latest_per_key``).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Literal, get_args

import anyio
import msgspec
from aioreactive import AsyncDisposable, AsyncObservable, AsyncObserver

from .._errors import FeedOverflow
from .._patterns import Pattern, compile_pattern
from ..streams._core import SyncDisposable, as_observer
from ..streams.events import Change
from ._hub import Feed, Subscription
from ._observer import ObserverFeed
from ._records import FeedFigures

__all__ = ["ChangeFeed", "FeedStatistics", "Overflow"]

Overflow = Literal["block", "drop_oldest", "latest_per_key", "error"]
#: How a feed gets subscribed: the store's ``_attach_feed`` (the hub's
#: :meth:`~pepperflow.stores._hub.ChangeHub.add_feed` at the store's replay point).
Attach = Callable[[Feed], Awaitable[None]]
_POLICIES = frozenset(get_args(Overflow))


class FeedStatistics(msgspec.Struct, frozen=True):
    """A feed's figures at one moment (``feed.statistics()``)."""

    pattern: str
    overflow: str
    buffer_size: int
    buffered: int
    replay_pending: int
    delivered: int
    dropped: int
    conflated: int
    overflowed: bool
    closed: bool


class ChangeFeed(AsyncObservable[Change]):
    """An async iterator and an observable of a store's changes; see the module docstring.

    Made by ``store.changes(...)``: ``attach`` subscribes the feed and hands
    it its replay (:meth:`attach`), ``store`` is the store's name for errors.
    """

    #: The hub calls :meth:`receive` without awaiting it (it is a ``Deliver``).
    awaits = False

    def __init__(
        self,
        attach: Attach,
        store: str,
        pattern: str | None = None,
        *,
        replay: bool = False,
        buffer: int = 1024,
        overflow: Overflow = "block",
    ) -> None:
        if type(buffer) is not int or buffer < 1:
            raise ValueError(f"buffer must be an int >= 1 (a number of changes), got {buffer!r}")
        if not isinstance(overflow, str) or overflow not in _POLICIES:
            raise ValueError(f"overflow must be one of {sorted(_POLICIES)}, got {overflow!r}")
        self.pattern: Pattern = compile_pattern(pattern)
        self.replay = replay
        self._attach = attach
        self._store = store
        self._size = buffer
        self._overflow: Overflow = overflow
        self._latest = overflow == "latest_per_key"
        self._buf: deque[Change] = deque()
        self._by_key: OrderedDict[str, Change] = OrderedDict()
        self._replay: deque[Change] = deque()
        self._sub: Subscription | None = None
        self._entered = False
        self._closed = False
        self._overflowed = False
        self._reader: anyio.Event | None = None  # the consumer waits on it
        self._space: anyio.Event | None = None  # a writer waits on it
        self._delivered = 0
        self._dropped = 0
        self._conflated = 0

    # -- lifecycle ---------------------------------------------------------

    async def __aenter__(self) -> ChangeFeed:
        if self._entered:
            raise RuntimeError("a ChangeFeed can be entered once; call store.changes() again")
        self._entered = True
        await self._attach(self)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def attach(self, subscription: Subscription, replay: Iterable[Change]) -> None:
        """Called by the store: the feed is subscribed, ``replay`` comes first."""
        self._sub = subscription
        self._replay.extend(replay)
        if self._overflow == "block":  # changes committed together, in one call
            subscription.batch = self._receive_run

    def close(self) -> None:
        """Unsubscribe; the consumer gets what is buffered, then the end."""
        if self._sub is not None:
            self._sub.unsubscribe()
        self._closed = True
        self._wake_reader()
        if self._space is not None:
            self._space.set()
            self._space = None

    def store_closed(self) -> bool:
        """The store closed: end the feed (see :meth:`close`); nothing to await."""
        self.close()
        return False

    async def end(self) -> None:
        """Nothing to tell: the consumer sees the end when it drains the buffer."""

    def statistics(self) -> FeedStatistics:
        return FeedStatistics(
            pattern=self.pattern.source,
            overflow=self._overflow,
            buffer_size=self._size,
            buffered=len(self._by_key) if self._latest else len(self._buf),
            replay_pending=len(self._replay),
            delivered=self._delivered,
            dropped=self._dropped,
            conflated=self._conflated,
            overflowed=self._overflowed,
            closed=self._closed,
        )

    def figures(self) -> FeedFigures:
        """This feed's figures now, for the store's statistics (``feeds=1``)."""
        return FeedFigures(
            self._overflow,
            1,
            self._buffered(),
            self._dropped + self._conflated,
            int(self._overflowed),
        )

    # -- the writer's side -------------------------------------------------

    def receive(self, change: Change, wait: bool) -> Awaitable[None] | None:
        """Buffer ``change``; return an awaitable only when the writer must wait."""
        if self._closed:
            return None
        if self._latest:
            by_key = self._by_key
            key = change.key
            if key in by_key:
                del by_key[key]
                by_key[key] = change
                self._conflated += 1
                return None
            if len(by_key) < self._size:
                by_key[key] = change
                self._wake_reader()
                return None
        else:
            buf = self._buf
            if len(buf) < self._size:
                buf.append(change)
                if self._reader is not None:
                    self._wake_reader()
                return None
            if self._overflow == "drop_oldest":
                buf.popleft()
                buf.append(change)
                self._dropped += 1
                return None
            if self._overflow == "error":
                self._fail()
                return None
        if not wait:
            self._fail()
            return None
        return self._put_when_space(change)

    async def _receive_run(self, changes: deque[Change]) -> None:
        """Buffer ``changes`` committed together (overflow ``"block"``),
        taking each off the left: as many as there is room for at once, then
        one at a time as room is made (:meth:`receive`'s wait)."""
        buf, size, take = self._buf, self._size, changes.popleft
        while changes and not self._closed:
            room = min(size - len(buf), len(changes))
            if room > 0:
                buf.extend([take() for _ in range(room)])
                self._wake_reader()
            else:
                await self._put_when_space(take())
        changes.clear()  # closed: the rest goes nowhere

    async def _put_when_space(self, change: Change) -> None:
        try:
            while self._buffered() >= self._size and not self._closed:
                self._space = space = anyio.Event()
                await space.wait()
        except BaseException:
            self._fail()  # the writer was cancelled: this feed lost the change
            raise
        if self._closed:
            return
        if self._latest:
            self._by_key.pop(change.key, None)
            self._by_key[change.key] = change
        else:
            self._buf.append(change)
        self._wake_reader()

    def _buffered(self) -> int:
        return len(self._by_key) if self._latest else len(self._buf)

    def _fail(self) -> None:
        self._overflowed = True
        if self._sub is not None:
            self._sub.unsubscribe()
        self._wake_reader()

    def _wake_reader(self) -> None:
        reader = self._reader
        if reader is not None:
            self._reader = None
            reader.set()

    # -- the consumer's side -----------------------------------------------

    def __aiter__(self) -> ChangeFeed:
        return self

    async def __anext__(self) -> Change:
        while True:
            if self._replay:
                self._delivered += 1
                return self._replay.popleft()
            if self._latest:
                if self._by_key:
                    change = self._by_key.popitem(last=False)[1]
                    return self._took(change)
            else:
                buf = self._buf
                if buf:
                    change = buf.popleft()
                    return self._took(change)
            if not self._entered:
                raise RuntimeError(
                    "enter the feed before iterating: `async with store.changes(...) as feed:`"
                )
            if self._overflowed:
                raise FeedOverflow(
                    f"store {self._store!r}: this change feed (pattern"
                    f" {self.pattern.source!r}) fell more than {self._size} changes behind"
                    ' with overflow="error"; consume faster, raise buffer, or choose'
                    ' overflow="block", "drop_oldest" or "latest_per_key"'
                )
            if self._closed:
                raise StopAsyncIteration
            self._reader = reader = anyio.Event()
            await reader.wait()

    def take(self, limit: int) -> list[Change]:
        """Up to ``limit`` changes the feed holds already (its replay first), without waiting.

        ``[]`` when it holds none: iterate to wait for the next change (and
        to see the feed's end or its :class:`~pepperflow.FeedOverflow`). A
        batching consumer takes what is there in one call.
        """
        out: list[Change] = []
        replay = self._replay
        while replay and len(out) < limit:
            out.append(replay.popleft())
        if self._latest:
            by_key = self._by_key
            while by_key and len(out) < limit:
                out.append(by_key.popitem(last=False)[1])
        else:
            buf = self._buf
            out.extend([buf.popleft() for _ in range(min(limit - len(out), len(buf)))])
        if out:
            self._delivered += len(out)
            space = self._space
            if space is not None:
                self._space = None
                space.set()
        return out

    def _took(self, change: Change) -> Change:
        self._delivered += 1
        space = self._space
        if space is not None:
            self._space = None
            space.set()
        return change

    # -- as an observable ----------------------------------------------------

    async def subscribe_async(
        self,
        send: Callable[[Change], Awaitable[None]] | AsyncObserver[Change] | None = None,
        throw: Callable[[Exception], Awaitable[None]] | None = None,
        close: Callable[[], Awaitable[None]] | None = None,
    ) -> AsyncDisposable:
        """Deliver this feed's changes to an observer, in the writers' tasks.

        See the module docstring. Raises ``anyio.ClosedResourceError`` when
        the store is closed, ``ValueError`` for an overflow other than
        ``"block"``.
        """
        observer = as_observer(send, throw, close)
        if self._overflow != "block":
            raise ValueError(
                f"store {self._store!r}: overflow={self._overflow!r} applies to"
                " iterating a feed; subscribe_async delivers in the writer's task"
                ' (overflow="block"); to buffer, pipe the feed through an operator that'
                " buffers, e.g. pepperflow.streams.latest_per_key"
            )
        feed = ObserverFeed(self._attach, self._store, self.pattern.source, self.replay, observer)
        await feed.start()
        return SyncDisposable(feed.close)

    def __repr__(self) -> str:
        return f"<ChangeFeed {self.pattern.source!r} on store {self._store!r}>"
