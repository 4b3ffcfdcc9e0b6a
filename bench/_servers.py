"""A private redis-server, or Redis Cluster, for a benchmark: the test
fixtures' (tests/support/redis_server.py, tests/support/redis_cluster.py), on
free loopback ports, stopped at the end."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.support.redis_cluster import RedisCluster

__all__ = ["private_cluster", "private_redis"]

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def private_redis() -> Iterator[str]:
    """A private redis-server's URL for the block."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.redis_server import RedisServer

    server = RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.close()


@contextmanager
def private_cluster() -> Iterator[RedisCluster]:
    """A private Redis Cluster (tests/support/redis_cluster.py's: 3 primaries
    with a replica each, on free loopback ports) for the block; every node
    is killed and its directory removed at its end."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.redis_cluster import RedisCluster

    with RedisCluster() as cluster:
        yield cluster
