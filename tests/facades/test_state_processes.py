"""State managers across real processes: PERSISTENT survives a restart, SHARED over Redis.

Each test runs tests/support/state_child.py (on the test's own anyio backend,
warnings as errors) and checks what the other process sees.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import msgspec
import pytest

from pepperflow import PersistentStateManager, SharedStateManager, StateManagerFactory
from tests.support.child_process import TIMEOUT, Child, run_child
from tests.support.redis_server import RedisServer
from tests.support.state_child import NOTE, Note

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).parent.parent / "support" / "state_child.py"
_runs = itertools.count()


@asynccontextmanager
async def spawn(
    tmp_path: Path, backend: str, role: str, *args: str, cwd: Path, home: Path | None = None
) -> AsyncIterator[Child]:
    """Run ``state_child.py role backend *args`` in ``cwd``; kill it on the way out."""
    env = {k: v for k, v in os.environ.items() if k != "PEPPERFLOW_HOME"}
    if home is not None:
        env["PEPPERFLOW_HOME"] = str(home)
    argv = [role, backend, *args]
    async with run_child(CHILD, tmp_path, argv, cwd=cwd, env=env) as child:
        yield child


async def run_role(tmp_path: Path, backend: str, role: str, **options: Any) -> Any:
    async with spawn(tmp_path, backend, role, **options) as child:
        report = msgspec.json.decode(await child.line())
        await child.finish()
    return report


async def test_persistent_state_survives_a_restart_of_the_process(
    anyio_backend: str, tmp_path: Path
) -> None:
    workdir = tmp_path / "app"
    workdir.mkdir()
    first = await run_role(tmp_path, anyio_backend, "write", cwd=workdir)
    assert (workdir / ".pepperflow" / "state.db").exists(), "the default location"
    second = await run_role(tmp_path, anyio_backend, "read", cwd=workdir)
    assert (
        second["config"]
        == first["config"]
        == {
            "value": {"theme": "dark"},
            "version": 1,
            "type": "persistent",
            "metadata": {"by": "first"},
            "created_at": first["config"]["created_at"],
            "updated_at": first["config"]["created_at"],
        }
    )
    assert second["counter"] == first["counter"]
    assert first["counter"]["version"] == 2
    after = second["after"]
    assert (after["value"], after["version"]) == (3, 3), "versions continue after the restart"
    assert after["created_at"] == first["counter"]["created_at"]
    assert after["updated_at"] > first["counter"]["updated_at"]


async def test_pepperflow_home_is_where_both_processes_look(
    anyio_backend: str, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    await run_role(tmp_path, anyio_backend, "write", cwd=one, home=home)
    second = await run_role(tmp_path, anyio_backend, "read", cwd=two, home=home)
    assert second["counter"]["value"] == 2, "another directory, the same PEPPERFLOW_HOME"
    assert (home / "state.db").exists()
    assert not (one / ".pepperflow").exists() and not (two / ".pepperflow").exists()
    elsewhere = await run_role(tmp_path, anyio_backend, "read", cwd=two)
    assert elsewhere["counter"] is None, "without it, the working directory's own file"


async def test_a_shared_subscriber_in_another_process_gets_this_processs_changes(
    anyio_backend: str, tmp_path: Path, redis_server: RedisServer
) -> None:
    redis_server.ensure_running()
    url = f"{redis_server.url}?namespace=shared-{next(_runs)}"
    async with (
        spawn(tmp_path, anyio_backend, "subscribe", url, cwd=tmp_path) as child,
        StateManagerFactory(shared=url) as factory,
    ):
        assert msgspec.json.decode(await child.line()) == "ready"
        room = factory.create_manager("room", "shared")
        await room.set("topic", "hello")
        await room.set("msg:1", {"text": "hi"})
        await room.set("other", "not subscribed")
        await room.delete("topic")
        await room.delete("msg:1")
        calls = msgspec.json.decode(await child.line())
        await child.finish()
    assert calls == [
        ["key", "topic", "hello"],
        ["pattern", "msg:1", {"text": "hi"}],
        ["key", "topic", None],
        ["pattern", "msg:1", None],
    ]


async def test_a_subscriber_here_gets_another_processs_changes(
    anyio_backend: str, tmp_path: Path, redis_server: RedisServer
) -> None:
    redis_server.ensure_running()
    namespace = f"here-{next(_runs)}"
    url = f"{redis_server.url}?namespace={namespace}"
    calls: list[tuple[str, Any]] = []
    room: SharedStateManager[Any] = SharedStateManager(
        "room", store=f"{redis_server.url}?namespace={namespace}"
    )
    room.subscribe_pattern(None, lambda key, value: calls.append((key, value)))
    async with room, spawn(tmp_path, anyio_backend, "publish", url, cwd=tmp_path) as child:
        assert msgspec.json.decode(await child.line()) == "ready"
        await child.send("go")
        assert msgspec.json.decode(await child.line()) == "done"
        await child.finish()
        with anyio.fail_after(TIMEOUT):
            while len(calls) < 4:
                await anyio.sleep(0.005)
        assert await room.get("topic") is None
    assert calls == [
        ("topic", "hello"),
        ("msg:1", {"text": "hi"}),
        ("topic", None),
        ("msg:1", None),
    ]


async def test_typed_persistent_state_is_its_type_in_another_process(
    anyio_backend: str, tmp_path: Path
) -> None:
    workdir = tmp_path / "app"
    workdir.mkdir()
    assert await run_role(tmp_path, anyio_backend, "write-typed", cwd=workdir) == "done"
    path = workdir / ".pepperflow" / "state.db"
    async with PersistentStateManager(path, name="typed", type=Note) as typed:
        value = await typed.get("note")
        assert type(value) is Note and value == NOTE


async def test_a_typed_shared_subscriber_in_another_process_gets_its_type(
    anyio_backend: str, tmp_path: Path, redis_server: RedisServer
) -> None:
    redis_server.ensure_running()
    url = f"{redis_server.url}?namespace=typed-{next(_runs)}"
    async with (
        spawn(tmp_path, anyio_backend, "subscribe-typed", url, cwd=tmp_path) as child,
        SharedStateManager("room", store=url, type=Note) as room,
    ):
        assert msgspec.json.decode(await child.line()) == "ready"
        await room.set("note", NOTE)
        await room.delete("note")
        calls = msgspec.json.decode(await child.line())
        await child.finish()
    note = msgspec.json.decode(msgspec.json.encode(NOTE))  # as the child printed it
    assert calls == [["note", "Note", note], ["note", "NoneType", None]]
