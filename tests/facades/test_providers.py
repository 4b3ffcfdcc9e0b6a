"""ProviderManager: registration, lookups, reload, cleanup, errors and cancellation.

Most tests run twice per backend: with the manager running (``async with``,
each provider's calls in a task of its own) and not entered (calls in the
caller's task).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

from pepperflow import (
    DuplicateProvider,
    MemoryProvider,
    Provider,
    ProviderManager,
    ProviderMetadata,
    ProviderRecord,
    ProviderStatus,
    ProviderType,
    UnknownProvider,
)
from pepperflow.stores import MemoryStore, SqliteStore

from ..support.waiting import wait_for

pytestmark = pytest.mark.anyio


class Probe(Provider[None]):
    """A provider that logs its calls and fails or waits where told."""

    def __init__(
        self,
        name: str,
        log: list[str] | None = None,
        *,
        type: ProviderType = ProviderType.CUSTOM,
        capabilities: list[str] | None = None,
        fail: dict[str, Exception] | None = None,
        slow: dict[str, float] | None = None,
        gates: dict[str, anyio.Event] | None = None,
    ) -> None:
        meta = ProviderMetadata(name, type, capabilities=capabilities or [])
        super().__init__(meta, None)
        self.log = [] if log is None else log
        self.fail = fail or {}
        self.slow = slow or {}
        self.gates = gates or {}  # a call waits until its event is set
        self.acquired = False  # holds what initialize acquires
        self.finished: list[str] = []  # calls that ran to their end

    async def _step(self, call: str) -> None:
        self.log.append(f"{call} {self.metadata.name}")
        if call in self.slow:
            await anyio.sleep(self.slow[call])
        if call in self.gates:
            await self.gates[call].wait()
        if call in self.fail:
            raise self.fail[call]
        self.finished.append(call)

    async def validate(self) -> None:
        await self._step("validate")

    async def initialize(self) -> None:
        self.acquired = True
        await self._step("initialize")

    async def cleanup(self) -> None:
        self.acquired = False
        await self._step("cleanup")


@pytest.fixture(params=["running", "direct"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def open_manager(mode: str, **kwargs: Any) -> AsyncIterator[ProviderManager]:
    manager = ProviderManager(**kwargs)
    if mode == "running":
        async with manager:
            yield manager
    else:
        try:
            yield manager
        finally:
            await manager.aclose()


@asynccontextmanager
async def watching(manager: ProviderManager) -> AsyncIterator[list[tuple[str, str]]]:
    """Every (name, status) transition while the block runs, in commit order."""
    seen: list[tuple[str, str]] = []

    def on_change(change: Any) -> None:
        record = ProviderRecord.from_value(change.value)
        seen.append((record.name, record.status.value))

    with manager.subscribe(None, on_change):
        yield seen


async def test_register_validates_initializes_and_records_each_transition(mode: str) -> None:
    async with open_manager(mode) as providers, watching(providers) as seen:
        probe = Probe("llm", type=ProviderType.CAPABILITY, capabilities=["chat"])
        await providers.register(probe)
        assert probe.log == ["validate llm", "initialize llm"]
        assert seen == [("llm", "registered"), ("llm", "initializing"), ("llm", "ready")]
        assert providers.get("llm") is probe
        assert providers.get("llm", Probe) is probe
        assert providers.get_provider("llm") is probe
        assert "llm" in providers and len(providers) == 1 and providers.names() == ["llm"]
        assert providers.get_providers_by_type(ProviderType.CAPABILITY) == [probe]
        assert providers.get_providers_by_type(ProviderType.MEMORY) == []
        assert providers.get_providers_by_capability("chat") == [probe]
        record = await providers.status("llm")
        assert record is not None
        assert (record.status, record.type, record.capabilities) == (
            ProviderStatus.READY,
            ProviderType.CAPABILITY,
            ["chat"],
        )
        assert record.error is None and record.registered_at <= record.changed_at


async def test_lookups_keep_registration_order(mode: str) -> None:
    async with open_manager(mode) as providers:
        for name in ["c", "a", "b"]:
            await providers.register(Probe(name, capabilities=["x"]))
        assert providers.names() == ["c", "a", "b"]
        found = providers.get_providers_by_capability("x")
        assert [p.metadata.name for p in found] == ["c", "a", "b"]


async def test_a_duplicate_name_is_refused_and_the_first_provider_kept(mode: str) -> None:
    async with open_manager(mode) as providers:
        first, second = Probe("db"), Probe("db")
        await providers.register(first)
        with pytest.raises(DuplicateProvider, match="'db' is already registered") as info:
            await providers.register(second)
        assert isinstance(info.value, ValueError) and info.value.name == "db"
        assert second.log == [] and providers.get("db") is first
        record = await providers.status("db")
        assert record is not None and record.status is ProviderStatus.READY


async def test_a_name_being_registered_is_taken() -> None:
    async with ProviderManager() as providers:
        release = anyio.Event()
        slow = Probe("db", gates={"initialize": release})
        async with anyio.create_task_group() as tg:
            tg.start_soon(providers.register, slow)
            await wait_for(slow.log, 2)  # validated, now initializing
            with pytest.raises(DuplicateProvider, match="or being registered"):
                await providers.register(Probe("db"))
            release.set()
        assert providers.get("db") is slow


async def test_unknown_names_raise_a_value_error_naming_them(mode: str) -> None:
    async with open_manager(mode) as providers:
        await providers.register(Probe("known"))
        for call in (providers.unregister, providers.reload_provider):
            with pytest.raises(UnknownProvider, match=r"'missing'.*registered: 'known'") as info:
                await call("missing")
            assert isinstance(info.value, ValueError) and info.value.name == "missing"
        with pytest.raises(UnknownProvider, match="'missing'"):
            providers.get("missing")
        assert providers.get_provider("missing") is None
        with pytest.raises(TypeError, match="is a Probe, not a MemoryProvider"):
            providers.get("known", MemoryProvider)
        with pytest.raises(TypeError, match="provider names are str"):
            providers.get(3)  # type: ignore[call-overload]


async def test_a_failed_validate_registers_nothing_and_acquires_nothing(mode: str) -> None:
    async with open_manager(mode) as providers, watching(providers) as seen:
        probe = Probe("bad", fail={"validate": ValueError("no api key")})
        with pytest.raises(ValueError, match="no api key"):
            await providers.register(probe)
        assert probe.log == ["validate bad"]  # neither initialize nor cleanup
        assert "bad" not in providers
        assert seen == [("bad", "registered"), ("bad", "failed")]
        record = await providers.status("bad")
        assert record is not None and record.error == "ValueError: no api key"


async def test_a_failed_initialize_is_cleaned_up_and_not_registered(mode: str) -> None:
    async with open_manager(mode) as providers, watching(providers) as seen:
        probe = Probe("bad", fail={"initialize": ConnectionError("refused")})
        with pytest.raises(ConnectionError, match="refused"):
            await providers.register(probe)
        assert probe.log == ["validate bad", "initialize bad", "cleanup bad"]
        assert not probe.acquired and "bad" not in providers
        assert seen[-1] == ("bad", "failed")
        record = await providers.status("bad")
        assert record is not None and record.error == "ConnectionError: refused"
        # The name is free again.
        retry = Probe("bad")
        await providers.register(retry)
        assert providers.get("bad") is retry


async def test_a_failed_cleanup_after_a_failed_initialize_is_noted_on_the_error(
    mode: str,
) -> None:
    async with open_manager(mode) as providers:
        probe = Probe("bad", fail={"initialize": RuntimeError("boom"), "cleanup": OSError("stuck")})
        with pytest.raises(RuntimeError, match="boom") as info:
            await providers.register(probe)
        assert any(
            "cleanup after this failure failed too: OSError: stuck" in n
            for n in info.value.__notes__
        )


async def test_cancelling_register_in_the_middle_of_initialize(mode: str) -> None:
    """The provider is cleaned up, not registered, its record says cancelled.

    Not entered, the cancellation interrupts initialize at once; running,
    initialize (in the provider's own task) runs to its end first.
    """
    async with open_manager(mode) as providers, watching(providers) as seen:
        probe = Probe("slow", slow={"initialize": 0.2})
        with anyio.move_on_after(0.05) as scope:
            await providers.register(probe)
        assert scope.cancelled_caught
        assert probe.log == ["validate slow", "initialize slow", "cleanup slow"]
        assert not probe.acquired and "slow" not in providers
        interrupted = "initialize" not in probe.finished
        assert interrupted is (mode == "direct")
        assert seen[-1] == ("slow", "failed")
        record = await providers.status("slow")
        assert record is not None and record.error == "cancelled"


async def test_reload_goes_reloading_then_ready(mode: str) -> None:
    async with open_manager(mode) as providers, watching(providers) as seen:
        probe = Probe("llm")
        await providers.register(probe)
        await providers.reload_provider("llm")
        assert probe.log[-2:] == ["cleanup llm", "initialize llm"]
        assert seen[-2:] == [("llm", "reloading"), ("llm", "ready")]


async def test_a_failed_reload_cleans_up_and_leaves_the_provider_failed(mode: str) -> None:
    async with open_manager(mode) as providers:
        probe = Probe("llm")
        await providers.register(probe)
        probe.fail["initialize"] = TimeoutError("handshake")
        with pytest.raises(TimeoutError, match="handshake"):
            await providers.reload_provider("llm")
        assert not probe.acquired and probe.log[-1] == "cleanup llm"
        record = await providers.status("llm")
        assert record is not None
        assert (record.status, record.error) == (ProviderStatus.FAILED, "TimeoutError: handshake")
        assert providers.get("llm") is probe  # still registered: reload again or unregister
        del probe.fail["initialize"]
        await providers.reload_provider("llm")
        record = await providers.status("llm")
        assert record is not None and (record.status, record.error) == (ProviderStatus.READY, None)


async def test_cancelling_a_reload_leaves_the_provider_clean_and_failed(mode: str) -> None:
    async with open_manager(mode) as providers:
        probe = Probe("llm")
        await providers.register(probe)
        probe.slow["initialize"] = 0.2
        with anyio.move_on_after(0.05):
            await providers.reload_provider("llm")
        assert not probe.acquired and probe.log[-1] == "cleanup llm"
        record = await providers.status("llm")
        assert record is not None and (record.status, record.error) == (
            ProviderStatus.FAILED,
            "cancelled",
        )


async def test_unregister_cleans_up_and_a_failing_cleanup_still_removes(mode: str) -> None:
    async with open_manager(mode) as providers, watching(providers) as seen:
        good, bad = Probe("good"), Probe("bad", fail={"cleanup": OSError("disk")})
        await providers.register(good)
        await providers.register(bad)
        await providers.unregister("good")
        assert not good.acquired and seen[-1] == ("good", "closed")
        with pytest.raises(OSError, match="disk") as info:
            await providers.unregister("bad")
        assert "while cleaning up provider 'bad'" in info.value.__notes__
        assert "bad" not in providers and seen[-1] == ("bad", "failed")
        record = await providers.status("bad")
        assert record is not None and record.error == "OSError: disk"


async def test_cleanup_runs_in_reverse_order_and_raises_failures_together(mode: str) -> None:
    log: list[str] = []
    async with open_manager(mode) as providers:
        for name in ["a", "b", "c", "d"]:
            fail: dict[str, Exception] | None = (
                {"cleanup": RuntimeError(name)} if name in "bd" else None
            )
            await providers.register(Probe(name, log, fail=fail))
        log.clear()
        with pytest.raises(ExceptionGroup, match=r"provider\(s\) 'd', 'b' failed") as info:
            await providers.cleanup()
        assert log == ["cleanup d", "cleanup c", "cleanup b", "cleanup a"]
        assert [str(e) for e in info.value.exceptions] == ["d", "b"]
        assert len(providers) == 0


async def test_closing_the_manager_closes_every_provider_last_in_first_out() -> None:
    log: list[str] = []
    probes = [Probe(name, log) for name in ["first", "second", "third"]]
    async with ProviderManager() as providers:
        for probe in probes:
            await providers.register(probe)
        log.clear()
        statuses = await providers.statuses()
        assert {n: r.status for n, r in statuses.items()} == dict.fromkeys(
            ["first", "second", "third"], ProviderStatus.READY
        )
    assert log == ["cleanup third", "cleanup second", "cleanup first"]
    assert not any(p.acquired for p in probes)
    await providers.aclose()  # idempotent
    with pytest.raises(anyio.ClosedResourceError, match="ProviderManager is closed"):
        await providers.register(Probe("late"))


async def test_a_change_feed_sees_every_transition_and_ends_with_the_manager() -> None:
    seen: list[tuple[str, str]] = []
    providers = ProviderManager()

    async def watch(*, task_status: anyio.abc.TaskStatus[None]) -> None:
        async with providers.changes(replay=True) as feed:
            task_status.started()
            async for change in feed:
                record = ProviderRecord.from_value(change.value)  # type: ignore[union-attr]
                seen.append((record.name, record.status.value))

    async with anyio.create_task_group() as tg, providers:
        await tg.start(watch)
        await providers.register(Probe("a"))
        await providers.reload_provider("a")
    # The manager closed its store: the feed ended after the last record.
    assert seen == [
        ("a", "registered"),
        ("a", "initializing"),
        ("a", "ready"),
        ("a", "reloading"),
        ("a", "ready"),
        ("a", "closed"),
    ]


async def test_feeds_and_subscriptions_filter_by_provider_name() -> None:
    async with ProviderManager() as providers:
        seen: list[str] = []
        providers.subscribe("llm-*", lambda change: seen.append(change.key))
        async with providers.changes("db", replay=True) as feed:
            await providers.register(Probe("llm-chat"))
            await providers.register(Probe("db-main"))
            await providers.register(Probe("llm2"))
            first = await feed.__anext__()
        assert set(seen) == {"provider:llm-chat"}
        assert first.key == "provider:db-main" == providers.key("db-main")


async def test_an_application_store_holds_the_records_and_stays_open(mode: str) -> None:
    store = MemoryStore("app")
    async with open_manager(mode, store=store, prefix="svc/") as providers:
        await providers.register(Probe("a"))
        assert providers.store is store
    assert not store.statistics().closed
    value = await store.get("svc/a")
    assert ProviderRecord.from_value(value).status is ProviderStatus.CLOSED
    await store.aclose()


async def test_unregister_waits_for_a_reload_in_flight(mode: str) -> None:
    async with open_manager(mode) as providers:
        probe = Probe("llm")
        await providers.register(probe)
        probe.slow["initialize"] = 0.05
        async with anyio.create_task_group() as tg:
            tg.start_soon(providers.reload_provider, "llm")
            await anyio.sleep(0.01)
            await providers.unregister("llm")
        assert probe.log[-3:] == ["cleanup llm", "initialize llm", "cleanup llm"]
        assert not probe.acquired


async def test_closing_waits_for_a_registration_in_flight_which_fails_clean() -> None:
    probe = Probe("late", slow={"initialize": 0.05})
    errors: list[BaseException] = []

    async def register(providers: ProviderManager) -> None:
        try:
            await providers.register(probe)
        except anyio.ClosedResourceError as exc:
            errors.append(exc)

    async with anyio.create_task_group() as tg, ProviderManager() as providers:
        tg.start_soon(register, providers)
        await anyio.sleep(0.01)
    assert len(errors) == 1 and "closed while provider 'late' was initializing" in str(errors[0])
    assert probe.log == ["validate late", "initialize late", "cleanup late"]
    assert not probe.acquired and "late" not in providers


async def test_a_cancelled_application_still_cleans_up_its_providers(mode: str) -> None:
    probes = [Probe("a"), Probe("b", slow={"cleanup": 0.02})]
    with anyio.CancelScope() as scope:
        async with open_manager(mode) as providers:
            for probe in probes:
                await providers.register(probe)
            scope.cancel()
            await anyio.sleep(1)
    assert scope.cancelled_caught
    assert [p.finished[-1] for p in probes] == ["cleanup", "cleanup"]
    assert not any(p.acquired for p in probes)


async def test_bad_arguments_are_refused_with_the_fix() -> None:
    with pytest.raises(TypeError, match="pepperflow Store"):
        ProviderManager(store={})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prefix must be a non-empty str"):
        ProviderManager(prefix="")
    with pytest.raises(TypeError, match="ProviderMonitor"):
        ProviderManager(monitor=object())  # type: ignore[arg-type]
    async with ProviderManager() as providers:
        with pytest.raises(TypeError, match="takes a Provider"):
            await providers.register(object())  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="ping must be callable"):
            await providers.register(Probe("a"), ping=3)  # type: ignore[arg-type]
        with pytest.raises(RuntimeError, match="entered twice"):
            await providers.__aenter__()


async def test_a_store_that_fails_is_noted_on_the_error(mode: str) -> None:
    store = MemoryStore("app")
    async with open_manager(mode, store=store) as providers:
        await store.aclose()
        probe = Probe("p")
        with pytest.raises(anyio.ClosedResourceError) as info:
            await providers.register(probe)
        assert any("recording the failure in the store failed" in n for n in info.value.__notes__)
        assert probe.log == [] and "p" not in providers


async def test_closing_raises_the_failed_cleanups_after_closing_everything(mode: str) -> None:
    probes = [Probe("a"), Probe("b", fail={"cleanup": OSError("stuck")}), Probe("c")]
    providers = ProviderManager()
    if mode == "running":
        await providers.__aenter__()
    for probe in probes:
        await providers.register(probe)
    with pytest.raises(ExceptionGroup, match="provider\\(s\\) 'b' failed"):
        await providers.aclose()
    assert not any(p.acquired for p in probes)
    assert providers.store.statistics().closed


class Gated(Probe):
    """A probe whose initialize waits until :attr:`release` is set."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.entered = anyio.Event()
        self.release = anyio.Event()

    async def initialize(self) -> None:
        self.acquired = True
        self.log.append(f"initialize {self.metadata.name}")
        self.entered.set()
        await self.release.wait()


async def test_closing_waits_for_a_registration_in_flight_not_entered() -> None:
    probe = Gated("late")
    providers = ProviderManager()
    failures: list[BaseException] = []

    async def register() -> None:
        try:
            await providers.register(probe)
        except anyio.ClosedResourceError as exc:
            failures.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(register)
        await probe.entered.wait()  # the registration is in flight
        tg.start_soon(providers.aclose)
        with anyio.fail_after(5):
            while "closed" not in repr(providers):  # the close began (and waits)
                await anyio.lowlevel.checkpoint()
        probe.release.set()
    assert probe.log == ["validate late", "initialize late", "cleanup late"]
    [error] = failures
    assert not hasattr(error, "__notes__")  # its failure was recorded before the store closed


async def test_a_reload_cancelled_before_it_began_changes_nothing() -> None:
    """Cancelled while its ``reloading`` record is delivered: the provider stays ready."""
    async with ProviderManager() as providers:
        probe = Probe("llm")
        await providers.register(probe)

        async def slow_subscriber(change: Any) -> None:
            if change.value.status is ProviderStatus.RELOADING:
                await anyio.sleep(1)

        providers.subscribe(None, slow_subscriber)
        with anyio.move_on_after(0.02) as scope:
            await providers.reload_provider("llm")
        assert scope.cancelled_caught
        assert probe.acquired and probe.log == ["validate llm", "initialize llm"]
        record = await providers.status("llm")
        assert record is not None and record.status is ProviderStatus.READY


async def test_records_persist_in_an_application_sqlite_store(tmp_path: Path) -> None:
    async with SqliteStore(tmp_path / "app.db") as store, ProviderManager(store=store) as providers:
        await providers.register(Probe("a", capabilities=["chat"]))
        with pytest.raises(RuntimeError):
            await providers.register(Probe("b", fail={"initialize": RuntimeError("x")}))
    async with SqliteStore(tmp_path / "app.db") as store:
        records = await ProviderManager(store=store).statuses()
    assert {n: (r.status, r.capabilities, r.error) for n, r in records.items()} == {
        "a": (ProviderStatus.CLOSED, ["chat"], None),
        "b": (ProviderStatus.FAILED, [], "RuntimeError: x"),
    }
