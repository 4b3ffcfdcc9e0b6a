"""One registry passed at the top: the stores a façade builds report into it too.

``open_store(url, metrics=registry)`` and every façade that builds its own
stores (the state managers and their factory, the R055 memory stores, the
provider and resource managers) pass a :class:`~pepperflow.MetricsRegistry`
given as ``metrics=`` on to those stores, so the standard store series
(``pepperflow_store_operations`` & co., labelled with the store's name and
backend) appear beside the façade's own. A sink that is not a registry
cannot read a store's figures at collection time: it gets the façade's
operations only.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

import pytest

from pepperflow import (
    BaseMemoryStore,
    BaseStateManager,
    DefaultResourceManager,
    LocalMemoryStore,
    MemoryProvider,
    MetricsRegistry,
    PersistentStateManager,
    ProviderManager,
    ProviderMetadata,
    ProviderMonitor,
    ProviderType,
    RedisMemoryStore,
    ResourceMetrics,
    SharedStateManager,
    StateManagerFactory,
    open_store,
)
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

_names = itertools.count()


def _name(what: str) -> str:
    """A store name of this run's own (the session's Redis keeps other tests' namespaces)."""
    return f"{what}-{os.getpid()}-{next(_names)}"


def store_calls(metrics: MetricsRegistry, store: str, backend: str, operation: str) -> float:
    """The calls of ``operation`` the store ``store`` reported into ``metrics``."""
    return metrics.value(
        "pepperflow_store_operations", operation=operation, store=store, backend=backend
    )


def store_series(metrics: MetricsRegistry) -> set[tuple[str, str]]:
    """The (store, backend) of every store reporting into ``metrics``."""
    return {
        (sample.labels["store"], sample.labels["backend"])
        for sample in metrics.samples("pepperflow_store_operations")
    }


class Recorder:
    """A MetricsSink that is not a registry: it keeps the names recorded."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def counter(self, name: str, value: float = 1, /, **labels: str) -> None:
        self.names.add(name)

    def gauge(self, name: str, value: float, /, **labels: str) -> None:
        self.names.add(name)

    def histogram(self, name: str, value: float, /, **labels: str) -> None:
        self.names.add(name)


async def test_open_store_passes_metrics_to_the_store_it_opens(tmp_path: Path) -> None:
    metrics = MetricsRegistry()
    async with open_store("memory://agent", metrics=metrics) as memory:
        await memory.set("step", 1)
    url = f"sqlite:///{tmp_path / 'agent.db'}?namespace=agent"
    async with open_store(url, metrics=metrics) as sqlite:
        await sqlite.set("step", 1)
        await sqlite.get("step")
    assert store_calls(metrics, "agent", "memory", "set") == 1
    assert store_calls(metrics, "agent", "sqlite", "set") == 1
    assert store_calls(metrics, "agent", "sqlite", "get") == 1
    held = await open_store("memory://held", metrics=metrics)  # a notebook's way
    await held.set("k", 1)
    await held.aclose()
    assert store_calls(metrics, "held", "memory", "set") == 1


async def test_open_store_refuses_a_sink_that_is_not_a_registry() -> None:
    with pytest.raises(TypeError, match=r"metrics must be a pepperflow\.MetricsRegistry"):
        open_store("memory://agent", metrics=Recorder())  # type: ignore[call-overload]


async def test_a_state_manager_factory_passes_metrics_to_each_managers_store(
    tmp_path: Path,
) -> None:
    metrics = MetricsRegistry()
    async with StateManagerFactory(persistent=tmp_path / "state.db", metrics=metrics) as states:
        await states.create_manager("scratch").set("k", 1)
        await states.create_manager("settings", "persistent").set("theme", "dark")
        await states.create_manager("board", "shared").set("k", 1)
    assert store_calls(metrics, "scratch", "memory", "set") == 1
    assert store_calls(metrics, "settings", "sqlite", "set") == 1
    assert store_calls(metrics, "board", "memory", "set") == 1
    manager_ops = metrics.total("pepperflow_operations", component="state", operation="set")
    assert manager_ops == 3  # the managers' own series, as before


async def test_state_managers_pass_metrics_to_the_stores_they_build(tmp_path: Path) -> None:
    metrics = MetricsRegistry()
    async with (
        BaseStateManager[Any](name="ephemeral", metrics=metrics) as ephemeral,
        PersistentStateManager[Any](tmp_path / "p.db", name="persistent", metrics=metrics) as kept,
        SharedStateManager[Any]("shared", store="memory://", metrics=metrics) as shared,
    ):
        for manager in (ephemeral, kept, shared):
            await manager.set("k", 1)
    assert store_series(metrics) == {
        ("ephemeral", "memory"),
        ("persistent", "sqlite"),
        ("shared", "memory"),
    }


async def test_memory_stores_pass_metrics_to_the_stores_they_build(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    redis_server.ensure_running()
    metrics = MetricsRegistry()
    namespace = _name("memory")
    async with (
        LocalMemoryStore[Any](name="local", metrics=metrics) as local,
        BaseMemoryStore[Any](f"sqlite:///{tmp_path / 'm.db'}", metrics=metrics) as filed,
        RedisMemoryStore[Any](redis_server.url, namespace=namespace, metrics=metrics) as shared,
    ):
        for memory in (local, filed, shared):
            await memory.set("turn", "hello")
            assert await memory.get("turn") is not None
    assert store_calls(metrics, "local", "memory", "set") == 1
    assert store_calls(metrics, "default", "sqlite", "set") == 1
    assert store_calls(metrics, namespace, "redis", "set") == 1
    assert store_calls(metrics, namespace, "redis", "entry") == 1  # R055's get reads the entry


async def test_a_provider_managers_own_store_reports_into_its_registry() -> None:
    meta = ProviderMetadata(name="cache", type=ProviderType.MEMORY, version="1")
    for how in ("metrics", "monitor"):
        metrics = MetricsRegistry()
        options: dict[str, Any] = (
            {"metrics": metrics} if how == "metrics" else {"monitor": ProviderMonitor(metrics)}
        )
        async with ProviderManager(**options) as providers:
            await providers.register(MemoryProvider(meta, None))
            assert await providers.status("cache") is not None
        assert store_calls(metrics, "providers", "memory", "set") >= 1, how


async def test_a_resource_managers_own_store_reports_into_its_registry() -> None:
    for given in ("registry", "resource metrics"):
        metrics = MetricsRegistry()
        option = metrics if given == "registry" else ResourceMetrics(metrics)
        async with DefaultResourceManager(metrics=option) as resources:
            await resources.acquire("db:1")
            await resources.release("db:1")
        assert store_calls(metrics, "resources", "memory", "set") >= 1, given


async def test_a_sink_that_is_not_a_registry_gets_the_facades_operations_only(
    tmp_path: Path,
) -> None:
    sink = Recorder()
    async with (
        StateManagerFactory(persistent=tmp_path / "state.db", metrics=sink) as states,
        LocalMemoryStore[Any](metrics=sink) as local,
        DefaultResourceManager(metrics=sink) as resources,
    ):
        manager = states.create_manager("scratch")
        await manager.set("k", 1)
        await local.set("k", 1)
        await resources.acquire("db:1")
        await resources.release("db:1")
        assert manager.store.statistics().keys == 1  # the stores work, without metrics
    assert "pepperflow_operations" in sink.names
    assert not {name for name in sink.names if name.startswith("pepperflow_store_")}
