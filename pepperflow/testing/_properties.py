"""The store's property test (needs Hypothesis): after random operations
the state equals the fold of the changes the store emitted, and a feed
that replayed then followed it, joined mid-way, converges to that state.
"""

from __future__ import annotations

import contextlib
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread

from .._errors import VersionConflict
from ..stores.base import Store
from ..streams.events import Change
from ._support import MakeStore, Recorder, all_items, state_of

#: The keys the random operations touch.
_KEYS = ["a", "b", "c", "d:1", "d:2"]


async def check_fold_property(make_store: MakeStore) -> None:
    """Property: state == fold(changes), and a mid-way replaying feed converges."""
    try:
        from hypothesis import HealthCheck, given, settings
    except ModuleNotFoundError as exc:  # pragma: no cover - a dependency of the suite
        raise RuntimeError("check_store's property test needs: pip install hypothesis") from exc

    async def run(ops: list[tuple[Any, ...]], join_at: int) -> None:
        async with make_store() as store:
            await _run_and_compare(store, ops, join_at)

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    @given(*_strategies())
    def property_test(ops: list[tuple[Any, ...]], join_at: int) -> None:
        anyio.from_thread.run(run, ops, join_at)

    await anyio.to_thread.run_sync(property_test)


def _strategies() -> tuple[Any, Any]:
    """Hypothesis strategies: a list of operations, and the index where a feed joins."""
    from hypothesis import strategies as st

    keys = st.sampled_from(_KEYS)
    values = st.one_of(
        st.integers(-5, 5),
        st.text(max_size=3),
        st.lists(st.integers(-(2**63), 2**64 - 1), max_size=2),
    )
    operation = st.one_of(
        st.tuples(st.just("set"), keys, values, st.sampled_from([None, 0.001, 60.0])),
        st.tuples(st.just("cas"), keys, values, st.integers(0, 3)),
        st.tuples(st.just("delete"), keys),
        st.tuples(st.just("clear"), st.sampled_from(["d:", "*", "[ab]"])),
        st.tuples(st.just("set_many"), st.dictionaries(keys, values, max_size=3)),
        st.tuples(st.just("get"), keys),
        st.tuples(
            st.just("sleep"),
        ),
    )
    return st.lists(operation, max_size=25), st.integers(0, 25)


async def _run_and_compare(store: Store[Any], ops: list[tuple[Any, ...]], join_at: int) -> None:
    """Apply ``ops`` (a replaying feed joins before ``ops[join_at]``), then compare."""
    everything = Recorder.on(store)
    feed = None
    for index, op in enumerate(ops):
        if index == join_at:
            feed = store.changes(replay=True, buffer=10_000)
            await feed.__aenter__()
        await _apply(store, op)
    await anyio.sleep(0.01)
    for key in _KEYS:
        await store.exists(key)  # commit any expiry still pending
    state = await all_items(store)
    assert state_of(everything.changes) == state, "state != fold(changelog)"
    seqs = [c.seq for c in everything.changes]
    assert seqs == sorted(set(seqs)), "seq must strictly increase"
    if feed is not None:
        joined: list[Change] = []
        while feed.statistics().buffered or feed.statistics().replay_pending:
            joined.append(await feed.__anext__())
        await feed.__aexit__(None, None, None)
        assert state_of(joined) == state, "a replaying feed did not converge"
    snap = await store.snapshot()
    assert {e.key: e.value for e in snap.entries} == state


async def _apply(store: Store[Any], op: tuple[Any, ...]) -> None:
    """Apply one random operation; a compare-and-set may lose."""
    match op:
        case ("set", key, value, ttl):
            await store.set(key, value, ttl=ttl)
        case ("cas", key, value, version):
            with contextlib.suppress(VersionConflict):
                await store.set(key, value, if_version=version)
        case ("delete", key):
            await store.delete(key)
        case ("clear", pattern):
            await store.clear(pattern)
        case ("set_many", items):
            await store.set_many(items)
        case ("get", key):
            await store.get(key)
        case ("sleep",):
            await anyio.sleep(0.002)
