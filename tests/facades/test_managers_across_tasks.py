"""Every manager used without ``async with``, across tasks, as in notebook cells.

One task (a cell) opens the manager's store by using it, later ones use it
and close it. Nothing may stay in the first task (no task group, no cancel
scope): each store a manager runs has a host task of its own. The factory
and the providers have their own such tests (test_state_factory.py,
test_providers_kinds.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from pepperflow import (
    BaseMemoryStore,
    DefaultResourceManager,
    LocalMemoryStore,
    PersistentStateManager,
    RedisMemoryStore,
    SharedStateManager,
)
from pepperflow._view import StoreView
from tests.support.cells import run_cells
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio


async def _write(view: Any) -> None:
    await view.set("k", "v")


async def _read(view: Any) -> Any:
    value = await view.get("k")
    return getattr(value, "value", value)  # an R055 entry, or the value


#: Views that own their store, by how each is made from a tmp directory.
SQLITE_VIEWS: dict[str, Callable[[Path], StoreView]] = {
    "PersistentStateManager": lambda tmp: PersistentStateManager(tmp / "state.db", name="app"),
    "SharedStateManager": lambda tmp: SharedStateManager(store=f"sqlite:///{tmp / 's.db'}"),
    "BaseMemoryStore": lambda tmp: BaseMemoryStore(f"sqlite:///{tmp / 'memory.db'}"),
    "LocalMemoryStore": lambda tmp: LocalMemoryStore(),
}


async def check_across_cells(view: StoreView) -> None:
    """Cells: the first writes (opening the store), the second reads, the third closes."""

    async def read() -> None:
        assert await _read(view) == "v"

    await run_cells(lambda: _write(view), read, view.aclose)
    assert view.closed
    assert view.store.statistics().closed
    with pytest.raises(anyio.ClosedResourceError):
        await _read(view)


@pytest.mark.parametrize("kind", sorted(SQLITE_VIEWS))
async def test_a_view_that_owns_its_store_is_used_and_closed_across_tasks(
    kind: str, tmp_path: Path
) -> None:
    await check_across_cells(SQLITE_VIEWS[kind](tmp_path))


async def test_redis_views_are_used_and_closed_across_tasks(redis_server: RedisServer) -> None:
    redis_server.ensure_running()
    namespace = f"cells-{anyio.get_current_task().id}"
    await check_across_cells(RedisMemoryStore(redis_server.url, namespace=namespace))
    await check_across_cells(
        SharedStateManager(namespace, store=f"{redis_server.url}?namespace={namespace}s")
    )


async def test_a_resource_manager_is_used_and_closed_across_tasks() -> None:
    released: list[Any] = []
    resources = DefaultResourceManager()
    resources.register_factory(
        "db", lambda resource_id: {"id": resource_id}, cleanup=released.append
    )

    async def acquire() -> None:
        assert await resources.acquire("db:1") == {"id": "db:1"}

    async def release() -> None:
        assert await resources.status("db:1") is not None
        await resources.release("db:1")

    await run_cells(acquire, release, resources.aclose)
    assert released == [{"id": "db:1"}]
    assert resources.store.statistics().closed
