"""Cancelled at any await, writes, replays and acquires leave every view agreeing.

Hypothesis draws a list of steps (a set, a delete, a set_many, a feed's
replay, a resource acquire or release through the resources façade) and,
for each, the suspension at which it is cancelled (:func:`cancel_after`;
``None``: it runs to the end). An async subscriber that awaits twice per
change makes the in-process stores' writes suspend too. After every step a
barrier write (uncancelled) settles what was in flight, then the test checks
that the store, its changelog and its subscribers agree:

* the changes a subscriber got are seq 1, 2, 3, ... in order, and the sync
  subscriber, the async one and a feed got the same changes;
* their fold is the store's snapshot; each key's versions count 1, 2, ...
  from its creation, and a delete or expire names the version it removed;
* a write either happened, once and delivered, or did not: each step's
  value is seen at most once (a set_many's all or none), a step that
  returned is seen, and right after it the key holds what it wrote;
* a replay gives the state at one point of the commit order; no feed or
  subscription is left behind by a cancelled one;
* a resource is active in the manager exactly when its record in the
  store is, and no acquiring or failed record is left behind;
* on SQLite, ``changes_since(0)`` (the changelog) is what subscribers got.

Every example runs on a new store: MemoryStore, SqliteStore (a new file)
and RedisStore (a new namespace on the private server), on asyncio and trio.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pepperflow import DefaultResourceManager
from pepperflow.stores import SqliteStore
from pepperflow.stores.base import Entry, Store
from pepperflow.stores.feed import ChangeFeed
from pepperflow.streams import Change, DeleteChange, SetChange, fold
from tests.support.cancelling import cancel_after
from tests.support.new_stores import NewStore
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio

KEYS = ["a", "b", "user:1", "user:2"]
PATTERNS = [None, "user:", "[ab]", "*:?"]
RESOURCES = ["db:1", "db:2"]
RECORDS = "resource:"  # the manager's key prefix
BARRIER = "barrier"

# -- the steps --------------------------------------------------------------------


class Set(msgspec.Struct, frozen=True):
    key: str
    ttl: float | None
    metadata: dict[str, int] | None
    after: int | None  # the suspension at which it is cancelled (None: never)


class Delete(msgspec.Struct, frozen=True):
    key: str
    after: int | None


class SetMany(msgspec.Struct, frozen=True):
    keys: list[str]
    after: int | None


class Replay(msgspec.Struct, frozen=True):
    pattern: str | None
    after: int | None


class Acquire(msgspec.Struct, frozen=True):
    resource: str
    after: int | None


class Release(msgspec.Struct, frozen=True):
    resource: str
    after: int | None


Step = Set | Delete | SetMany | Replay | Acquire | Release

#: The suspension to cancel at: often among an in-process write's first few
#: (its subscriber's awaits), sometimes deep into I/O, or never.
_after = st.one_of(st.none(), st.integers(0, 3), st.integers(4, 16))
_key = st.sampled_from(KEYS)
_resource = st.sampled_from(RESOURCES)
STEPS = st.lists(
    st.one_of(
        st.builds(
            Set,
            key=_key,
            ttl=st.sampled_from([None, 3600.0]),
            metadata=st.one_of(
                st.none(), st.dictionaries(st.sampled_from("xy"), st.integers(0, 3))
            ),
            after=_after,
        ),
        st.builds(Delete, key=_key, after=_after),
        st.builds(SetMany, keys=st.lists(_key, min_size=1, max_size=3, unique=True), after=_after),
        st.builds(Replay, pattern=st.sampled_from(PATTERNS), after=_after),
        st.builds(Acquire, resource=_resource, after=_after),
        st.builds(Release, resource=_resource, after=_after),
    ),
    min_size=1,
    max_size=10,
)

# -- the world: a store, its subscribers, a feed, a resource manager --------------


class World:
    """One store under test and everything that watches it."""

    def __init__(self, store: Store[Any]) -> None:
        self.store = store
        self.called: list[Change] = []  # the async subscriber's
        self.synced: list[Change] = []  # the sync subscriber's
        self.fed: list[Change] = []  # the feed's
        self.steps: list[Step] = []  # the steps issued
        self.finished: set[int] = set()  # the numbers of those that returned
        self.manager = DefaultResourceManager(store=store)

    async def on_change(self, change: Change) -> None:
        self.called.append(change)
        await anyio.lowlevel.checkpoint()  # a writer may be cancelled here ...
        await anyio.lowlevel.checkpoint()  # ... or here

    async def run(self, steps: list[Step]) -> None:
        store = self.store
        store.subscribe(None, self.on_change)
        async with store.changes(replay=True, buffer=100_000) as feed:
            store.subscribe(None, self.synced.append)
            watching = store.statistics()
            for number, step in enumerate(steps):
                self.steps.append(step)
                if await cancel_after(step.after, self.apply(number, step)):
                    self.finished.add(number)
                await self.check(number, step, feed)
                now = store.statistics()
                assert (now.feeds, now.subscriptions) == (watching.feeds, watching.subscriptions)
            await self.manager.cleanup()
            await self.manager.aclose()
            await self.check(len(steps), None, feed)
        records = [e.key for e in (await store.snapshot()).entries if e.key.startswith(RECORDS)]
        assert records == [], "the closed manager left records"

    async def apply(self, number: int, step: Step) -> None:
        store, manager = self.store, self.manager
        match step:
            case Set(key, ttl, metadata):
                await store.set(key, {"step": number}, ttl=ttl, metadata=metadata)
            case Delete(key):
                await store.delete(key)
            case SetMany(keys):
                await store.set_many({key: {"step": number, "i": i} for i, key in enumerate(keys)})
            case Replay(pattern):
                await self.replay(pattern)
            case Acquire(resource):
                await manager.acquire(resource, _factory)
            case Release(resource):
                await manager.release(resource)

    async def replay(self, pattern: str | None) -> None:
        """A replaying feed, read by a consumer that awaits between changes."""
        async with self.store.changes(pattern, replay=True) as feed:
            got: list[Change] = []
            while feed.statistics().replay_pending:
                got.append(await feed.__anext__())
                await anyio.lowlevel.checkpoint()
        match = feed.pattern.match
        states = [
            _state(c for c in self.called[:i] if match(c.key)) for i in range(len(self.called) + 1)
        ]
        assert _state(got) in states, f"replay of {pattern!r} is no state the commit order passed"
        assert [c.seq for c in got] == sorted(c.seq for c in got)

    # -- the checks ------------------------------------------------------------

    async def check(self, number: int, step: Step | None, feed: ChangeFeed) -> None:
        store = self.store
        await store.set(BARRIER, number)  # every write before it committed and delivered
        snapshot = await store.snapshot()
        await wait_until(lambda: len(self.called) >= snapshot.seq, f"seq {snapshot.seq} delivered")
        while feed.statistics().buffered:
            self.fed.append(await feed.__anext__())
        called = self.called
        assert [c.seq for c in called] == list(range(1, len(called) + 1))
        assert self.synced == called
        assert self.fed == called
        _check_versions(called)
        state = {key: Entry.from_change(c) for key, c in fold(called[: snapshot.seq]).items()}
        assert state == {e.key: e for e in snapshot.entries}
        self.check_writes()
        self.check_last(number, step, state)
        self.check_resources(state)
        if isinstance(store, SqliteStore):
            assert await store.changes_since(0) == called[: snapshot.seq]

    def check_writes(self) -> None:
        """Each step's writes are seen once, all or none; a finished step's are seen."""
        seen: dict[int, list[str]] = {}
        for change in self.called:
            value = change.value if type(change) is SetChange else None
            if isinstance(value, dict) and "step" in value:  # not a barrier or a record
                seen.setdefault(value["step"], []).append(change.key)
        for number, step in enumerate(self.steps):
            keys, wrote = sorted(seen.pop(number, [])), _keys_written(step)
            assert keys in ([], wrote), f"step {number} {step}: written for {keys}"
            if number in self.finished:
                assert keys == wrote, f"step {number} {step} returned but was not seen"
        assert not seen, f"writes of no step: {seen}"

    def check_last(self, number: int, step: Step | None, state: dict[str, Entry[Any]]) -> None:
        """Right after a set or delete returned, the key holds what it wrote."""
        if number not in self.finished:
            return
        if isinstance(step, Set):
            assert state[step.key].value == {"step": number}
            assert state[step.key].metadata == step.metadata
        elif isinstance(step, Delete):
            assert step.key not in state

    def check_resources(self, state: dict[str, Entry[Any]]) -> None:
        for resource in RESOURCES:
            record = state.get(RECORDS + resource)
            status = None if record is None else record.value["status"]
            assert status in (None, "active"), f"{resource} left a {status!r} record"
            assert (resource in self.manager) == (status == "active"), resource


async def _factory(resource_id: str) -> object:
    await anyio.lowlevel.checkpoint()
    await anyio.lowlevel.checkpoint()
    return object()


def _keys_written(step: Step) -> list[str]:
    if isinstance(step, Set):
        return [step.key]
    return sorted(step.keys) if isinstance(step, SetMany) else []


def _state(changes: Any) -> dict[str, Any]:
    return {key: (c.version, c.value) for key, c in fold(changes).items()}


def _check_versions(changes: list[Change]) -> None:
    """A set counts its key's versions from 1; a delete or expire removes the latest."""
    versions: dict[str, int] = {}
    for change in changes:
        if isinstance(change, SetChange):
            assert change.version == versions.get(change.key, 0) + 1, change
            versions[change.key] = change.version
        else:
            assert versions.pop(change.key, None) == change.version, change
            assert isinstance(change, DeleteChange), f"nothing here expires: {change}"


@settings(
    max_examples=60,
    deadline=None,
    database=None,
    derandomize=True,
    # new_store is the same for every example: it opens a new store per call.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS)
async def test_cancelled_steps_leave_store_changelog_and_subscribers_agreeing(
    new_store: NewStore, steps: list[Step]
) -> None:
    async with new_store() as store:
        await World(store).run(steps)
