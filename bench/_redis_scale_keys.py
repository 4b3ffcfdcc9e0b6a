"""bench_redis_scale.py's keys section: RedisStore on a namespace of 1,000 to
1,000,000 keys, next to the plain client on as many keys.

Per scale (the server flushed first): the store is filled by
``set_many(1,000)`` (keys/s, and Redis's memory per key after), then one
awaited get, set and set with a ttl at a time on keys drawn at random from
all of them (best of a few runs; Redis's microseconds per op from ``INFO
commandstats``); the plain client (redis-py's asyncio client on asyncio,
coredis on trio) does ``GET``, ``SET`` and ``SET EX`` on as many plain keys
(filled by a pipeline, and their memory per key).
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from _redis_bench import Server

from pepperflow.stores.redis import DriverName, RedisStore

__all__ = ["OPS", "keys_section"]

OPS = ["get", "set", "set ttl"]
BATCH = 1_000
TTL = 3600
#: op -> (ops/s, Redis us/op); plus "fill" (keys/s, us/key) and "bytes/key" (bytes, 0)
Figures = dict[str, tuple[float, float]]


def _used_memory(server: Server) -> int:
    return int(server.sync.info("memory")["used_memory"])


async def _best(
    server: Server, op: Callable[[int], Awaitable[Any]], n: int, repeat: int, scripts: bool
) -> tuple[float, float]:
    """Best ops/s of ``repeat`` runs of ``n`` awaited ``op(i)``, least Redis us/op."""
    best, least = 0.0, float("inf")
    for _ in range(repeat):
        gc.collect()
        server.sync.config_resetstat()
        start = time.perf_counter()
        for i in range(n):
            await op(i)
        best = max(best, n / (time.perf_counter() - start))
        least = min(least, server.command_usec(scripts=scripts) / n)
    return best, least


async def _store_figures(
    server: Server, driver: DriverName, scale: int, n: int, repeat: int
) -> Figures:
    out: Figures = {}
    rng = random.Random(scale)
    picks = [f"user:{rng.randrange(scale)}" for _ in range(n)]
    before = _used_memory(server)
    async with RedisStore(server.url, namespace=f"keys-{driver}", driver=driver) as store:
        server.sync.config_resetstat()
        start = time.perf_counter()
        for first in range(0, scale, BATCH):
            await store.set_many({f"user:{i}": i for i in range(first, first + BATCH)})
        out["fill"] = (scale / (time.perf_counter() - start), 0.0)
        out["bytes/key"] = ((_used_memory(server) - before) / scale, 0.0)
        ops: dict[str, Callable[[int], Awaitable[Any]]] = {
            "get": lambda i: store.get(picks[i]),
            "set": lambda i: store.set(picks[i], i),
            "set ttl": lambda i: store.set(picks[i], i, ttl=TTL),
        }
        for name, op in ops.items():
            out[name] = await _best(server, op, n, repeat, scripts=True)
    return out


def _fill_plain(server: Server, scale: int) -> float:
    """Fill ``plain:user:<i>`` by a pipeline; Redis's memory per key."""
    before = _used_memory(server)
    for first in range(0, scale, 10 * BATCH):
        pipe = server.sync.pipeline(transaction=False)
        for i in range(first, min(first + 10 * BATCH, scale)):
            pipe.set(f"plain:user:{i}", i)
        pipe.execute()
    return (_used_memory(server) - before) / scale


async def _plain_figures(server: Server, backend: str, scale: int, n: int, repeat: int) -> Figures:
    out: Figures = {"bytes/key": (_fill_plain(server, scale), 0.0)}
    rng = random.Random(scale + 1)
    picks = [f"plain:user:{rng.randrange(scale)}" for _ in range(n)]

    async def run(client: Any) -> None:
        ops: dict[str, Callable[[int], Awaitable[Any]]] = {
            "get": lambda i: client.get(picks[i]),
            "set": lambda i: client.set(picks[i], i),
            "set ttl": lambda i: client.set(picks[i], i, ex=TTL),
        }
        for name, op in ops.items():
            out[name] = await _best(server, op, n, repeat, scripts=False)

    if backend == "asyncio":
        import redis.asyncio

        redis_py = redis.asyncio.Redis.from_url(server.url)
        try:
            await run(redis_py)
        finally:
            await redis_py.aclose()
    else:
        import coredis

        async with coredis.Redis.from_url(server.url, decode_responses=False) as client:
            await run(client)
    return out


def keys_section(
    server: Server, backend: str, driver: DriverName, scales: list[int], n: int, repeat: int
) -> dict[int, tuple[Figures, Figures]]:
    """Per scale: the store's figures and the plain client's."""
    out: dict[int, tuple[Figures, Figures]] = {}
    for scale in scales:
        server.flush()
        pf = anyio.run(_store_figures, server, driver, scale, n, repeat, backend=backend)
        plain = anyio.run(_plain_figures, server, backend, scale, n, repeat, backend=backend)
        out[scale] = (pf, plain)
    server.flush()
    return out
