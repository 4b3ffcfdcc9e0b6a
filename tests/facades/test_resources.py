"""DefaultResourceManager: acquire, release, factories, status records, errors, cleanup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from pepperflow import (
    DefaultResourceManager,
    InvalidKey,
    InvalidPattern,
    MetricsRegistry,
    ResourceMetrics,
    ResourceRecord,
    ResourceStatus,
)
from pepperflow.stores import MemoryStore, SqliteStore
from pepperflow.streams import Change, DeleteChange, SetChange

pytestmark = pytest.mark.anyio


class Conn:
    """A resource with an async close, as a client or connection has."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


def transitions(changes: list[Change]) -> list[tuple[str, str]]:
    """(id, status) per change; a delete shows as "released"."""
    out = []
    for change in changes:
        resource_id = change.key.removeprefix("resource:")
        if isinstance(change, SetChange):
            out.append((resource_id, ResourceRecord.from_value(change.value).status.value))
        else:
            out.append((resource_id, "released"))
    return out


async def test_a_bare_resource_is_its_id_and_release_is_idempotent() -> None:
    async with DefaultResourceManager() as resources:
        seen: list[Change] = []
        resources.subscribe(None, seen.append)
        assert await resources.acquire("lock:a") == "lock:a"
        assert "lock:a" in resources and "lock:b" not in resources
        record = await resources.status("lock:a")
        assert record is not None
        assert (record.id, record.kind, record.status) == ("lock:a", "lock", ResourceStatus.ACTIVE)
        await resources.release("lock:a")
        await resources.release("lock:a")
        await resources.release("never:acquired")
        assert "lock:a" not in resources and await resources.status("lock:a") is None
        assert transitions(seen) == [("lock:a", "active"), ("lock:a", "released")]
        figures = await resources.monitor()
        assert (figures["acquired"], figures["released"], figures["active_resources"]) == (1, 1, 0)


async def test_acquiring_an_active_id_returns_the_same_resource() -> None:
    made: list[str] = []

    def connect(resource_id: str) -> Conn:
        made.append(resource_id)
        return Conn(resource_id)

    async with DefaultResourceManager() as resources:
        resources.register_factory("db", connect)
        first = await resources.acquire("db:main")
        assert await resources.acquire("db:main") is first
        assert made == ["db:main"]
        assert (await resources.monitor())["acquired"] == 1
        await resources.release("db:main")
        assert first.closed  # the default cleanup: its aclose()
        assert await resources.acquire("db:main") is not first
        await resources.release("db:main")


async def test_factory_forms_and_their_cleanups() -> None:
    log: list[str] = []

    async def open_session(resource_id: str, *, user: str) -> dict[str, str]:
        await anyio.lowlevel.checkpoint()
        return {"id": resource_id, "user": user}

    async def temp_file(resource_id: str) -> AsyncIterator[str]:
        log.append(f"create {resource_id}")
        yield f"/tmp/{resource_id}"
        log.append(f"remove {resource_id}")

    async with DefaultResourceManager() as resources:
        resources.register_factory("session", open_session, cleanup=lambda s: log.append(s["id"]))
        resources.register_factory("tmp", temp_file)
        session = await resources.acquire("session:1", user="ada")
        assert session == {"id": "session:1", "user": "ada"}
        assert await resources.acquire("tmp:x") == "/tmp/tmp:x"
        await resources.release("session:1")
        await resources.release("tmp:x")
        assert log == ["create tmp:x", "session:1", "remove tmp:x"]
        # A factory passed in wins over the kind's, without the kind's cleanup.
        conn = await resources.acquire("session:2", lambda rid: Conn(rid))
        assert isinstance(conn, Conn)
        await resources.release("session:2")
        assert conn.closed and log[-1] == "remove tmp:x"


async def test_status_records_show_each_step_that_waits() -> None:
    async def slow(resource_id: str) -> Conn:
        await anyio.sleep(0.01)
        return Conn(resource_id)

    async with DefaultResourceManager() as resources:
        resources.register_factory("db", slow)
        async with resources.changes(buffer=100) as feed:
            await resources.acquire("db:1")
            await resources.acquire("lock:1")
            await resources.release("db:1")
            await resources.release("lock:1")
            seen = [await feed.__anext__() for _ in range(feed.statistics().buffered)]
        assert transitions(seen) == [
            ("db:1", "acquiring"),
            ("db:1", "active"),
            ("lock:1", "active"),
            ("db:1", "releasing"),
            ("db:1", "released"),
            ("lock:1", "released"),
        ]
        assert all(isinstance(c, SetChange | DeleteChange) for c in seen)


async def test_a_failing_factory_keeps_nothing_and_is_counted() -> None:
    async def refuse(resource_id: str) -> Conn:
        raise ConnectionRefusedError(f"{resource_id}: refused")

    async with DefaultResourceManager() as resources:
        resources.register_factory("db", refuse, limit=1)
        seen: list[Change] = []
        resources.subscribe(None, seen.append)
        for _ in range(2):  # the limit's only slot is freed each time
            with pytest.raises(ConnectionRefusedError, match="db:1: refused"):
                await resources.acquire("db:1")
        assert "db:1" not in resources and await resources.status("db:1") is None
        failed = ResourceRecord.from_value(seen[1].value)  # type: ignore[union-attr]
        assert (failed.status, failed.error) == ("failed", "ConnectionRefusedError: db:1: refused")
        assert transitions(seen)[:3] == [
            ("db:1", "acquiring"),
            ("db:1", "failed"),
            ("db:1", "released"),
        ]
        figures = await resources.monitor()
        assert (figures["resource_errors"], figures["active_resources"], figures["by_kind"]) == (
            2,
            0,
            {},
        )


async def test_a_failing_cleanup_is_counted_and_the_resource_still_removed() -> None:
    def broken(conn: Conn) -> None:
        raise OSError(f"cannot close {conn.name}")

    async with DefaultResourceManager() as resources:
        resources.register_factory("db", Conn, cleanup=broken)
        await resources.acquire("db:1")
        with pytest.raises(OSError, match="cannot close db:1") as info:
            await resources.release("db:1")
        assert "while cleaning up resource 'db:1'" in info.value.__notes__
        assert "db:1" not in resources and await resources.status("db:1") is None
        for i in range(3):
            await resources.acquire(f"db:{i}")
        with pytest.raises(ExceptionGroup, match="3 resource cleanup") as group:
            await resources.cleanup("db:")
        assert len(group.value.exceptions) == 3
        figures = await resources.monitor()
        assert (figures["resource_errors"], figures["active_resources"]) == (4, 0)


async def test_cleanup_by_prefix_or_glob() -> None:
    async with DefaultResourceManager() as resources:
        for resource_id in ["db:1", "db:2", "db:12", "dbx:1", "cache:2"]:
            await resources.acquire(resource_id)
        assert await resources.cleanup("db:*2") == 2
        assert {r for r in ["db:1", "dbx:1", "cache:2"] if r in resources} == {
            "db:1",
            "dbx:1",
            "cache:2",
        }
        assert await resources.cleanup("db") == 2  # a prefix: db:1 and dbx:1
        assert await resources.cleanup() == 1
        with pytest.raises(InvalidPattern):
            await resources.cleanup("db:[")
        figures = await resources.monitor()
        assert (figures["cleanup_runs"], figures["cleaned"]) == (3, 5)


async def test_release_waits_for_an_acquire_in_flight_and_acquire_for_a_release() -> None:
    log: list[str] = []

    async def slow(resource_id: str) -> AsyncIterator[Conn]:
        log.append("open")
        await anyio.sleep(0.02)
        yield Conn(resource_id)
        log.append("close")
        await anyio.sleep(0.02)
        log.append("closed")

    async with DefaultResourceManager() as resources:
        resources.register_factory("db", slow)
        got: list[Any] = []

        async def acquire() -> None:
            got.append(await resources.acquire("db:1"))

        async with anyio.create_task_group() as tg:
            tg.start_soon(acquire)
            tg.start_soon(acquire)  # waits for the first: one factory call
        assert log == ["open"] and len(got) == 2 and got[0] is got[1]
        await resources.release("db:1")

        log.clear()
        async with anyio.create_task_group() as tg:
            tg.start_soon(acquire)
            await anyio.sleep(0.005)
            await resources.release("db:1")  # waits until acquired, then releases
        assert log == ["open", "close", "closed"] and "db:1" not in resources

        log.clear()
        await resources.acquire("db:2")
        async with anyio.create_task_group() as tg:
            tg.start_soon(resources.release, "db:2")
            await anyio.sleep(0.005)
            again = await resources.acquire("db:2")  # waits for the release to end
        assert log == ["open", "close", "closed", "open"] and "db:2" in resources
        await resources.release("db:2")
        assert again is not got[0]


async def test_closing_releases_what_is_left_newest_first_and_warns() -> None:
    closed: list[str] = []
    resources = DefaultResourceManager()
    resources.register_factory("db", Conn, cleanup=lambda c: closed.append(c.name))
    for i in range(12):
        await resources.acquire(f"db:{i}")
    await resources.release("db:0")
    with pytest.warns(ResourceWarning, match=r"11 resource\(s\) never released: 'db:11', 'db:10'"):
        await resources.aclose()
    assert closed == ["db:0"] + [f"db:{i}" for i in range(11, 0, -1)]
    assert resources.store.statistics().closed
    await resources.aclose()  # idempotent
    with pytest.raises(anyio.ClosedResourceError, match="DefaultResourceManager is closed"):
        await resources.acquire("db:1")


async def test_an_application_store_holds_the_records_and_stays_open() -> None:
    async with MemoryStore("app") as store:
        async with DefaultResourceManager(store=store, prefix="res/") as resources:
            assert resources.store is store and resources.key("a:1") == "res/a:1"
            await resources.acquire("a:1")
            assert ResourceRecord.from_value(await store.get("res/a:1")).kind == "a"
            await resources.release("a:1")
        assert not store.statistics().closed and await store.get("res/a:1") is None


async def test_metrics_go_to_a_sink_labelled_by_kind() -> None:
    sink = MetricsRegistry()
    metrics = ResourceMetrics(sink)
    async with DefaultResourceManager(metrics=metrics) as resources:
        assert resources.metrics is metrics
        await resources.acquire("db:1")
        await resources.acquire("db:2")
        await resources.acquire("cache:1")
        assert sink.value("pepperflow_active_resources", kind="db") == 2
        await resources.release("db:1")
        await resources.cleanup()
    assert sink.value("pepperflow_resources_acquired", kind="db") == 2
    assert sink.value("pepperflow_resources_released", kind="db") == 2
    assert sink.value("pepperflow_active_resources", kind="db") == 0
    assert sink.value("pepperflow_cleanup_runs") == 1
    assert metrics.snapshot()["cleaned"] == 2


async def test_bad_input_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match="cleanup_interval must be positive"):
        DefaultResourceManager(0)
    with pytest.raises(TypeError, match="ttl must be seconds"):
        DefaultResourceManager(ttl="1h")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pepperflow Store"):
        DefaultResourceManager(store={})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prefix must be"):
        DefaultResourceManager(prefix="")
    with pytest.raises(TypeError, match="ResourceMetrics or a sink"):
        DefaultResourceManager(metrics=object())  # type: ignore[arg-type]
    async with DefaultResourceManager() as resources:
        with pytest.raises(InvalidKey, match="non-empty str like 'db:main'"):
            await resources.acquire("")
        with pytest.raises(InvalidKey):
            await resources.acquire(1)  # type: ignore[arg-type]
        with pytest.raises(InvalidKey):
            await resources.release(None)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="factory must be callable"):
            await resources.acquire("db:1", "connect")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="without ':'"):
            resources.register_factory("db:x", Conn)
        with pytest.raises(ValueError, match="limit must be an int >= 1"):
            resources.register_factory("db", Conn, limit=0)
        with pytest.raises(TypeError, match="cleanup must be callable"):
            resources.register_factory("db", Conn, cleanup="close")  # type: ignore[arg-type]
        resources.register_factory("db", Conn)
        with pytest.raises(ValueError, match="registered already"):
            resources.register_factory("db", Conn)
        await resources.acquire("late:1")
        with pytest.raises(ValueError, match="register kinds before acquiring them"):
            resources.register_factory("late", Conn)
        await resources.release("late:1")
        with pytest.raises(RuntimeError, match="already started"):
            await resources.start()
        assert await resources.monitor() == {
            "active_resources": 0,
            "acquired": 1,
            "released": 1,
            "cleaned": 0,
            "resource_errors": 0,
            "cleanup_runs": 0,
            "waits": 0,
            "waiting": 0,
            "by_kind": {},
        }


async def test_a_factory_generator_must_yield_exactly_once() -> None:
    async def none(resource_id: str) -> AsyncIterator[str]:
        if resource_id:
            return
        yield resource_id

    async def twice(resource_id: str) -> AsyncIterator[str]:
        yield resource_id
        yield resource_id

    async with DefaultResourceManager() as resources:
        resources.register_factory("none", none)
        resources.register_factory("twice", twice)
        with pytest.raises(RuntimeError, match="returned without yielding"):
            await resources.acquire("none:1")
        await resources.acquire("twice:1")
        with pytest.raises(RuntimeError, match="yielded twice"):
            await resources.release("twice:1")
        assert "twice:1" not in resources
        assert (await resources.monitor())["resource_errors"] == 2


async def test_concurrent_releases_run_the_cleanup_once_and_both_wait_for_it() -> None:
    closed: list[str] = []

    async def close(resource: str) -> None:
        await anyio.sleep(0.02)
        closed.append(resource)

    async with DefaultResourceManager() as resources:
        resources.register_factory("db", None, cleanup=close)
        await resources.acquire("db:1")
        done: list[bool] = []

        async def release() -> None:
            await resources.release("db:1")
            done.append(closed == ["db:1"])

        async with anyio.create_task_group() as tg:
            tg.start_soon(release)
            tg.start_soon(release)
        assert closed == ["db:1"] and done == [True, True]


async def test_a_store_that_fails_leaves_nothing_and_is_noted() -> None:
    store = MemoryStore("app")
    async with DefaultResourceManager(store=store) as resources:
        await store.aclose()
        with pytest.raises(anyio.ClosedResourceError) as info:
            await resources.acquire("job:1")
        assert any("recording resource 'job:1' as failed failed" in n for n in info.value.__notes__)
        assert "job:1" not in resources
        assert (await resources.monitor())["active_resources"] == 0


async def test_closing_raises_failed_cleanups_after_releasing_everything() -> None:
    def close(resource: str) -> None:
        if resource == "db:2":
            raise OSError("stuck")

    resources = DefaultResourceManager()
    resources.register_factory("db", None, cleanup=close)
    for i in range(3):
        await resources.acquire(f"db:{i}")
    with (
        pytest.warns(ResourceWarning, match="3 resource"),
        pytest.raises(ExceptionGroup, match="1 resource cleanup"),
    ):
        await resources.aclose()
    assert (await resources.monitor())["active_resources"] == 0
    assert resources.store.statistics().closed


async def test_records_in_an_application_sqlite_store(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "app.db") as store:
        resources = DefaultResourceManager(store=store, ttl=60)
        async with resources, resources.changes() as feed:
            await resources.acquire("db:1", lambda rid: Conn(rid))
            record = await resources.status("db:1")
            assert record is not None and record.status is ResourceStatus.ACTIVE
            assert record.expires_at == pytest.approx(record.acquired_at + 60)
            await resources.release("db:1")
            seen = [await feed.__anext__() for _ in range(4)]
        assert transitions(seen) == [
            ("db:1", "acquiring"),
            ("db:1", "active"),
            ("db:1", "releasing"),
            ("db:1", "released"),
        ]
        assert [key async for key in store.scan()] == []


async def test_keyword_arguments_need_a_factory_to_take_them() -> None:
    async with DefaultResourceManager() as resources:
        with pytest.raises(TypeError, match=r"got \['user'\] but kind 'session' has no factory"):
            await resources.acquire("session:1", user="ada")
        assert "session:1" not in resources
        assert (await resources.monitor())["by_kind"] == {}


async def test_subscribe_exact_gets_one_resource_s_records_only() -> None:
    async with DefaultResourceManager() as resources:
        one: list[Change] = []
        sub = resources.subscribe("job:1", one.append, exact=True)
        for resource_id in ("job:1", "job:10", "job:1x"):
            await resources.acquire(resource_id)
            await resources.release(resource_id)
        assert {change.key for change in one} == {"resource:job:1"}
        assert len(one) == 2, "active, then the delete"
        assert "exact" in repr(sub)
        with pytest.raises(InvalidKey):
            resources.subscribe(None, one.append, exact=True)
