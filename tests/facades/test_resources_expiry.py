"""DefaultResourceManager: timeouts are the records' ttl in the store; operations are metered."""

from __future__ import annotations

import anyio
import pytest

from pepperflow import DefaultResourceManager, MetricsRegistry, ResourceMetrics
from pepperflow.stores import MemoryStore
from pepperflow.streams import Change, DeleteChange, ExpireChange, SetChange
from tests.support.clock import Clock

pytestmark = pytest.mark.anyio


async def test_an_idle_record_expires_in_the_store_and_its_expiry_releases_it() -> None:
    closed: list[str] = []
    # The periodic cleanup would come in an hour: the store's expiry releases it.
    async with DefaultResourceManager(cleanup_interval=3600) as resources:
        resources.register_factory("db", None, cleanup=closed.append, idle_timeout=0.02)
        seen: list[Change] = []
        resources.subscribe("db:", seen.append)
        await resources.acquire("db:1")
        # The record's ttl as the store committed it: reading the entry back
        # would race the 20 ms it has to live.
        written = seen[0]
        assert isinstance(written, SetChange) and written.expires_at is not None
        assert written.expires_at == pytest.approx(written.committed_at + 0.02, abs=1e-6)
        with anyio.fail_after(1):
            while "db:1" in resources:
                await anyio.sleep(0.005)
        assert closed == ["db:1"]
        kinds = [type(change) for change in seen]
        assert kinds == [SetChange, ExpireChange, SetChange, DeleteChange]  # ..., releasing, gone
        figures = await resources.monitor()
        assert (figures["cleanup_runs"], figures["cleaned"], figures["by_kind"]) == (0, 1, {})


async def test_a_use_gives_the_record_a_fresh_ttl_bounded_by_the_kind_ttl() -> None:
    clock = Clock(1_000_000.0)
    store = MemoryStore("app", clock=clock)
    async with DefaultResourceManager(store=store, clock=clock) as resources:
        resources.register_factory("session", None, idle_timeout=10, ttl=25)
        await resources.acquire("session:a")
        key = resources.key("session:a")

        async def deadline() -> float | None:
            entry = await store.entry(key)
            assert entry is not None
            return entry.expires_at

        assert await deadline() == clock.now + 10
        clock.now += 8
        await resources.acquire("session:a")  # a use: idle for 10 s more
        assert await deadline() == clock.now + 10
        clock.now += 9
        await resources.acquire("session:a")  # 8 s left of its ttl: that is the bound
        assert await deadline() == 1_000_025.0
        record = await resources.status("session:a")
        assert record is not None and record.expires_at == 1_000_025.0
        clock.now += 8
        assert await resources.sweep() == 1
        assert "session:a" not in resources


async def test_a_resource_used_after_its_record_expired_is_kept() -> None:
    clock = Clock(1_000_000.0)
    # The manager is not started: expiries are committed when a record is read.
    resources = DefaultResourceManager(clock=clock)
    resources.register_factory("session", None, idle_timeout=10)
    await resources.acquire("session:a")
    clock.now += 11
    assert await resources.status("session:a") is None  # read: expired in the store
    assert "session:a" in resources  # due, not yet released
    await resources.acquire("session:a")  # used again before the sweep: kept
    assert await resources.sweep() == 0 and "session:a" in resources
    record = await resources.status("session:a")
    assert record is not None and record.status == "active"
    clock.now += 11
    assert await resources.sweep() == 1 and "session:a" not in resources
    await resources.aclose()


async def test_untimed_resources_add_no_subscription_to_the_store() -> None:
    async with DefaultResourceManager() as resources:
        await resources.acquire("job:1")
        assert resources.store.statistics().subscriptions == 0
        resources.register_factory("db", None, idle_timeout=60)
        await resources.acquire("db:1")
        assert resources.store.statistics().subscriptions == 1
        await resources.cleanup()


async def test_operations_are_measured_per_kind_in_the_sink() -> None:
    sink = MetricsRegistry()

    def broken(resource: str) -> None:
        raise OSError("stuck")

    async with DefaultResourceManager(metrics=ResourceMetrics(sink)) as resources:
        resources.register_factory("db", None, cleanup=broken)
        await resources.acquire("db:1")
        await resources.acquire("db:1")
        await resources.acquire("job:1")
        with pytest.raises(OSError, match="stuck"):
            await resources.release("db:1")
        assert await resources.cleanup() == 1
        await resources.sweep()
    series = {"component": "resource"}
    assert (
        sink.value("pepperflow_operations", **series, operation="acquire", outcome="ok", kind="db")
        == 2
    )
    assert (
        sink.value("pepperflow_operations", **series, operation="acquire", outcome="ok", kind="job")
        == 1
    )
    assert (
        sink.value(
            "pepperflow_operations", **series, operation="release", outcome="OSError", kind="db"
        )
        == 1
    )
    assert (
        sink.value("pepperflow_operations", **series, operation="release", outcome="ok", kind="job")
        == 1
    )
    assert sink.value("pepperflow_operations", **series, operation="cleanup", outcome="ok") == 1
    assert sink.value("pepperflow_operations", **series, operation="sweep", outcome="ok") == 1
    assert sink.value("pepperflow_resource_errors", kind="db") == 1
