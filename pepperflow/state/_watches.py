"""The subscriptions of a shared state manager: by key or by pattern, each a callback.

A :class:`Watch` is one subscription; once the manager's store takes
subscriptions it is attached to the store (``store.subscribe(key,
watch.deliver, exact=True)``, or the pattern), so the store awaits it, in
commit order, before a write returns. :class:`Watches` keeps a manager's
watches in the order they were made and attaches them when the store opens
(or is replaced after a failed open).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from ..sinks.metrics._meter import Meter, measured
from ..stores.base import Store
from ..streams.events import Change, SetChange

__all__ = ["StateCallback", "Watch", "Watches"]

#: A subscriber: called with ``(key, value)`` on a set and ``(key, None)`` on
#: a delete or an expiry; a function or a coroutine function.
StateCallback = Callable[[str, Any], "Awaitable[None] | None"]


class Watch:
    """One subscription: exactly ``key`` (or every key matching ``pattern``) and a callback.

    Each call of the callback is recorded in ``meter`` as the operation
    ``notify``; what the callback raises propagates to the store, which
    logs and counts it (``statistics().callback_errors``).
    """

    __slots__ = ("callback", "key", "meter", "pattern", "subscription")

    def __init__(
        self, key: str | None, pattern: str | None, callback: StateCallback, meter: Meter
    ) -> None:
        self.key = key
        self.pattern = pattern
        self.callback = callback
        self.meter = meter
        self.subscription: Any = None  # the store's, once attached

    def attach(self, store: Store[Any]) -> None:
        """Subscribe to ``store``'s changes (again, for a fresh store)."""
        if self.key is not None:
            self.subscription = store.subscribe(self.key, self.deliver, exact=True)
        else:
            self.subscription = store.subscribe(self.pattern, self.deliver)

    def detach(self) -> None:
        """Unsubscribe from the store, if attached."""
        if self.subscription is not None:
            self.subscription.unsubscribe()

    def describe(self) -> tuple[str, str, StateCallback]:
        """``("key", key, callback)`` or ``("pattern", pattern, callback)``."""
        if self.key is not None:
            return ("key", self.key, self.callback)
        return ("pattern", self.pattern or "", self.callback)

    async def deliver(self, change: Change) -> None:
        """Call back on ``change`` (of the watched key, or of a key matching the pattern)."""
        await self.notify(change.key, change.value if type(change) is SetChange else None)

    @measured("notify")
    async def notify(self, key: str, value: Any) -> None:
        """Call the callback with ``(key, value)``; await what it returns, if awaitable."""
        result = self.callback(key, value)
        if inspect.isawaitable(result):
            await result


class Watches:
    """A shared manager's watches, oldest first, attached to its store when it takes them."""

    __slots__ = ("_watches",)

    def __init__(self) -> None:
        self._watches: list[Watch] = []

    def add(self, watch: Watch, store: Store[Any] | None) -> None:
        """Keep ``watch``; attach it now to ``store`` unless that is ``None`` (not open yet)."""
        self._watches.append(watch)
        if store is not None:
            watch.attach(store)

    def remove(self, key: str | None, pattern: str | None, callback: StateCallback) -> bool:
        """Remove (and detach) the oldest watch of ``callback`` on ``key`` or ``pattern``.

        Returns whether there was one.
        """
        for i, watch in enumerate(self._watches):
            same = watch.key == key and (key is not None or watch.pattern == pattern)
            if same and watch.callback == callback:
                del self._watches[i]
                watch.detach()
                return True
        return False

    def attach_all(self, store: Store[Any]) -> None:
        """Attach every watch not attached yet to ``store`` (the store just opened)."""
        for watch in self._watches:
            if watch.subscription is None:
                watch.attach(store)

    def describe(self) -> list[tuple[str, str, StateCallback]]:
        """Every watch as :meth:`Watch.describe` says, oldest first."""
        return [watch.describe() for watch in self._watches]
