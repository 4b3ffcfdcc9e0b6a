"""What the Redis benchmarks share: the private redis-server with a
synchronous client, the server's time spent in commands, and
``redis-benchmark`` (the C client) as the server's limit."""

from __future__ import annotations

import csv
import io
import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "Server",
    "describe",
    "private_server",
    "redis_benchmark",
    "redis_benchmark_rate",
    "versions",
]

ROOT = Path(__file__).resolve().parent.parent


class Server:
    """The private redis-server: its URL, port, and a synchronous client (FLUSHALL)."""

    def __init__(self, url: str, port: int) -> None:
        import redis

        self.url = url
        self.port = port
        self.sync = redis.Redis(host="127.0.0.1", port=port)

    def flush(self) -> None:
        self.sync.flushall()

    def command_usec(self, *, scripts: bool) -> float:
        """Microseconds the server spent in commands since the last CONFIG RESETSTAT.

        Redis counts a command a script calls both in its own entry and in
        the script's: for a RedisStore column (``scripts``) only the commands
        a client sends (the scripts, ``GET``, ``XREAD``) are summed, so
        nothing counts twice.
        """
        stats: dict[str, Any] = self.sync.info("commandstats")
        if scripts:
            top = ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_get", "cmdstat_xread")
            return float(sum(stats[name]["usec"] for name in top if name in stats))
        return float(sum(entry["usec"] for entry in stats.values()))

    def script_usec(self) -> tuple[float, int]:
        """Microseconds spent in scripts (``EVALSHA``) since the last CONFIG
        RESETSTAT, and how many ran."""
        stats: dict[str, Any] = self.sync.info("commandstats")
        entry = stats.get("cmdstat_evalsha", {"usec": 0, "calls": 0})
        return float(entry["usec"]), int(entry["calls"])


@contextmanager
def private_server() -> Iterator[Server]:
    """A private redis-server on a free loopback port for the block."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.redis_server import RedisServer

    redis_server = RedisServer()
    redis_server.start()
    try:
        yield Server(redis_server.url, redis_server.port)
    finally:
        redis_server.close()


def versions() -> str:
    """The client libraries' versions, for a report's header."""
    from importlib.metadata import version

    names = ("redis", "hiredis", "coredis", "aiocache", "cashews", "anyio", "trio")
    return ", ".join(f"{name} {version(name)}" for name in names)


def describe(server: Server) -> None:
    """Print the machine, the client libraries and the server a report ran on."""
    print(
        f"python {sys.version.split()[0]}, {platform.machine()}, {os.cpu_count()} cores;"
        f" {versions()}"
    )
    info = server.sync.info("server")
    print(f"private redis-server {info['redis_version']} on {server.url}\n")


def _run(server: Server, extra: list[str]) -> list[tuple[str, float]] | None:
    """(test, requests/s) of one redis-benchmark run, or None when it is missing."""
    exe = shutil.which("redis-benchmark")
    if exe is None:
        return None
    base = [exe, "-h", "127.0.0.1", "-p", str(server.port), "--csv"]
    server.flush()
    result = subprocess.run([*base, *extra], capture_output=True, check=False)
    if result.returncode != 0:
        print(f"  ! redis-benchmark {' '.join(extra)} failed: {result.stderr.decode().strip()}")
    rows = csv.reader(io.StringIO(result.stdout.decode(errors="replace")))
    out = [(line[0], float(line[1])) for line in rows if len(line) >= 2 and line[0] != "test"]
    server.flush()
    return out


def redis_benchmark(server: Server, n: int) -> list[tuple[str, float]] | None:
    """(what, requests/s) of redis-benchmark runs, or None when it is missing."""
    runs = [
        ("50 clients", ["-t", "set,get", "-n", str(n)]),
        ("50 clients, -P 16", ["-t", "set,get", "-n", str(n * 4), "-P", "16"]),
        ("1 client", ["-t", "set,get", "-n", str(n // 4), "-c", "1"]),
    ]
    out: list[tuple[str, float]] = []
    for label, extra in runs:
        rows = _run(server, extra)
        if rows is None:
            return None
        out.extend((f"{test}, {label}", value) for test, value in rows)
    return out


def redis_benchmark_rate(server: Server, clients: int, n: int, keys: int = 100_000) -> float:
    """redis-benchmark's SET requests/s with ``clients`` clients on ``keys``
    random keys (0.0 when it is missing)."""
    extra = ["-t", "set", "-n", str(n), "-c", str(clients), "-r", str(keys)]
    rows = _run(server, extra)
    return rows[0][1] if rows else 0.0
