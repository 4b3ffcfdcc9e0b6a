"""One observer subscribed to a store's changes (``feed.subscribe_async(observer)``).

The store attaches it like any feed (so every backend's replay point
applies); the hub awaits :meth:`ObserverFeed.receive` (once the replay is
done, the feed's send itself), which awaits the observer's ``asend`` in the
writer's task (backpressure). While the replay
runs (in the subscriber's task), changes committed meanwhile queue behind
it and their writers wait; a write made by the observer itself during the
replay is queued without waiting.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar

import anyio
from aioreactive import AsyncObserver

from .._patterns import compile_pattern
from ..streams._core import TakesRuns, close_to, throw_to
from ..streams.events import Change
from ._hub import Feed, Subscription
from ._records import FeedFigures

__all__ = ["ObserverFeed"]

# The observer feed whose replay the current task is running.
_replaying: ContextVar[ObserverFeed | None] = ContextVar("pepperflow_replaying", default=None)


class ObserverFeed:
    """A feed that sends each change to an aioreactive observer; see the module docstring."""

    #: The hub awaits :meth:`receive`.
    awaits = True

    def __init__(
        self,
        attach: Callable[[Feed], Awaitable[None]],
        store: str,
        pattern: str,
        replay: bool,
        observer: AsyncObserver[Change],
    ) -> None:
        self.pattern = compile_pattern(pattern)
        self.replay = replay
        self._attach = attach
        self._store = store
        self._observer = observer
        # The observer's way to take a run of changes in one call, if it has one.
        self._runs = observer.asend_from if isinstance(observer, TakesRuns) else None
        self._sub: Subscription | None = None
        self._live = False  # the replay is done: deliver directly
        self._ended = False  # unsubscribed, failed or closed: nothing more goes out
        self._sending = False
        self._run: deque[Change] | None = None  # the run being sent, while it is
        self._close_pending = False  # the store closed during an asend
        self._pending: deque[Change] = deque()
        self._drained: anyio.Event | None = None

    async def start(self) -> None:
        """Subscribe, then send the replay and what was committed meanwhile."""
        await self._attach(self)
        assert self._sub is not None
        pending = self._pending
        # Writes the observer makes during the replay are queued, not waited for:
        # by this feed (_replaying) and by the hub, if it is busy (delivering()).
        replaying = _replaying.set(self)
        try:
            with self._sub.hub.delivering():
                while pending and not self._ended:
                    await self._send(pending.popleft())
        except BaseException:
            self.close()
            raise
        finally:
            _replaying.reset(replaying)
            pending.clear()
            self._live = True
            # Live: the hub awaits _send itself, one coroutine less a change
            # (receive's live path, measured: ~5% of a store -> filter -> map event).
            self._sub.callback = self._send
            self._sub.batch = self._send_all
            if self._drained is not None:
                self._drained.set()
                self._drained = None

    def attach(self, subscription: Subscription, replay: Iterable[Change]) -> None:
        """Called by the store: the feed is subscribed, ``replay`` comes first."""
        self._sub = subscription
        self._pending.extendleft(reversed(list(replay)))  # before any early live change

    async def receive(self, change: Change) -> None:
        """Send ``change`` to the observer, behind the replay while it runs."""
        if self._ended:
            return
        if self._live:
            await self._send(change)
            return
        self._pending.append(change)
        if _replaying.get() is not self:
            await self._wait_for_replay()  # behind the replay, in order

    async def _wait_for_replay(self) -> None:
        if self._drained is None:
            self._drained = anyio.Event()
        await self._drained.wait()

    async def _send(self, change: Change) -> None:
        if self._ended:
            return
        self._sending = True
        try:
            await self._observer.asend(change)
        except Exception as exc:
            self.close()
            await throw_to(self._observer, exc)
        finally:
            self._sending = False
        if self._close_pending:
            self._close_pending = False
            await close_to(self._observer)

    async def _send_all(self, changes: deque[Change]) -> None:
        """Send ``changes`` committed together, taking each off the left as it
        goes: in one call when the observer takes runs (a fused map/filter)."""
        runs = self._runs
        if runs is None:
            send = self._send
            while changes:
                await send(changes.popleft())
            return
        self._sending, self._run = True, changes  # close() empties it: the rest dropped
        try:
            await runs(changes)
        except Exception as exc:
            self.close()
            await throw_to(self._observer, exc)
        finally:
            self._sending, self._run = False, None
        if self._close_pending:
            self._close_pending = False
            await close_to(self._observer)

    def close(self) -> None:
        """Unsubscribe, without telling the observer."""
        self._ended = True
        if self._run is not None:
            self._run.clear()
        if self._sub is not None:
            self._sub.unsubscribe()
        if self._drained is not None:
            self._drained.set()
            self._drained = None

    def store_closed(self) -> bool:
        """Unsubscribe; return whether the store must now await :meth:`end`.

        During an ``asend`` the observer's ``aclose`` follows that ``asend``
        instead (False).
        """
        if self._ended:
            return False
        self.close()
        if self._sending:
            self._close_pending = True
            return False
        return True

    async def end(self) -> None:
        """Tell the observer the store closed."""
        await close_to(self._observer)

    def figures(self) -> FeedFigures:
        """This feed's figures now: it buffers only what waits behind its replay."""
        return FeedFigures("block", 1, 0 if self._live else len(self._pending))

    def __repr__(self) -> str:
        return f"<ObserverFeed {self.pattern.source!r} on store {self._store!r}>"
