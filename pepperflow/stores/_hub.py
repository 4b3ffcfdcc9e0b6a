"""Subscriptions and feeds of one store, and the entry points of their delivery.

A store commits a write synchronously (state, seq, change), then awaits
:meth:`ChangeHub.publish`. The hub finds the subscriptions whose pattern
matches (at commit time, so a feed opened later never receives an older
change twice) and delivers to each, in registration order, before the write
returns. Who delivers, who waits for what, cancellation, a stuck callback
and ``callback_timeout``: :mod:`pepperflow.stores._delivery`, whose
:class:`~pepperflow.stores._delivery.Deliveries` the hub extends.

Feeds (:mod:`pepperflow.stores.feed`) are subscriptions the hub owns: it
registers them (:meth:`ChangeHub.add_feed`), forgets them when they
unsubscribe, and ends them when the store closes
(:meth:`ChangeHub.close_feeds`). A feed only calls public methods of its
:class:`Subscription`; the hub never reaches into a feed's state.
"""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, Protocol

import anyio

from .._patterns import Pattern
from ..streams._serial import delivers
from ..streams.events import Change
from ._delivery import Deliveries, Ticket
from ._index import SubscriptionIndex
from ._records import FeedFigures

__all__ = ["ChangeHub", "Deliver", "Feed", "Subscription"]

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

    def figures(self) -> FeedFigures:
        """This feed's figures now (``feeds=1``), for the store's statistics."""


class Subscription:
    """A registered callback or feed; :meth:`unsubscribe` removes it.

    Also a context manager: ``with store.subscribe("user:", on_change): ...``
    unsubscribes on exit. Unsubscribing twice is harmless.
    """

    __slots__ = (
        "active",
        "batch",
        "callback",
        "direct",
        "feed",
        "hub",
        "is_async",
        "name",
        "order",
        "pattern",
        "timeout",
    )

    def __init__(
        self,
        hub: ChangeHub,
        pattern: Pattern,
        order: int,
        callback: Any,
        is_async: bool,
        feed: Feed | None = None,
        name: str = "",
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
        #: The user's callback, as log records name it.
        self.name = name
        #: Seconds each call may take (the store's ``callback_timeout``; never a feed's).
        self.timeout = None if feed is not None else hub.callback_timeout
        #: Awaited as it is: async, with no timeout.
        self.direct = is_async and self.timeout is None
        #: ``await batch(changes)`` takes changes committed together in one
        #: call (it never raises), each taken off the deque's left as it is
        #: delivered (what is left was not); a feed may set it. None: one
        #: change at a time.
        self.batch: Callable[[deque[Change]], Awaitable[None]] | None = None

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
        exact = ", exact" if self.pattern.exact else ""
        return f"<Subscription {self.pattern.source!r}{exact} {state}>"


class ChangeHub(Deliveries):
    """The subscriptions of one store and the ordered delivery to them.

    ``count`` is the number of subscriptions (stores skip publishing at 0).
    A write finds its subscribers through the index of their patterns'
    literal heads (:mod:`pepperflow.stores._index`), at a cost that does not
    grow with the number of keys or of subscriptions on other heads.
    ``callback_timeout``: see :mod:`pepperflow.stores._delivery`.
    """

    __slots__ = ("_index", "_order", "_retired", "count", "everyone", "feeds", "find", "firsts")

    def __init__(self, store: str, callback_timeout: float | None = None) -> None:
        super().__init__(store, callback_timeout)
        self.count = 0
        #: The feeds subscribed now (each also counted in ``count``).
        self.feeds: set[Feed] = set()
        self._index: SubscriptionIndex[Subscription] = SubscriptionIndex()
        #: ``find(key)``: the subscriptions matching ``key`` now (a list not to change).
        self.find = self._index.match
        #: ``key[:1] in firsts`` or ``firsts is None`` when ``find(key)`` may find any.
        self.firsts = self._index.firsts
        #: Every subscription, when each matches every key (no pattern, or ""):
        #: then no key needs looking up (``everyone or find(key)``). A new list
        #: whenever they change, so a change queued with it keeps the
        #: subscribers of its commit.
        self.everyone: list[Subscription] | None = None
        self._order = 0
        # What feeds that unsubscribed dropped, by overflow policy.
        self._retired: dict[str, FeedFigures] = {}

    def subscribe(self, pattern: Pattern, callback: Callable[[Change], Any]) -> Subscription:
        """Register a user callback (a function or a coroutine function)."""
        name = _name_of(callback)
        if _is_async_callable(callback):
            return self._add(pattern, callback, True, name=name)
        return self._add(pattern, _sync_deliver(callback), False, name=name)

    def add_feed(self, feed: Feed) -> Subscription:
        """Register ``feed`` (its ``receive`` never raises) until it unsubscribes."""
        self.feeds.add(feed)
        return self._add(feed.pattern, feed.receive, feed.awaits, feed, repr(feed))

    def close_feeds(self) -> list[Feed]:
        """End every feed (the store closed); return those whose :meth:`Feed.end` is due."""
        feeds, self.feeds = list(self.feeds), set()
        return [feed for feed in feeds if feed.store_closed()]

    @property
    def subscriptions(self) -> int:
        """The callbacks subscribed now (feeds not counted)."""
        return self.count - len(self.feeds)

    def _add(
        self,
        pattern: Pattern,
        callback: Any,
        is_async: bool,
        feed: Feed | None = None,
        name: str = "",
    ) -> Subscription:
        self._order += 1
        sub = Subscription(self, pattern, self._order, callback, is_async, feed, name)
        self._index.add(sub)
        self.count += 1
        self._changed()
        return sub

    def _remove(self, sub: Subscription) -> None:
        self._index.remove(sub)
        self.count -= 1
        self._changed()
        if sub.feed is not None:
            self.feeds.discard(sub.feed)
            gone = sub.feed.figures()
            self._retired[gone.overflow] = _add_figures(
                self._retired.get(gone.overflow), gone, feeds=0, lag=0
            )

    def feed_figures(self) -> tuple[FeedFigures, ...]:
        """The feeds' figures by overflow policy: open ones now, closed ones' drops."""
        by_policy = dict(self._retired)
        for feed in self.feeds:
            now = feed.figures()
            old = by_policy.get(now.overflow)
            lag = now.lag if old is None else max(old.lag, now.lag)
            feeds = now.feeds if old is None else old.feeds + now.feeds
            by_policy[now.overflow] = _add_figures(old, now, feeds=feeds, lag=lag)
        return tuple(by_policy[policy] for policy in sorted(by_policy))

    def _changed(self) -> None:
        """The subscriptions changed: see whether each matches every key."""
        everyone = self._index.match("")  # the subscriptions matching the empty key...
        # ...match every key when there are no others (each is a prefix pattern "").
        self.everyone = everyone if everyone and len(everyone) == self.count else None
        self.find = self._index.match  # made anew for the index's shape
        self.firsts = self._index.firsts

    def _match(self, key: str) -> list[Subscription]:
        return self.everyone or self.find(key)

    def wanted(self, key: str) -> bool:
        """Whether a change of ``key`` has subscribers now."""
        return bool(self._match(key))

    async def publish(self, change: Change) -> None:
        """Deliver one committed change to its subscribers before returning."""
        rest = self.publish_now(change)
        if rest is not None:
            await rest

    def publish_now(self, change: Change) -> Coroutine[Any, Any, None] | None:
        """Begin :meth:`publish`: ``None`` once the change is delivered, else
        the coroutine that delivers it, to await before the write returns.

        The writers' fast path: when nothing is being delivered and the
        change's one subscriber takes it without waiting (a feed with room
        in its buffer, a sync callback), it is delivered here, in order, with
        no coroutine made.
        """
        subs = self.everyone or self.find(change.key)
        if not subs:
            return None
        return self.deliver_now(change, subs)

    def deliver_now(
        self, change: Change, subs: list[Subscription]
    ) -> Coroutine[Any, Any, None] | None:
        """:meth:`publish_now` of a change whose subscribers ``subs`` (not
        empty) the writer found itself (``everyone or find(key)``)."""
        if self._busy:
            return self._enqueue([(change, subs)])
        started = None
        if len(subs) == 1 and not subs[0].is_async and subs[0].active and not self._pending:
            sub = subs[0]
            try:
                started = sub.callback(change, True)
            except Exception as exc:
                self._log_error(change, sub, exc)
                return None
            if started is None:
                return None  # delivered
        return self._publish(change, subs, started)

    @delivers
    async def _publish(
        self, change: Change, subs: list[Subscription], started: Awaitable[None] | None
    ) -> None:
        """Deliver ``change`` holding the role (``started``: what its one sync
        subscriber returned to await), then the changes queued meanwhile."""
        self._busy = True
        gate = self  # from here on this frame delivers (delivering_here)
        try:
            if started is None and len(subs) == 1 and subs[0].direct and subs[0].active:
                # The common case, without a layer: one async callback.
                sub = subs[0]
                try:
                    await sub.callback(change)
                except Exception as exc:
                    gate._log_error(change, sub, exc)
            else:
                await self._deliver(change, subs, None, True, started)
            if self._pending:
                await self._run(None)
            else:
                self._busy = False
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._hand_off()
            raise

    @delivers
    async def _publish_batch(self, changes: deque[Change], subs: list[Subscription]) -> None:
        """Deliver ``changes`` to their one subscriber in one call of its
        ``batch``, holding the role; cancelled, what it did not take is
        queued first, and goes on without this task."""
        self._busy = True
        gate = self  # from here on this frame delivers (delivering_here)
        batch = subs[0].batch
        try:
            if subs[0].active and batch is not None:
                await batch(changes)
            if gate._pending:
                await self._run(None)
            else:
                self._busy = False
        except BaseException:
            if changes:
                self._pending.extendleft(reversed([(change, subs, None) for change in changes]))
            with anyio.CancelScope(shield=True):
                await self._hand_off()
            raise

    async def publish_all(self, changes: Sequence[Change]) -> None:
        """Deliver changes committed together, in order, before returning."""
        everyone, idle = self.everyone, not (self._busy or self._pending)
        if idle and changes and everyone and len(everyone) == 1 and everyone[0].batch:
            # One feed of every key, nothing queued: it takes them all in one call.
            await self._publish_batch(deque(changes), everyone)
            return
        match = self._match
        batch = [(change, subs) for change in changes if (subs := match(change.key))]
        if not batch:
            return
        if self._busy:
            await self._enqueue(batch)
            return
        subs = batch[0][1]
        one = subs[0].batch is not None and len(subs) == 1 and not self._pending
        if one and all(theirs is subs for _, theirs in batch):  # one subscriber takes them all
            await self._publish_batch(deque([change for change, _ in batch]), subs)
            return
        # Not busy: queue all but the first, then deliver the first as one
        # change; publish delivers the rest after it.
        self._pending.extend((change, subs, None) for change, subs in batch[1:])
        await self.publish(batch[0][0])

    async def _enqueue(self, batch: list[tuple[Change, list[Subscription]]]) -> None:
        if self.delivering_here():
            # A write from inside one of our callbacks: delivered in its turn.
            self._pending.extend((change, subs, None) for change, subs in batch)
            return
        ticket = Ticket(len(batch), 1)
        self._pending.extend((change, subs, ticket) for change, subs in batch)
        await self.wait(ticket)


def _name_of(callback: Callable[..., Any]) -> str:
    """How log records name a callback: its qualified name, else its repr."""
    name = getattr(callback, "__qualname__", None)
    if isinstance(name, str):
        module = getattr(callback, "__module__", None)
        return f"{module}.{name}" if isinstance(module, str) else name
    return repr(callback)


def _add_figures(old: FeedFigures | None, new: FeedFigures, feeds: int, lag: int) -> FeedFigures:
    """``old``'s drops and overflows plus ``new``'s, with these ``feeds`` and ``lag``."""
    dropped, overflowed = (0, 0) if old is None else (old.dropped, old.overflowed)
    return FeedFigures(new.overflow, feeds, lag, dropped + new.dropped, overflowed + new.overflowed)


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
