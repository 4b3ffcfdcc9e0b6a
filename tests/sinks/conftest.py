"""A store of each backend, made with a registry (``make_store(metrics)``)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pepperflow import MetricsRegistry
from pepperflow.stores import MemoryStore, RedisStore, SqliteStore, Store
from tests.support.redis_server import RedisServer

MakeStore = Callable[[MetricsRegistry], Store[Any]]
_namespaces = itertools.count()


@pytest.fixture(params=["memory", "sqlite", "redis"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStore:
    """Makes a store on the backend of the parameter, named ``sinks-<pid>-<n>``: the
    session's Redis server keeps other tests' namespaces, so the name is this run's own."""

    def make(metrics: MetricsRegistry) -> Store[Any]:
        name = f"sinks-{os.getpid()}-{next(_namespaces)}"
        if request.param == "memory":
            return MemoryStore(name, metrics=metrics)
        if request.param == "sqlite":
            return SqliteStore(tmp_path / "app.db", namespace=name, metrics=metrics)
        server: RedisServer = request.getfixturevalue("redis_server")
        server.ensure_running()
        return RedisStore(server.url, namespace=name, sweep_interval=0.05, metrics=metrics)

    return make
