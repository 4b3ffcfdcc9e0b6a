"""Across processes on Redis: a watch in one process sees another process's save."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import anyio
import pytest

from pepperflow import RedisStorageProvider, StorageEvent, StorageQuery
from tests.support.child_process import run_child
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

CHILD = Path(__file__).resolve().parents[1] / "support" / "storage_child.py"
_namespaces = itertools.count()


async def test_a_watch_sees_another_processes_save(
    redis_server: RedisServer, tmp_path: Path, anyio_backend: str
) -> None:
    redis_server.ensure_running()
    namespace = f"storage-processes-{next(_namespaces)}"
    config = {"host": redis_server.host, "port": redis_server.port}
    async with RedisStorageProvider(config, namespace=namespace) as provider:
        await provider.save("mine", {"by": "parent"}, "artifact", tags={"run": "42"})
        events: list[StorageEvent[Any]] = []
        async with provider.watch(StorageQuery(tags={"run": "42"})) as watch:
            seen = watch.__aiter__()
            events.append(await seen.__anext__())  # the current match
            args = [anyio_backend, str(redis_server.port), namespace, "theirs"]
            async with run_child(CHILD, tmp_path, args) as child:
                assert await child.line() == "saved"
                await child.finish()
            with anyio.fail_after(10):
                events.append(await seen.__anext__())
        assert [(e.kind, e.key) for e in events] == [("added", "mine"), ("added", "theirs")]
        assert events[1].item.data == {"by": "child"}
        found = [
            r.item.metadata.key async for r in provider.search(StorageQuery(tags={"run": "42"}))
        ]
        assert found == ["mine", "theirs"]
