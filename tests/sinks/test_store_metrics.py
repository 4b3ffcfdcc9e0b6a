"""What every store reports with ``metrics=``: calls, sampled durations, figures."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable

import anyio
import pytest

from pepperflow import MetricsRegistry, VersionConflict
from pepperflow.sinks import WriteBehind
from pepperflow.sinks.metrics._stores import SAMPLE_EVERY
from pepperflow.stores import MemoryStore, Store
from pepperflow.streams import Change
from tests.sinks.conftest import MakeStore

pytestmark = pytest.mark.anyio


def _labels(store: Store[object]) -> dict[str, str]:
    return {"store": store.name, "backend": store.backend}


async def _wait_until(check: Callable[[], bool]) -> None:
    with anyio.fail_after(10):
        while not check():
            await anyio.sleep(0.01)


async def test_every_call_is_counted_and_one_in_sample_every_is_timed_with_its_outcome(
    make_store: MakeStore,
) -> None:
    metrics = MetricsRegistry()
    async with make_store(metrics) as store:
        labels = _labels(store)
        for i in range(SAMPLE_EVERY):  # the first is timed
            await store.set(f"k{i}", i)
        with pytest.raises(VersionConflict):  # the next timed one
            await store.set("k0", 0, if_version=99)
        assert await store.get("k1") == 1
        assert await store.delete("k1")
        assert (
            metrics.value("pepperflow_store_operations", operation="set", **labels)
            == SAMPLE_EVERY + 1
        )
        assert metrics.value("pepperflow_store_operations", operation="get", **labels) == 1
        assert metrics.value("pepperflow_store_operations", operation="delete", **labels) == 1
        timed = {
            (s.labels["operation"], s.labels["outcome"]): s.count
            for s in metrics.samples("pepperflow_store_operation_seconds")
        }
        assert timed == {
            ("set", "ok"): 1,
            ("set", "VersionConflict"): 1,
            ("get", "ok"): 1,
            ("delete", "ok"): 1,
        }
        # Redis counts keys at its sweeps plus this process's writes: wait for it.
        await _wait_until(
            lambda: metrics.value("pepperflow_store_keys", **labels) == SAMPLE_EVERY - 1
        )
        assert metrics.value("pepperflow_store_seq", **labels) == store.statistics().seq


async def test_keys_expirations_and_callback_errors_are_read_from_the_statistics(
    make_store: MakeStore, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = MetricsRegistry()

    def fail(change: Change) -> None:
        raise RuntimeError("a broken subscriber")

    async with make_store(metrics) as store:
        labels = _labels(store)
        with caplog.at_level(logging.CRITICAL, logger="pepperflow"), store.subscribe("bad:", fail):
            assert metrics.value("pepperflow_store_subscriptions", **labels) == 1
            await store.set("bad:1", 1)
        await store.set("long", 1, ttl=3600)
        await store.set("short", 1, ttl=0.05)
        await _wait_until(lambda: metrics.value("pepperflow_store_expirations", **labels) == 1)
        assert metrics.value("pepperflow_store_callback_errors", **labels) == 1
        assert metrics.value("pepperflow_store_subscriptions", **labels) == 0
        # Redis counts keys at its sweeps plus this process's writes: wait for it.
        await _wait_until(lambda: metrics.value("pepperflow_store_keys", **labels) == 2)
        assert metrics.value("pepperflow_store_ttl_keys", **labels) == 1


async def test_feeds_report_their_lag_and_drops_per_overflow_policy(make_store: MakeStore) -> None:
    metrics = MetricsRegistry()
    async with make_store(metrics) as store:

        def figure(name: str, overflow: str) -> float:
            return metrics.value(name, overflow=overflow, **_labels(store))

        async with (
            store.changes("a", buffer=2, overflow="drop_oldest") as oldest,
            store.changes("a", buffer=2, overflow="latest_per_key") as latest,
            store.changes("a", buffer=1, overflow="error") as failing,
        ):
            for i in range(5):
                await store.set("a", i)  # each a set of key "a"
            await _wait_until(lambda: oldest.statistics().dropped == 3)
            assert figure("pepperflow_store_feeds", "drop_oldest") == 1
            assert figure("pepperflow_store_feed_lag", "drop_oldest") == 2
            assert figure("pepperflow_store_feed_dropped", "drop_oldest") == 3
            assert figure("pepperflow_store_feed_lag", "latest_per_key") == 1
            assert figure("pepperflow_store_feed_dropped", "latest_per_key") == 4
            assert figure("pepperflow_store_feed_overflows", "error") == 1
            assert figure("pepperflow_store_feeds", "error") == 0  # it failed: unsubscribed
            assert failing.statistics().overflowed and latest.statistics().conflated == 4
        # Closed feeds: nothing open, what they dropped stays counted.
        assert figure("pepperflow_store_feeds", "drop_oldest") == 0
        assert figure("pepperflow_store_feed_lag", "drop_oldest") == 0
        assert figure("pepperflow_store_feed_dropped", "drop_oldest") == 3
        assert figure("pepperflow_store_feed_dropped", "latest_per_key") == 4
        assert figure("pepperflow_store_feed_overflows", "error") == 1


async def test_the_batches_a_write_behind_commits_count_as_apply_changes_on_its_target(
    make_store: MakeStore,
) -> None:
    metrics = MetricsRegistry()
    async with make_store(metrics) as target, MemoryStore(f"{target.name}-source") as source:
        labels = _labels(target)
        async with WriteBehind(source, target) as sink:
            await source.set("a", 1)
            await sink.flush()
            await source.set("b", 2)
        batches = sink.statistics().batches
        assert batches >= 2
        calls = metrics.value("pepperflow_store_operations", operation="apply_changes", **labels)
        assert calls == batches
        await target.apply_changes([])  # a call of the application's counts too
        calls = metrics.value("pepperflow_store_operations", operation="apply_changes", **labels)
        assert calls == batches + 1
        assert metrics.value("pepperflow_store_operations", operation="set", **labels) == 0


async def test_only_a_store_with_metrics_is_of_the_counting_subclass() -> None:
    plain: MemoryStore[int] = MemoryStore("plain")
    measured: MemoryStore[int] = MemoryStore("measured", metrics=MetricsRegistry())
    assert type(plain) is MemoryStore and plain._probe is None
    assert isinstance(measured, MemoryStore) and type(measured) is not MemoryStore
    assert type(measured).__name__ == "MemoryStore" and repr(measured) == "<MemoryStore 'measured'>"
    again: MemoryStore[int] = MemoryStore("again", metrics=MetricsRegistry())
    assert type(again) is type(measured)  # one subclass per store class
    assert await measured.set("k", 1) == 1 and await measured.get("k") == 1


async def test_metrics_must_be_a_registry() -> None:
    with pytest.raises(TypeError, match=r"store 'x': metrics must be a pepperflow.MetricsRegistry"):
        MemoryStore("x", metrics=object())  # type: ignore[call-overload]


async def test_a_store_that_is_gone_stops_reporting_and_two_of_one_name_add_up() -> None:
    metrics = MetricsRegistry()
    one: MemoryStore[int] = MemoryStore("same", metrics=metrics)
    two: MemoryStore[int] = MemoryStore("same", metrics=metrics)
    await one.set("a", 1)
    await two.set("b", 2)
    assert metrics.value("pepperflow_store_keys", store="same", backend="memory") == 2
    del two
    gc.collect()
    assert metrics.value("pepperflow_store_keys", store="same", backend="memory") == 1
    del one
    gc.collect()
    assert metrics.samples("pepperflow_store_keys") == []
