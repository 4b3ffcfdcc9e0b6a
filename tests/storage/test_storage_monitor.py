"""StorageMonitor: R065's record_operation and record_size, and a sink on a
provider's change stream (items and bytes per content type), on every provider."""

from __future__ import annotations

import anyio
import msgspec
import pytest

from pepperflow import MetricsRegistry, StorageMonitor
from tests.support.storage_providers import Providers
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio


def size(data: object) -> int:
    return len(msgspec.msgpack.encode(data))


async def test_the_seeds_calls_record_operations_and_sizes() -> None:
    registry = MetricsRegistry()
    monitor = StorageMonitor(registry)
    await monitor.record_operation("test", "save", True)
    await monitor.record_operation("test", "save", False)
    await monitor.record_operation("test", "save", True)
    await monitor.record_size("test", 1000)
    value = registry.value
    assert value("storage_operations", content_type="test", operation="save", success="true") == 2
    assert value("storage_operations", content_type="test", operation="save", success="false") == 1
    assert value("storage_size", content_type="test") == 1000
    with pytest.raises(TypeError, match="success must be a bool"):
        await monitor.record_operation("test", "save", "yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="size must be bytes >= 0"):
        await monitor.record_size("test", -1)
    with pytest.raises(TypeError, match="content_type must be a str"):
        await monitor.record_size(3, 1)  # type: ignore[arg-type]
    assert isinstance(StorageMonitor().metrics, MetricsRegistry)


async def test_following_a_provider_keeps_items_and_bytes_per_content_type(
    providers: Providers,
) -> None:
    registry = MetricsRegistry()
    monitor = StorageMonitor(registry)
    value = registry.value
    async with providers() as provider, anyio.create_task_group() as tg:
        await provider.save("before", "x" * 10, "doc")  # a current item: counted as added
        await provider.save("gone", 1, "img")
        await tg.start(monitor.follow, provider)
        await provider.save("a", {"n": 1}, "doc")
        await provider.delete("gone")
        await provider.save("b", [1, 2, 3], "img")
        await provider.save("a", {"n": 22}, "doc")  # updated
        await provider.save("b", "now a doc", "doc")  # content type moves
        await wait_until(lambda: value("storage_items", content_type="doc") == 3, "3 docs")
        assert value("storage_items", content_type="img") == 0
        want = size("x" * 10) + size({"n": 22}) + size("now a doc")
        assert value("storage_size", content_type="doc") == want
        await provider.delete("before")
        await wait_until(lambda: value("storage_items", content_type="doc") == 2, "a delete")
        assert value("storage_size", content_type="doc") == want - size("x" * 10)
        assert value("storage_changes", content_type="doc", change="added") == 2
        assert value("storage_changes", content_type="doc", change="updated") == 2
        assert value("storage_changes", content_type="doc", change="removed") == 1
        assert value("storage_changes", content_type="img", change="added") == 2
        assert value("storage_changes", content_type="img", change="removed") == 1
        await provider.cleanup()  # the store closes: follow returns
