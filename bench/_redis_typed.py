"""bench_redis.py's typed section: a declared type against none, on RedisStore.

The same message, set and read by a ``RedisStore(type=Msg)`` (a msgspec
Struct) and by a RedisStore without a type (the same data as a dict), one
awaited operation at a time; bench_redis.py runs the two columns
round-robin (best of the rounds). Rows:

- ``get``, ``set``, ``set_many(1000)``: on the server;
- ``decode value``: an entry's value as ``get`` decodes it, and ``decode
  1000 changes``: a changelog entry of 1,000 changes as the follower decodes
  an ``XREAD``'s, both from the bytes Redis holds (no server);
- ``admit``: the base class's check and copy of a value at ``set`` (it
  encodes the value, then decodes it as the type); ``encode again``: the
  admitted value's encoding inside the write's head, the one encoding a set
  could save if admit handed its bytes on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import redis

from pepperflow.stores.redis import DriverName, RedisStore
from pepperflow.stores.redis._protocol import encode

__all__ = ["COLUMNS", "ROWS", "UNITS", "Msg", "typed_suite", "typed_verdicts"]

Op = Callable[[int], Awaitable[Any]]
Suite = dict[str, tuple[Op, int, int]]


class Msg(msgspec.Struct, frozen=True):
    role: str
    text: str
    turn: int
    tags: tuple[str, ...] = ()


MSG = Msg("user", "what is the weather in Lisbon today?", 3, ("chat", "weather"))
MSG_DATA = msgspec.to_builtins(MSG)  # the same data without a type: a dict

COLUMNS = ("pf untyped", "pf typed")
ROWS = ["get", "set", "set_many(1000)", "decode value", "decode 1000 changes", "admit"]
ROWS += ["encode again"]
UNITS = {"set_many(1000)": "keys/s", "decode 1000 changes": "changes/s"}
DECODES = ("decode value", "decode 1000 changes")


@asynccontextmanager
async def typed_suite(
    url: str, raw: redis.Redis, driver: DriverName, typed: bool, n: int, batches: int
) -> AsyncIterator[Suite]:
    """The rows of one column: a typed store (``Msg``) or an untyped one (dicts)."""
    value: Any = MSG if typed else MSG_DATA
    kind: Any = Msg if typed else Any
    ns = f"bench-{'typed' if typed else 'untyped'}-{driver}"
    keys = [f"msg:{i}" for i in range(1000)]
    many = dict.fromkeys(keys, value)
    async with RedisStore(url, namespace=ns, type=kind, driver=driver) as store:
        await store.set_many(many)
        # The bytes Redis holds: the first entry, and the changelog entry of the set_many.
        entry: Any = raw.get(f"pf:{{{ns}}}:k:{keys[0]}")
        log: Any = raw.xrevrange(f"pf:{{{ns}}}:log", count=1)
        changes: list[bytes] = list(log[0][1].values())
        decoding, admit = store._decoding, store.codec.admit
        admitted = admit(keys[0], value)

        async def decode_value(i: int) -> None:
            decoding.value(entry, keys[0])

        async def decode_changes(i: int) -> None:
            decoding.changes(changes)

        async def admit_one(i: int) -> None:
            admit(keys[0], value)

        async def encode_one(i: int) -> None:
            encode(admitted)

        yield {
            "get": (lambda i: store.get(keys[i % 1000]), n, 1),
            "set": (lambda i: store.set(keys[i % 1000], value), n, 1),
            "set_many(1000)": (lambda i: store.set_many(many), batches, len(keys)),
            "decode value": (decode_value, 20 * n, 1),
            "decode 1000 changes": (decode_changes, 4 * batches, len(changes)),
            "admit": (admit_one, 20 * n, 1),
            "encode again": (encode_one, 20 * n, 1),
        }


def typed_verdicts(backend: str, rates: dict[str, dict[str, float]]) -> list[tuple[bool, str]]:
    """Typed decoding no slower than untyped; a typed get and set within 10%."""
    untyped, typed = (rates[column] for column in COLUMNS)
    out: list[tuple[bool, str]] = []
    for op, floor in [*((op, 1.0) for op in DECODES), ("get", 0.9), ("set", 0.9)]:
        ratio = typed[op] / untyped[op]
        met = ratio >= floor
        out.append(
            (met, f"{backend}: typed {op} {ratio:.3f}x untyped ({'>=' if met else '<'} {floor})")
        )
    return out
