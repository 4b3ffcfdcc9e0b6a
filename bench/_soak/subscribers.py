"""The subscribers of a soak child, each folding what it receives into a state.

Every subscriber starts from a replay of the state and then applies each
change it receives with :func:`pepperflow.streams.events.apply`, checking
that the ``seq`` only grows. At the end its state must equal the store's
snapshot (the keys its pattern matches), entry for entry.

- callbacks (``store.subscribe``, one synchronous, one async): they have no
  replay of their own, so each subscribes first, then takes a snapshot as
  its replay and applies only the changes after the snapshot's ``seq``;
- feeds (``store.changes(replay=True)``) read by a task with ``async for``,
  one with a small buffer (the writers wait for its reader);
- an observer (``store.changes(replay=True).subscribe_async``), awaited by
  the writers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import anyio.lowlevel
from aioreactive import AsyncDisposable

from pepperflow._patterns import compile_pattern
from pepperflow.stores import ChangeFeed, Entry, Snapshot, Store
from pepperflow.streams import Change, SetChange
from pepperflow.streams.events import apply

from .protocol import SubscriberVerdict

__all__ = ["Subscribers"]

EXAMPLES = 3  # mismatches a verdict quotes


class Subscriber:
    """A folded state of the changes of the keys ``pattern`` matches."""

    def __init__(self, name: str, pattern: str | None) -> None:
        self.name = name
        self.pattern = pattern
        self.match: Callable[[str], bool] = compile_pattern(pattern).match
        self.state: dict[str, SetChange[Any, Any]] = {}
        self.received = 0
        self.last_seq = 0
        self.out_of_order = 0
        self.ended = ""

    def take(self, change: Change) -> None:
        """Apply one change received, counting a ``seq`` that did not grow."""
        self.received += 1
        if change.seq <= self.last_seq:
            self.out_of_order += 1
        self.last_seq = max(self.last_seq, change.seq)
        apply(self.state, change)

    def caught_up(self, seq: int) -> bool:
        """Whether it holds every change up to ``seq`` (as far as it can tell)."""
        return self.pattern is not None or self.last_seq >= seq

    def verdict(self, snapshot: Snapshot) -> SubscriberVerdict:
        """Its state against the entries of ``snapshot`` its pattern matches."""
        expected = {entry.key: entry for entry in snapshot.entries if self.match(entry.key)}
        wrong = [
            problem
            for key in sorted(expected.keys() | self.state.keys())
            if (problem := _compare(key, self.state.get(key), expected.get(key)))
        ]
        return SubscriberVerdict(
            name=self.name,
            pattern=self.pattern or "",
            received=self.received,
            keys=len(self.state),
            expected_keys=len(expected),
            mismatched=len(wrong),
            out_of_order=self.out_of_order,
            ended=self.ended,
            examples=wrong[:EXAMPLES],
        )


def _compare(key: str, got: SetChange[Any, Any] | None, want: Entry[Any] | None) -> str:
    """What is wrong with ``key`` in a subscriber's state ("" when it is right)."""
    if got is None:
        assert want is not None
        return f"{key}: missing (the snapshot has version {want.version})"
    if want is None:
        return f"{key}: version {got.version} (seq {got.seq}) is not in the snapshot"
    entry = Entry.from_change(got)
    if entry != want:
        return f"{key}: {entry} (seq {got.seq}) but the snapshot has {want}"
    return ""


class CallbackSubscriber(Subscriber):
    """``store.subscribe(pattern, callback)``, then a snapshot as its replay."""

    def __init__(self, name: str, pattern: str | None, *, awaits: bool) -> None:
        super().__init__(name, pattern)
        self.awaits = awaits
        self._base: int | None = None  # the replay's seq, once taken
        self._early: list[Change] = []  # what came while the snapshot was read

    def _on_change(self, change: Change) -> None:
        if self._base is None:
            self._early.append(change)
        elif change.seq > self._base:
            self.take(change)

    async def _on_change_async(self, change: Change) -> None:
        await anyio.lowlevel.checkpoint()
        self._on_change(change)

    async def start(self, store: Store[Any]) -> None:
        store.subscribe(self.pattern, self._on_change_async if self.awaits else self._on_change)
        snapshot = await store.snapshot()
        for entry in snapshot.entries:
            if self.match(entry.key):
                self.state[entry.key] = _as_change(snapshot, entry)
        self.received += len(self.state)
        self.last_seq = self._base = snapshot.seq
        early, self._early = self._early, []
        for change in early:
            self._on_change(change)


def _as_change(snapshot: Snapshot, entry: Entry[Any]) -> SetChange[Any, Any]:
    """The set a snapshot's entry stands for (its seq unknown: the snapshot's)."""
    return SetChange(
        store=snapshot.store,
        key=entry.key,
        version=entry.version,
        seq=snapshot.seq,
        committed_at=entry.updated_at,
        value=entry.value,
        created_at=entry.created_at,
        metadata=entry.metadata,
        expires_at=entry.expires_at,
    )


class FeedSubscriber(Subscriber):
    """``async for change in store.changes(pattern, replay=True, buffer=...)``."""

    def __init__(self, name: str, pattern: str | None, *, buffer: int) -> None:
        super().__init__(name, pattern)
        self.buffer = buffer
        self.feed: ChangeFeed | None = None

    async def run(
        self,
        store: Store[Any],
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            async with store.changes(self.pattern, replay=True, buffer=self.buffer) as feed:
                self.feed = feed
                task_status.started()
                async for change in feed:
                    self.take(change)
            self.ended = "the feed ended"
        except Exception as error:
            self.ended = f"the feed raised {error!r}"

    def caught_up(self, seq: int) -> bool:
        if self.feed is None:
            return False
        figures = self.feed.statistics()
        return figures.buffered == 0 and figures.replay_pending == 0 and super().caught_up(seq)


class ObserverSubscriber(Subscriber):
    """``await store.changes(pattern, replay=True).subscribe_async(send, throw, close)``."""

    def __init__(self, name: str, pattern: str | None) -> None:
        super().__init__(name, pattern)
        self.subscription: AsyncDisposable | None = None

    async def start(self, store: Store[Any]) -> None:
        feed = store.changes(self.pattern, replay=True)
        self.subscription = await feed.subscribe_async(self._send, self._throw, self._close)

    async def _send(self, change: Change) -> None:
        self.take(change)

    async def _throw(self, error: Exception) -> None:
        self.ended = f"the observer got athrow({error!r})"

    async def _close(self) -> None:
        self.ended = "the observer got aclose()"


class Subscribers:
    """The subscribers of one child: every kind, over several patterns."""

    def __init__(self) -> None:
        self.callback = CallbackSubscriber("callback", None, awaits=False)
        self.async_callback = CallbackSubscriber("async callback k:", "k:", awaits=True)
        self.feed = FeedSubscriber("feed", None, buffer=1024)
        self.small_feed = FeedSubscriber("feed [kt]:1* (buffer 8)", "[kt]:1*", buffer=8)
        self.observer = ObserverSubscriber("observer c:", "c:")
        self.all: list[Subscriber] = [
            self.callback,
            self.async_callback,
            self.feed,
            self.small_feed,
            self.observer,
        ]

    async def start(self, store: Store[Any], tasks: anyio.abc.TaskGroup) -> None:
        """Subscribe every one; each has its replay point when this returns."""
        await self.callback.start(store)
        await self.async_callback.start(store)
        await tasks.start(self.feed.run, store)
        await tasks.start(self.small_feed.run, store)
        await self.observer.start(store)

    @property
    def received(self) -> int:
        return sum(subscriber.received for subscriber in self.all)

    def caught_up(self, seq: int) -> bool:
        """Whether every subscriber holds the changes up to ``seq``.

        The all-keys subscribers must have reached ``seq``; a subscriber to a
        pattern cannot tell, but it is delivered in the same order as they are,
        so it is caught up once they are and its feed's buffer is empty.
        """
        return all(subscriber.caught_up(seq) for subscriber in self.all)

    def verdicts(self, snapshot: Snapshot) -> list[SubscriberVerdict]:
        return [subscriber.verdict(snapshot) for subscriber in self.all]
