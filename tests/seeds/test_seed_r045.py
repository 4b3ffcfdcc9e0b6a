"""R045's validation test (004_d62579c23bdb3e25.txt, "Validação"), imports from pepperflow.

Where the seed reads the private ``manager._resources``, this asserts the
public figures instead: ``resource_id in manager`` and ``monitor()``'s
``active_resources``.
"""

from __future__ import annotations

import pytest

from pepperflow import DefaultResourceManager

pytestmark = pytest.mark.anyio


async def test_resource_management() -> None:
    # Setup
    manager = DefaultResourceManager()
    await manager.start()

    # Test resource lifecycle
    resource_id = "test:1"
    resource = await manager.acquire(resource_id)
    assert resource == resource_id  # a bare resource: no factory for kind "test"
    assert resource_id in manager
    assert (await manager.monitor())["active_resources"] == 1

    # Test cleanup
    await manager.cleanup()
    assert resource_id not in manager
    assert (await manager.monitor())["active_resources"] == 0

    # Test metrics
    metrics = await manager.monitor()
    assert "active_resources" in metrics
    assert "resource_errors" in metrics
    assert metrics["resource_errors"] == 0
    assert metrics["cleanup_runs"] == 1

    # Cleanup
    await manager.stop()
