"""bench_redis.py's columns of plain clients (redis-py, coredis, aiocache,
cashews), and what every column shares: the keys, the sizes of a run."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from _redis_bench import Server

__all__ = [
    "BATCH",
    "KEYS",
    "ONE_SET",
    "TTL",
    "Op",
    "Sizes",
    "Suite",
    "aiocache_suite",
    "cashews_suite",
    "coredis_suite",
    "keys_of",
    "redis_py_suite",
]

Op = Callable[[int], Awaitable[Any]]
KEYS = [f"user:{i}" for i in range(1000)]
BATCH = 1000  # keys per set_many / pipeline
TTL = 3600


class Sizes:
    """How many operations each figure takes."""

    def __init__(self, quick: bool) -> None:
        # Many short rounds: on a shared machine the best of many catches
        # quiet moments for every column.
        self.ops = 1_000 if quick else 2_000
        self.batches = 3 if quick else 5  # set_many(1,000) calls per run
        self.samples = 500 if quick else 2_000  # changes per latency row
        self.latency_rounds = 2 if quick else 4  # the rows' turns (samples split among them)
        self.repeat = 3 if quick else 10


# A column of the table: operation name -> (awaited call of i, calls per run, keys per call).
Suite = dict[str, tuple[Op, int, int]]


def keys_of(prefix: str) -> list[str]:
    return [f"{prefix}user:{i}" for i in range(1000)]


ONE_SET = "return redis.call('SET', KEYS[1], ARGV[1])"


# -- plain clients ---------------------------------------------------------------


@asynccontextmanager
async def redis_py_suite(server: Server, sizes: Sizes) -> AsyncIterator[Suite]:
    import redis.asyncio

    n = sizes.ops
    keys = keys_of("redis-py:")
    client = redis.asyncio.Redis.from_url(server.url, decode_responses=False)
    try:
        for key in keys:
            await client.set(key, 1)

        async def pipeline(i: int) -> None:
            async with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(key, i)
                await pipe.execute()

        one_set = await client.script_load(ONE_SET)
        yield {
            "get": (lambda i: client.get(keys[i % 1000]), n, 1),
            "set": (lambda i: client.set(keys[i % 1000], i), n, 1),
            "set ttl": (lambda i: client.set(keys[i % 1000], i, ex=TTL), n, 1),
            "set_many(1000)": (pipeline, sizes.batches, BATCH),
            "evalsha 1 SET": (lambda i: client.evalsha(one_set, 1, keys[i % 1000], i), n, 1),
        }
    finally:
        await client.aclose()


@asynccontextmanager
async def coredis_suite(server: Server, sizes: Sizes) -> AsyncIterator[Suite]:
    import coredis

    n = sizes.ops
    keys = keys_of("coredis:")
    async with coredis.Redis.from_url(server.url, decode_responses=False) as client:
        for key in keys:
            await client.set(key, 1)

        async def pipeline(i: int) -> None:
            async with client.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(key, i)

        one_set = await client.script_load(ONE_SET)
        yield {
            "get": (lambda i: client.get(keys[i % 1000]), n, 1),
            "set": (lambda i: client.set(keys[i % 1000], i), n, 1),
            "set ttl": (lambda i: client.set(keys[i % 1000], i, ex=TTL), n, 1),
            "set_many(1000)": (pipeline, sizes.batches, BATCH),
            "evalsha 1 SET": (
                lambda i: client.evalsha(one_set, keys=[keys[i % 1000]], args=[i]),
                n,
                1,
            ),
        }


@asynccontextmanager
async def aiocache_suite(server: Server, sizes: Sizes) -> AsyncIterator[Suite]:
    from aiocache import RedisCache

    n = sizes.ops
    cache = RedisCache(endpoint="127.0.0.1", port=server.port, namespace="aiocache:")
    try:
        await cache.multi_set([(key, 1) for key in KEYS])
        yield {
            "get": (lambda i: cache.get(KEYS[i % 1000]), n, 1),
            "set": (lambda i: cache.set(KEYS[i % 1000], i), n, 1),
            "set ttl": (lambda i: cache.set(KEYS[i % 1000], i, ttl=TTL), n, 1),
            "set_many(1000)": (
                lambda i: cache.multi_set([(key, i) for key in KEYS]),
                sizes.batches,
                BATCH,
            ),
        }
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # it calls redis-py's close()
            await cache.close()


@asynccontextmanager
async def cashews_suite(server: Server, sizes: Sizes) -> AsyncIterator[Suite]:
    from cashews import Cache

    n = sizes.ops
    keys = keys_of("cashews:")
    cache = Cache()
    cache.setup(server.url)
    await cache.init()
    try:
        await cache.set_many(dict.fromkeys(keys, 1))
        yield {
            "get": (lambda i: cache.get(keys[i % 1000]), n, 1),
            "set": (lambda i: cache.set(keys[i % 1000], i), n, 1),
            "set ttl": (lambda i: cache.set(keys[i % 1000], i, expire=TTL), n, 1),
            "set_many(1000)": (
                lambda i: cache.set_many(dict.fromkeys(keys, i)),
                sizes.batches,
                BATCH,
            ),
        }
    finally:
        await cache.close()
