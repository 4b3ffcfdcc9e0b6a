"""DefaultResourceManager: limits, cancellation, idle and expired resources, periodic cleanup."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import anyio
import anyio.abc
import pytest

from pepperflow import DefaultResourceManager, ResourceRecord
from pepperflow.streams import Change
from tests.support.clock import Clock

pytestmark = pytest.mark.anyio


async def test_a_limit_makes_acquire_wait_first_come_first_served() -> None:
    async with DefaultResourceManager() as resources:
        resources.register_factory("db", None, limit=2)
        await resources.acquire("db:1")
        await resources.acquire("db:2")
        order: list[str] = []

        async def acquire(resource_id: str) -> None:
            await resources.acquire(resource_id)
            order.append(resource_id)

        async with anyio.create_task_group() as tg:
            tg.start_soon(acquire, "db:3")
            await anyio.sleep(0.01)
            tg.start_soon(acquire, "db:4")
            await anyio.sleep(0.01)
            figures = await resources.monitor()
            assert (figures["waiting"], figures["by_kind"]) == (2, {"db": 4})
            record = await resources.status("db:3")
            assert record is not None and record.status == "acquiring"
            assert order == []
            await resources.release("db:1")
            await anyio.sleep(0.01)
            assert order == ["db:3"]
            await resources.release("db:2")
        assert order == ["db:3", "db:4"]
        figures = await resources.monitor()
        assert (figures["waits"], figures["waiting"], figures["active_resources"]) == (2, 0, 2)
        await resources.cleanup()


async def test_the_caller_bounds_the_wait_with_a_cancel_scope() -> None:
    async with DefaultResourceManager() as resources:
        resources.register_factory("db", None, limit=1)
        await resources.acquire("db:1")
        with pytest.raises(TimeoutError), anyio.fail_after(0.02):
            await resources.acquire("db:2")
        # The cancelled acquire left nothing: no record, no slot taken.
        assert "db:2" not in resources and await resources.status("db:2") is None
        figures = await resources.monitor()
        assert (figures["waiting"], figures["by_kind"], figures["resource_errors"]) == (
            0,
            {"db": 1},
            0,
        )
        await resources.release("db:1")
        await resources.acquire("db:2")  # the slot is free
        await resources.release("db:2")


async def test_cancelling_an_acquire_in_its_factory_leaves_nothing() -> None:
    opened: list[str] = []

    async def slow(resource_id: str) -> AsyncIterator[str]:
        opened.append(resource_id)
        await anyio.sleep(1)
        yield resource_id

    async with DefaultResourceManager() as resources:
        resources.register_factory("db", slow, limit=1)
        seen: list[Change] = []
        resources.subscribe(None, seen.append)
        with anyio.move_on_after(0.02) as scope:
            await resources.acquire("db:1")
        assert scope.cancelled_caught and opened == ["db:1"]
        assert "db:1" not in resources and await resources.status("db:1") is None
        failed = ResourceRecord.from_value(seen[1].value)  # type: ignore[union-attr]
        assert (failed.status, failed.error) == ("failed", "cancelled")
        figures = await resources.monitor()
        assert (figures["active_resources"], figures["by_kind"]) == (0, {})
        # The limit's slot was freed: the next acquire reaches its factory at once.
        with anyio.move_on_after(0.01):
            await resources.acquire("db:2")
        assert opened == ["db:1", "db:2"]


async def test_a_resource_made_before_the_cancellation_is_cleaned_up() -> None:
    """Cancelled while its ``active`` record is delivered: the made resource is released."""
    closed: list[str] = []
    async with DefaultResourceManager() as resources:
        resources.register_factory("db", lambda rid: rid, cleanup=closed.append)

        async def slow_subscriber(change: Change) -> None:
            if "active" in str(getattr(change, "value", "")):
                await anyio.sleep(1)

        resources.subscribe(None, slow_subscriber)
        with anyio.move_on_after(0.02) as scope:
            await resources.acquire("db:1")
        assert scope.cancelled_caught
        assert closed == ["db:1"] and "db:1" not in resources
        assert (await resources.monitor())["active_resources"] == 0


async def test_a_cancelled_release_still_cleans_up() -> None:
    closed: list[str] = []

    async def close(resource: str) -> None:
        await anyio.sleep(0.03)
        closed.append(resource)

    async with DefaultResourceManager() as resources:
        resources.register_factory("db", lambda rid: rid, cleanup=close)
        await resources.acquire("db:1")
        with anyio.move_on_after(0.01):
            await resources.release("db:1")
        assert closed == ["db:1"] and "db:1" not in resources
        assert await resources.status("db:1") is None


async def test_sweep_releases_expired_and_idle_resources() -> None:
    clock = Clock(1_000_000.0)
    async with DefaultResourceManager(ttl=60, clock=clock) as resources:
        resources.register_factory("session", None, idle_timeout=timedelta(seconds=10))
        await resources.acquire("job:1")  # ttl 60 s (the manager's)
        await resources.acquire("session:a")  # idle after 10 s without an acquire
        await resources.acquire("session:b")
        record = await resources.status("job:1")
        assert record is not None and record.expires_at == clock.now + 60
        clock.now += 8
        await resources.acquire("session:a")  # a use: session:a is fresh again
        clock.now += 5
        assert await resources.sweep() == 1
        assert "session:b" not in resources and "session:a" in resources
        clock.now += 50
        assert await resources.sweep() == 2  # job:1 expired, session:a idle
        assert (await resources.monitor())["active_resources"] == 0
        assert (await resources.monitor())["cleanup_runs"] == 2


async def test_the_periodic_cleanup_runs_while_the_manager_runs() -> None:
    async with DefaultResourceManager(cleanup_interval=0.01, ttl=0.03) as resources:
        await resources.acquire("job:1")
        with anyio.fail_after(1):
            while "job:1" in resources:
                await anyio.sleep(0.005)
        figures = await resources.monitor()
        assert figures["cleanup_runs"] >= 1 and figures["cleaned"] == 1


async def test_the_periodic_cleanup_logs_failing_cleanups_and_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(resource: str) -> None:
        raise OSError(f"cannot close {resource}")

    async with DefaultResourceManager(cleanup_interval=0.01) as resources:
        resources.register_factory("db", None, cleanup=broken, ttl=0.01)
        with caplog.at_level(logging.ERROR, logger="pepperflow"):
            await resources.acquire("db:1")
            with anyio.fail_after(1):
                while "db:1" in resources:
                    await anyio.sleep(0.005)
            await resources.acquire("db:2")
            with anyio.fail_after(1):
                while "db:2" in resources:
                    await anyio.sleep(0.005)
        assert (await resources.monitor())["resource_errors"] == 2
    messages = [r.getMessage() for r in caplog.records]
    assert sum("failed in the periodic cleanup" in m for m in messages) == 2


async def test_closing_while_the_periodic_cleanup_releases_finishes_that_cleanup() -> None:
    closed: list[str] = []

    async def close(resource: str) -> None:
        await anyio.sleep(0.05)
        closed.append(resource)

    resources = DefaultResourceManager(cleanup_interval=0.01)
    await resources.start()
    resources.register_factory("db", None, cleanup=close, ttl=0.01)
    await resources.acquire("db:1")
    with anyio.fail_after(1):  # until the periodic cleanup is in close()
        while (record := await resources.status("db:1")) is None or record.status != "releasing":
            await anyio.sleep(0.005)
    await resources.stop()
    assert closed == ["db:1"]


async def test_start_runs_the_cleanup_in_a_task_group_until_stop() -> None:
    async with anyio.create_task_group():
        resources = DefaultResourceManager(cleanup_interval=0.01, idle_timeout=0.01)
        await resources.start()
        await resources.acquire("x:1")
        with anyio.fail_after(1):
            while "x:1" in resources:
                await anyio.sleep(0.005)
        await resources.stop()
    with pytest.raises(anyio.ClosedResourceError):
        await resources.start()
