"""managed_resource: R045's method decorator, a function decorator, an async context manager."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from pepperflow import DefaultResourceManager, ResourceManager, managed_resource

pytestmark = pytest.mark.anyio


class Agent:
    """R045's shape: the decorated method finds the manager on self."""

    def __init__(self, resource_manager: ResourceManager) -> None:
        self.resource_manager = resource_manager
        self.held: list[str] = []

    @managed_resource("session")
    async def answer(self, session: str, question: str) -> str:
        self.held.append(session)
        assert session in self.resource_manager  # type: ignore[operator]
        if question == "fail":
            raise LookupError("no answer")
        if question == "hang":
            await anyio.sleep(1)
        return f"{question}?"


async def test_the_method_decorator_holds_a_resource_for_the_call() -> None:
    async with DefaultResourceManager() as resources:
        agent = Agent(resources)
        assert await agent.answer("why") == "why?"
        assert await agent.answer(question="how") == "how?"
        first, second = agent.held
        assert first.startswith("session:") and first != second
        assert first not in resources and second not in resources
        with pytest.raises(LookupError):
            await agent.answer("fail")
        with anyio.move_on_after(0.01):
            await agent.answer("hang")
        figures = await resources.monitor()
        assert (figures["acquired"], figures["released"], figures["active_resources"]) == (4, 4, 0)


async def test_the_method_decorator_needs_a_resource_manager_on_self() -> None:
    class Bare:
        @managed_resource("session")
        async def run(self, session: Any) -> None:
            raise AssertionError("not reached")

    with pytest.raises(TypeError, match=r"needs self\.resource_manager to be a ResourceManager"):
        await Bare().run()


async def test_an_async_context_manager_and_a_function_decorator() -> None:
    async with DefaultResourceManager() as resources:
        resources.register_factory("conn", lambda rid, *, host: {"id": rid, "host": host})
        hold = managed_resource("conn", resources, host="db.local")
        async with hold as conn:
            assert conn["host"] == "db.local" and conn["id"] in resources
            with pytest.raises(RuntimeError, match="already in use"):
                await hold.__aenter__()
        assert conn["id"] not in resources
        async with hold as again:  # reusable one block after another
            assert again["id"] != conn["id"]

        seen: list[str] = []

        @managed_resource("conn", resources, host="h")
        async def query(conn: dict[str, str], sql: str) -> str:
            seen.append(conn["id"])
            await anyio.sleep(0.01)
            return sql.upper()

        async with anyio.create_task_group() as tg:
            for _ in range(3):
                tg.start_soon(query, "select")
        assert await query("x") == "X"
        assert len(set(seen)) == 4  # each call its own resource
        assert (await resources.monitor())["active_resources"] == 0


async def test_a_fixed_id_and_a_factory_for_these_uses() -> None:
    async with DefaultResourceManager() as resources:
        hold = managed_resource(
            "tmp", resources, resource_id="tmp:shared", factory=lambda rid: [rid]
        )
        async with hold as value:
            assert value == ["tmp:shared"] and "tmp:shared" in resources
        assert "tmp:shared" not in resources


class Tickets(ResourceManager):
    """The smallest ResourceManager: ids in a set."""

    def __init__(self) -> None:
        self.held: set[str] = set()

    async def acquire(self, resource_id: str, /, **kwargs: Any) -> Any:
        self.held.add(resource_id)
        return resource_id

    async def release(self, resource_id: str) -> None:
        self.held.discard(resource_id)

    async def cleanup(self, pattern: str | None = None) -> int:
        count = len(self.held)
        self.held.clear()
        return count

    async def monitor(self) -> dict[str, Any]:
        return {"active_resources": len(self.held), "resource_errors": 0, "cleanup_runs": 0}


async def test_any_resource_manager_works_and_closes_with_cleanup() -> None:
    async with Tickets() as tickets:
        async with managed_resource("t", tickets) as ticket:
            assert ticket in tickets.held
        await tickets.acquire("t:kept")
        with pytest.raises(TypeError, match="needs a DefaultResourceManager"):
            async with managed_resource("t", tickets, factory=lambda rid: rid):
                pass
    assert tickets.held == set()  # aclose() ran cleanup()


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="a non-empty str without ':'"):
        managed_resource("db:1")
    with pytest.raises(TypeError, match="manager must be a ResourceManager"):
        managed_resource("db", object())  # type: ignore[call-overload]
    with pytest.raises(ValueError, match="resource_id must be a non-empty str"):
        managed_resource("db", resource_id="")
    with pytest.raises(TypeError, match="factory must be callable"):
        managed_resource("db", factory="connect")  # type: ignore[call-overload]
