"""SharedStateManager in process: subscriptions by key and pattern, deletes, expiries, failures."""

from __future__ import annotations

import logging
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from pepperflow import (
    InvalidKey,
    InvalidPattern,
    MetricsRegistry,
    SharedStateManager,
    StateType,
)
from pepperflow.stores import MemoryStore

pytestmark = pytest.mark.anyio

Calls = list[tuple[str, Any]]


def recorder() -> tuple[Calls, Any]:
    calls: Calls = []

    async def on_change(key: str, value: Any) -> None:
        calls.append((key, value))

    return calls, on_change


async def test_a_key_subscriber_gets_exactly_that_keys_sets_deletes_and_expiries() -> None:
    shared: SharedStateManager[str] = SharedStateManager("app")
    calls, on_change = recorder()
    shared.subscribe("key3", on_change)
    await shared.set("key3", "a")
    await shared.set("key30", "not this one")
    await shared.set("key", "nor this one")
    await shared.set("key3", "b", StateType.SHARED)
    await shared.delete("key3")
    await shared.set("key3", "c", ttl=0.01)
    await anyio.sleep(0.05)
    assert await shared.get("key3") is None  # expired on access
    assert calls == [("key3", "a"), ("key3", "b"), ("key3", None), ("key3", "c"), ("key3", None)]


async def test_keys_with_glob_characters_are_matched_literally() -> None:
    shared: SharedStateManager[int] = SharedStateManager()
    calls, on_change = recorder()
    shared.subscribe("a*[b]?", on_change)
    await shared.set("axbc", 1)
    await shared.set("a*[b]?", 2)
    await shared.set("a*[b]?z", 3)
    assert calls == [("a*[b]?", 2)]


async def test_pattern_subscribers_follow_the_pattern_rule() -> None:
    shared: SharedStateManager[int] = SharedStateManager()
    prefix, on_prefix = recorder()
    glob, on_glob = recorder()
    every, on_every = recorder()
    shared.subscribe_pattern("user:", on_prefix)
    shared.subscribe_pattern("*:1", on_glob)
    shared.subscribe_pattern(None, on_every)
    for key in ("user:1", "user:2", "team:1", "other"):
        await shared.set(key, 1)
    await shared.delete("user:1")
    assert prefix == [("user:1", 1), ("user:2", 1), ("user:1", None)]
    assert glob == [("user:1", 1), ("team:1", 1), ("user:1", None)]
    assert [key for key, _ in every] == ["user:1", "user:2", "team:1", "other", "user:1"]


async def test_sync_callbacks_and_callbacks_returning_awaitables_work() -> None:
    shared: SharedStateManager[int] = SharedStateManager()
    seen: Calls = []
    shared.subscribe("k", lambda key, value: seen.append((key, value)))

    def returns_awaitable(key: str, value: Any) -> Any:
        seen.append(("awaitable", value))
        return anyio.lowlevel.checkpoint()

    shared.subscribe("k", returns_awaitable)
    await shared.set("k", 1)
    assert seen == [("k", 1), ("awaitable", 1)]


async def test_a_failing_callback_is_isolated_logged_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = MetricsRegistry()
    shared: SharedStateManager[int] = SharedStateManager("iso", metrics=metrics)
    calls, on_change = recorder()

    async def fails(key: str, value: Any) -> None:
        raise RuntimeError("subscriber bug")

    shared.subscribe("k", fails)
    shared.subscribe("k", on_change)
    with caplog.at_level(logging.ERROR, logger="pepperflow"):
        await shared.set("k", 1)  # the writer does not see the error
    assert calls == [("k", 1)], "the other subscriber still got the change"
    assert await shared.get("k") == 1
    assert shared.store.statistics().callback_errors == 1
    assert any(
        record.exc_info and isinstance(record.exc_info[1], RuntimeError)
        for record in caplog.records
    )
    labels = {"component": "state", "manager": "iso", "operation": "notify"}
    assert metrics.value("pepperflow_operations", outcome="ok", **labels) == 1
    assert metrics.value("pepperflow_operations", outcome="RuntimeError", **labels) == 1


async def test_unsubscribe_removes_one_subscription_at_a_time() -> None:
    shared: SharedStateManager[int] = SharedStateManager()
    calls, on_change = recorder()
    shared.subscribe("k", on_change)
    shared.subscribe("k", on_change)
    shared.subscribe_pattern("k", on_change)
    await shared.set("k", 1)
    assert len(calls) == 3, "each subscription calls back"
    shared.unsubscribe("k", on_change)
    await shared.set("k", 2)
    assert calls[3:] == [("k", 2), ("k", 2)]
    shared.unsubscribe("k", on_change)
    shared.unsubscribe_pattern("k", on_change)
    await shared.set("k", 3)
    assert len(calls) == 5
    assert shared.subscriptions() == []
    assert shared.store.statistics().subscriptions == 0


async def test_unsubscribing_what_is_not_subscribed_is_an_error() -> None:
    shared: SharedStateManager[int] = SharedStateManager("u")
    _, on_change = recorder()
    _, other = recorder()
    shared.subscribe("k", on_change)
    shared.subscribe_pattern("p", on_change)
    with pytest.raises(ValueError, match="is not subscribed to key 'j'"):
        shared.unsubscribe("j", on_change)
    with pytest.raises(ValueError, match="is not subscribed to key 'k'"):
        shared.unsubscribe("k", other)
    with pytest.raises(ValueError, match="is not subscribed to pattern 'k'"):
        shared.unsubscribe_pattern("k", on_change)
    with pytest.raises(ValueError, match="is not subscribed to key 'p'"):
        shared.unsubscribe("p", on_change)
    assert shared.subscriptions() == [("key", "k", on_change), ("pattern", "p", on_change)]


async def test_bad_subscriptions_are_refused() -> None:
    shared: SharedStateManager[int] = SharedStateManager()
    _, on_change = recorder()
    with pytest.raises(InvalidKey):
        shared.subscribe("", on_change)
    with pytest.raises(InvalidKey):
        shared.subscribe(5, on_change)  # type: ignore[arg-type]
    with pytest.raises(InvalidPattern):
        shared.subscribe_pattern("[", on_change)
    with pytest.raises(TypeError, match="must be callable"):
        shared.subscribe("k", "not callable")  # type: ignore[arg-type]
    assert shared.subscriptions() == []
    await shared.aclose()
    with pytest.raises(anyio.ClosedResourceError):
        shared.subscribe("k", on_change)


async def test_managers_over_one_store_see_each_others_changes() -> None:
    store = MemoryStore("team")
    first: SharedStateManager[str] = SharedStateManager("first", store=store)
    second: SharedStateManager[str] = SharedStateManager("second", store=store)
    calls, on_change = recorder()
    second.subscribe_pattern("doc:", on_change)
    await first.set("doc:1", "draft")
    assert await second.get("doc:1") == "draft"
    assert calls == [("doc:1", "draft")]
    assert (first.namespace, second.namespace) == ("first", "second")


async def test_a_write_from_a_callback_is_delivered_after_the_current_change() -> None:
    shared: SharedStateManager[int] = SharedStateManager()
    order: list[str] = []

    async def bump(key: str, value: Any) -> None:
        order.append(f"{key}={value}")
        if key == "a":
            await shared.set("b", value + 1)

    shared.subscribe_pattern(None, bump)
    await shared.set("a", 1)
    assert order == ["a=1", "b=2"]
    assert await shared.get("b") == 2


async def test_shared_state_type_is_its_own() -> None:
    shared: SharedStateManager[int] = SharedStateManager()
    with pytest.raises(ValueError, match="keeps SHARED state"):
        await shared.set("k", 1, StateType.EPHEMERAL)
    await shared.set("k", 1)
    entry = await shared.entry("k")
    assert entry is not None and entry.type is StateType.SHARED
    assert await shared.list(type=StateType.SHARED) == ["k"]
