"""Delivery of committed changes to callbacks and feeds, in commit order.

A store commits a write synchronously (state, seq, change), then awaits
:meth:`ChangeHub.publish`. The hub finds the subscriptions whose pattern
matches (at commit time, so a feed opened later never receives an older
change twice) and delivers to each, in registration order, before the write
returns.

Ordering under concurrency: one task at a time delivers. A writer that
commits while another task is delivering queues its changes and waits until
they have been delivered; the delivering task drains the queue in commit
order. A write made from inside a callback queues its change and returns at
once (waiting would deadlock); its change is delivered right after the
current one.

Feeds (:mod:`pepperflow.stores.feed`) are subscriptions the hub owns: it
registers them (:meth:`ChangeHub.add_feed`), forgets them when they
unsubscribe, and ends them when the store closes
(:meth:`ChangeHub.close_feeds`). A feed only calls public methods of its
:class:`Subscription`; the hub never reaches into a feed's state.

Cancellation: a change that was committed reaches every subscriber even if
its writer is cancelled while delivering: the rest is delivered under a
shield. Under that shield a feed whose buffer is full is not waited for; it
is failed with :class:`~pepperflow.FeedOverflow` instead, so a cancelled
writer never hangs on a stalled consumer. A callback runs in the writer's
task, so one that is awaiting when the writer is cancelled sees that
cancellation (it was called with the change; a consumer that must process
every change to the end reads a feed).
"""

from __future__ import annotations

import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

import anyio

from .._log_fields import change_fields
from .._patterns import Pattern
from ..streams.events import Change
from ._index import SubscriptionIndex

__all__ = ["ChangeHub", "Deliver", "Feed", "Subscription"]

logger = logging.getLogger("pepperflow")

#: ``deliver(change, wait)`` returns None when done, or an awaitable to await.
#: With ``wait=False`` it must not return an awaitable that blocks on a consumer.
Deliver = Callable[[Change, bool], "Awaitable[None] | None"]


class Feed(Protocol):
    """What the hub needs of a feed it owns (:class:`~pepperflow.stores.ChangeFeed`)."""

    pattern: Pattern
    #: Whether the store hands it the current state first (see ``attach``).
    replay: bool
    #: ``True``: the hub awaits ``receive(change)``; ``False``: ``receive`` is a :data:`Deliver`.
    awaits: bool

    @property
    def receive(self) -> Callable[..., Any]:
        """Take one change (see ``awaits``)."""

    def attach(self, subscription: Subscription, replay: Iterable[Change]) -> None:
        """The store subscribed the feed; ``replay`` (the current state) comes first."""

    def store_closed(self) -> bool:
        """The store closed: stop; return whether :meth:`end` must be awaited now."""

    async def end(self) -> None:
        """Tell the consumer the store closed (only when :meth:`store_closed` said so)."""


# The hubs the current context is delivering for (to detect re-entrant writes).
_delivering: ContextVar[tuple[ChangeHub, ...]] = ContextVar("pepperflow_delivering", default=())


class Subscription:
    """A registered callback or feed; :meth:`unsubscribe` removes it.

    Also a context manager: ``with store.subscribe("user:", on_change): ...``
    unsubscribes on exit. Unsubscribing twice is harmless.
    """

    __slots__ = ("active", "callback", "feed", "hub", "is_async", "order", "pattern")

    def __init__(
        self,
        hub: ChangeHub,
        pattern: Pattern,
        order: int,
        callback: Any,
        is_async: bool,
        feed: Feed | None = None,
    ) -> None:
        self.pattern = pattern
        self.order = order
        self.active = True
        #: ``await callback(change)`` when ``is_async``, else a :data:`Deliver`.
        self.callback = callback
        self.is_async = is_async
        #: The feed this subscription serves, if it is one.
        self.feed = feed
        #: The hub that delivers to it.
        self.hub = hub

    def unsubscribe(self) -> None:
        """Stop delivering to this subscription (changes already queued are dropped)."""
        if self.active:
            self.active = False
            self.hub._remove(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.unsubscribe()

    def __repr__(self) -> str:
        state = "active" if self.active else "unsubscribed"
        return f"<Subscription {self.pattern.source!r} {state}>"


_CACHE_SIZE = 4096  # keys whose matching subscriptions are remembered


class ChangeHub:
    """The subscriptions of one store and the ordered delivery to them.

    ``count`` is the number of subscriptions (stores skip publishing at 0).
    Matches are cached per key (bounded, cleared when subscriptions change),
    so a write to a hot key finds its subscribers in one dict lookup.
    """

    __slots__ = (
        "_busy",
        "_cache",
        "_index",
        "_order",
        "_pending",
        "callback_errors",
        "count",
        "feeds",
        "store",
    )

    def __init__(self, store: str) -> None:
        self.store = store
        self.count = 0
        self.callback_errors = 0
        #: The feeds subscribed now (each also counted in ``count``).
        self.feeds: set[Feed] = set()
        self._index: SubscriptionIndex[Subscription] = SubscriptionIndex()
        self._cache: dict[str, list[Subscription]] = {}
        self._order = 0
        self._busy = False
        self._pending: deque[tuple[Change, list[Subscription], anyio.Event | None]] = deque()

    def subscribe(self, pattern: Pattern, callback: Callable[[Change], Any]) -> Subscription:
        """Register a user callback (a function or a coroutine function)."""
        if _is_async_callable(callback):
            return self._add(pattern, callback, True)
        return self._add(pattern, _sync_deliver(callback), False)

    def add_feed(self, feed: Feed) -> Subscription:
        """Register ``feed`` (its ``receive`` never raises) until it unsubscribes."""
        self.feeds.add(feed)
        return self._add(feed.pattern, feed.receive, feed.awaits, feed)

    def close_feeds(self) -> list[Feed]:
        """End every feed (the store closed); return those whose :meth:`Feed.end` is due."""
        feeds, self.feeds = list(self.feeds), set()
        return [feed for feed in feeds if feed.store_closed()]

    @property
    def subscriptions(self) -> int:
        """The callbacks subscribed now (feeds not counted)."""
        return self.count - len(self.feeds)

    def delivering_here(self) -> bool:
        """Whether the current task is delivering this hub's changes (a write from a callback)."""
        return self in _delivering.get()

    @contextmanager
    def delivering(self) -> Iterator[None]:
        """Writes made inside this block queue their changes instead of waiting for them."""
        token = _delivering.set((*_delivering.get(), self))
        try:
            yield
        finally:
            _delivering.reset(token)

    def _add(
        self, pattern: Pattern, callback: Any, is_async: bool, feed: Feed | None = None
    ) -> Subscription:
        self._order += 1
        sub = Subscription(self, pattern, self._order, callback, is_async, feed)
        self._index.add(sub)
        self._cache.clear()
        self.count += 1
        return sub

    def _remove(self, sub: Subscription) -> None:
        self._index.remove(sub)
        self._cache.clear()
        self.count -= 1
        if sub.feed is not None:
            self.feeds.discard(sub.feed)

    def _match(self, key: str) -> list[Subscription]:
        cache = self._cache
        subs = cache.get(key)
        if subs is None:
            subs = self._index.match(key)
            if len(cache) >= _CACHE_SIZE:
                cache.clear()
            cache[key] = subs
        return subs

    def _log_error(self, change: Change, exc: Exception) -> None:
        self.callback_errors += 1
        logger.error(
            "store %r: a change callback failed on key %r (seq %d); the write and the"
            " other subscribers are unaffected",
            self.store,
            change.key,
            change.seq,
            exc_info=exc,
            extra=change_fields(change),
        )

    async def publish(self, change: Change) -> None:
        """Deliver one committed change to its subscribers before returning."""
        subs = self._cache.get(change.key)
        if subs is None:
            subs = self._match(change.key)
        if not subs:
            return
        if self._busy:
            await self._enqueue([(change, subs)])
            return
        self._busy = True
        try:
            if len(subs) == 1 and subs[0].is_async and subs[0].active:
                # The common case, without a layer: one async callback.
                sub = subs[0]
                token = _delivering.set((*_delivering.get(), self))
                try:
                    await sub.callback(change)
                except Exception as exc:
                    self._log_error(change, exc)
                finally:
                    _delivering.reset(token)
            else:
                await self._deliver(change, subs, True)
            if self._pending:
                await self._drain()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._drain(wait=False)
            raise
        finally:
            self._busy = False

    async def publish_all(self, changes: Sequence[Change]) -> None:
        """Deliver changes committed together, in order, before returning."""
        match = self._match
        batch = [(change, subs) for change in changes if (subs := match(change.key))]
        if not batch:
            return
        if self._busy:
            await self._enqueue(batch)
            return
        # Not busy, so nothing is pending: queue all but the first, then
        # deliver the first as one change; publish drains the rest after it.
        self._pending.extend((change, subs, None) for change, subs in batch[1:])
        await self.publish(batch[0][0])

    async def _enqueue(self, batch: list[tuple[Change, list[Subscription]]]) -> None:
        pending = self._pending
        if self in _delivering.get():
            # A write from inside one of our callbacks: delivered right after.
            pending.extend((change, subs, None) for change, subs in batch)
            return
        done = anyio.Event()
        last = len(batch) - 1
        pending.extend(
            (change, subs, done if i == last else None) for i, (change, subs) in enumerate(batch)
        )
        # If this wait is cancelled, the delivering task still delivers them.
        await done.wait()

    async def _drain(self, wait: bool = True) -> None:
        pending = self._pending
        while pending:
            change, subs, done = pending[0]
            try:
                await self._deliver(change, subs, wait)
            finally:
                pending.popleft()
                if done is not None:
                    done.set()

    async def _deliver(self, change: Change, subs: list[Subscription], wait: bool) -> None:
        token = None
        try:
            for sub in subs:
                if not sub.active:
                    continue
                try:
                    if sub.is_async:
                        if token is None:
                            token = _delivering.set((*_delivering.get(), self))
                        await sub.callback(change)
                    else:
                        result = sub.callback(change, wait)
                        if result is not None:
                            if token is None:
                                token = _delivering.set((*_delivering.get(), self))
                            await result
                except Exception as exc:
                    self._log_error(change, exc)
                except BaseException:
                    # Cancelled: the rest of this change still goes out.
                    rest = subs[subs.index(sub) + 1 :]
                    with anyio.CancelScope(shield=True):
                        await self._deliver(change, rest, wait=False)
                    raise
        finally:
            if token is not None:
                _delivering.reset(token)


def _is_async_callable(callback: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(
        getattr(callback, "__call__", None)  # noqa: B004 - an object with an async __call__
    )


def _sync_deliver(callback: Callable[[Change], Any]) -> Deliver:
    """Adapt a sync callback; a returned awaitable is awaited too."""

    def deliver(change: Change, wait: bool) -> Awaitable[None] | None:
        result = callback(change)
        if result is not None and inspect.isawaitable(result):
            return result
        return None

    return deliver
