"""What the soak's stores live in, and the faults it injects there.

:class:`RedisTarget` is a private, durable ``redis-server`` (append-only
file, fsync always: tests/support/redis_server.py) on a free port of
127.0.0.1; :class:`SqliteTarget` a file in the run's temporary directory.
Each has its faults (its :meth:`inject`), and :func:`plan` says when
each comes. Killing a child process (``KILL_CHILD``) is the parent's
fault: it owns the children.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Set
from pathlib import Path
from typing import Protocol

import anyio
import anyio.to_thread
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .protocol import Backend, rss_bytes

__all__ = ["FAULTS", "KILL_CHILD", "RedisTarget", "SqliteTarget", "Target", "plan"]

ROOT = Path(__file__).resolve().parents[2]
OUTAGE = 1.0  # seconds the Redis server stays down
LOCK_HOLD = 2.0  # seconds the SQLite write lock is held (under the store's 5 s busy_timeout)
PERIOD = (5.0, 20.0)  # seconds between faults: at least (fewer in a short run), at most

KILL_CHILD = "kill-child"
#: Every fault, by backend: its name (for ``--faults``) and what it does.
FAULTS: dict[Backend, dict[str, str]] = {
    "redis": {
        "client-kill": "CLIENT KILL TYPE normal: every client connection is closed",
        "kill-9": "the server is killed (SIGKILL) and restarted a second later",
        "shutdown": "SHUTDOWN NOSAVE, and the server restarted a second later",
    },
    "sqlite": {
        KILL_CHILD: "child B is killed (SIGKILL) and started again (in the first quarter)",
        "lock": f"another connection holds the write lock for {LOCK_HOLD:g} s (later)",
    },
}
REDIS_CYCLE = ("client-kill", "kill-9", "client-kill", "shutdown")


def plan(backend: Backend, seconds: float, only: Set[str] | None = None) -> list[tuple[float, str]]:
    """When each fault comes (seconds from the start) and which, of those
    named in ``only`` (every one by default).

    One every ``seconds / 8`` (at least 5 s, at most 20 s apart), none in
    the last tenth. On Redis they take turns; on SQLite those of the first
    quarter kill child B (its last life, back within seconds, then spans the
    thirds its memory is judged on) and the others hold the lock. A time
    whose fault ``only`` leaves out gets one it allows.
    """
    period = max(PERIOD[0], min(seconds / 8, PERIOD[1]))
    times = [period * k for k in range(1, int(seconds * 0.9 / period) + 1)]
    if backend == "redis":
        cycle = [f for f in REDIS_CYCLE if only is None or f in only]
        return [(at, cycle[k % len(cycle)]) for k, at in enumerate(times)] if cycle else []
    allowed = [f for f in (KILL_CHILD, "lock") if only is None or f in only]
    if not allowed:
        return []
    return [(at, allowed[0] if at < seconds / 4 - period / 2 else allowed[-1]) for at in times]


class Target(Protocol):
    """Where the store lives, as the children open it, and its faults."""

    async def start(self) -> None:
        """Start the server (when there is one)."""

    @property
    def url(self) -> str:
        """What a child opens: the file's path, or the server's URL."""

    def size(self) -> int:
        """The server's RSS, or the file's size with its WAL, in bytes."""

    async def inject(self, fault: str) -> str:
        """Inject ``fault`` (a name from :func:`plan`); say what was done."""

    def close(self) -> None:
        """Stop the server (when there is one)."""


class SqliteTarget:
    """A SQLite file in ``directory``; its fault holds the write lock from another connection."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "soak.db"

    async def start(self) -> None:
        pass  # the first child creates the file

    @property
    def url(self) -> str:
        return str(self.path)

    def size(self) -> int:
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        return sum(file.stat().st_size for file in files if file.exists())

    async def inject(self, fault: str) -> str:
        assert fault == "lock", fault
        waited = await anyio.to_thread.run_sync(self._hold_lock)
        return f"another connection held the write lock {LOCK_HOLD:g} s (got it in {waited:.2f} s)"

    def _hold_lock(self) -> float:
        started = time.monotonic()
        connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            waited = time.monotonic() - started
            time.sleep(LOCK_HOLD)
            connection.execute("ROLLBACK")
        finally:
            connection.close()
        return waited

    def close(self) -> None:
        pass


class RedisTarget:
    """A private durable ``redis-server``; its faults kill it, shut it down, or
    kill every client's connection."""

    def __init__(self) -> None:
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from tests.support.redis_server import RedisServer

        self.server = RedisServer(durable=True, startup_timeout=60)

    async def start(self) -> None:
        await anyio.to_thread.run_sync(self.server.start)

    @property
    def url(self) -> str:
        return self.server.url

    def size(self) -> int:
        pid = self.server.pid
        return 0 if pid is None else rss_bytes(pid)

    def _client(self) -> redis.Redis:
        """A client that never retries (redis-py's default retries a lost
        connection, with backoff: seconds after ``SHUTDOWN``)."""
        return redis.Redis(
            host=self.server.host,
            port=self.server.port,
            socket_timeout=10,
            retry=Retry(NoBackoff(), 0),
        )

    async def inject(self, fault: str) -> str:
        if fault == "client-kill":
            return await anyio.to_thread.run_sync(self._client_kill)
        if fault == "kill-9":
            await anyio.to_thread.run_sync(self.server.stop)
        elif fault == "shutdown":
            await anyio.to_thread.run_sync(self._shutdown)
        else:
            raise ValueError(f"unknown fault {fault!r}")
        await anyio.sleep(OUTAGE)
        started = time.monotonic()
        await anyio.to_thread.run_sync(self.server.restart)
        took = time.monotonic() - started
        how = "SIGKILL" if fault == "kill-9" else "SHUTDOWN NOSAVE"
        return f"{how}, down {OUTAGE:g} s, restarted with its append-only file in {took:.2f} s"

    def _client_kill(self) -> str:
        with self._client() as client:
            killed = client.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
        return f"CLIENT KILL TYPE normal: {killed} connections"

    def _shutdown(self) -> None:
        """``SHUTDOWN NOSAVE`` (the append-only file is flushed), then wait until it is down."""
        with self._client() as client:
            client.shutdown(nosave=True)
        deadline = time.monotonic() + 30
        while self.server.is_running():
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server still answers 30 s after SHUTDOWN NOSAVE")
            time.sleep(0.05)

    def close(self) -> None:
        self.server.close()
