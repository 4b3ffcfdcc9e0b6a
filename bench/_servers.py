"""A private redis-server for a benchmark: tests/support/redis_server.py's, on a free
loopback port, stopped at the end."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["private_redis"]

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
