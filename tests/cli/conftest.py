"""The stores the command is tried on: a SQLite file and a real Redis server."""

from __future__ import annotations

import uuid

import pytest

from tests.support.redis_server import RedisServer


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest) -> str:
    """A store URL: ``sqlite:///store.db`` (relative: run the command in
    ``tmp_path``) or a namespace of its own on the session's private Redis."""
    if request.param == "sqlite":
        return "sqlite:///store.db"
    server: RedisServer = request.getfixturevalue("redis_server")
    server.ensure_running()
    return f"{server.url}?namespace=cli-{uuid.uuid4().hex[:12]}"
