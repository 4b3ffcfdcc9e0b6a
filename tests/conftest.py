from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Every async test runs on asyncio and on trio."""
    return str(request.param)


from tests.support.new_stores import new_store as new_store  # noqa: E402
from tests.support.redis_cluster import redis_cluster as redis_cluster  # noqa: E402
from tests.support.redis_server import durable_server as durable_server  # noqa: E402
from tests.support.redis_server import redis_server as redis_server  # noqa: E402
from tests.support.storage_providers import providers as providers  # noqa: E402
