"""A child process for tests/test_redis_processes.py: one RedisStore, one role.

Run as ``python -W error tests/redis_child.py ROLE BACKEND URL NAMESPACE [N]``;
``BACKEND`` is ``asyncio`` or ``trio``. The child prints ``ready`` once its
store is open, then talks one JSON line at a time (msgspec, so floats
round-trip exactly). Roles:

``follow N``
    Subscribe to every key, print ``ready``, wait until the subscriber got
    ``N`` changes (at most 10 s), print them (``{"changes": [...], "types":
    [...]}``, ``types`` naming the class of each set change's value and
    metadata, and of each key's value read back with ``get``).
``follow-typed N``
    ``follow`` on a ``RedisStore(type=Msg, metadata_type=Meta)``.
``write N``
    Print ``ready``, wait for a line on stdin, set ``w:0`` .. ``w:N-1``
    (each to its index), print ``{"seq": ...}``.
``increment N``
    Print ``ready``, wait for a line on stdin, add 1 to ``counter`` ``N``
    times with a compare-and-set retry loop; print ``{"conflicts": ...}``.
``expire N``
    Subscribe to every key, print ``ready``, wait until ``N`` expire
    changes came (at most 10 s), then 0.3 s more, print every expire change.
"""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import anyio
import anyio.to_thread
import msgspec

from pepperflow import VersionConflict
from pepperflow.stores.redis import RedisStore
from pepperflow.streams import Change, ExpireChange, SetChange

_json = msgspec.json.Encoder()


class Msg(msgspec.Struct, frozen=True):
    """The value type of the typed roles (the parent test imports it)."""

    role: str
    text: str
    at: datetime
    tags: tuple[str, ...] = ()


class Meta(msgspec.Struct, frozen=True):
    """The metadata type of the typed roles."""

    by: str


def say(message: Any) -> None:
    sys.stdout.buffer.write(_json.encode(message) + b"\n")
    sys.stdout.flush()


async def wait_for_line() -> None:
    await anyio.to_thread.run_sync(sys.stdin.readline)


async def follow(store: RedisStore[Any], got: list[Change], n: int) -> None:
    with anyio.fail_after(10):
        while len(got) < n:
            await anyio.sleep(0.005)
    sets = [c for c in got if isinstance(c, SetChange)]
    types = [f"{type(c.value).__name__}/{type(c.metadata).__name__}" for c in sets]
    types += [type(await store.get(c.key)).__name__ for c in sets]
    say({"changes": got, "types": types})


async def write(store: RedisStore[Any], got: list[Change], n: int) -> None:
    await wait_for_line()
    for i in range(n):
        await store.set(f"w:{i}", i)
    say({"seq": store.statistics().seq})


async def increment(store: RedisStore[Any], got: list[Change], n: int) -> None:
    await wait_for_line()
    conflicts = 0
    for _ in range(n):
        while True:
            entry = await store.entry("counter")
            version = 0 if entry is None else entry.version
            value = 0 if entry is None else entry.value
            try:
                await store.set("counter", value + 1, if_version=version)
                break
            except VersionConflict:
                conflicts += 1
    say({"conflicts": conflicts})


async def expire(store: RedisStore[Any], got: list[Change], n: int) -> None:
    with anyio.fail_after(10):
        while sum(isinstance(c, ExpireChange) for c in got) < n:
            await anyio.sleep(0.005)
    await anyio.sleep(0.3)
    say({"changes": [c for c in got if isinstance(c, ExpireChange)]})


ROLES = {
    "follow": follow,
    "follow-typed": follow,
    "write": write,
    "increment": increment,
    "expire": expire,
}


def open_store(role: str, url: str, namespace: str) -> RedisStore[Any]:
    if role.endswith("-typed"):
        return RedisStore(url, namespace=namespace, type=Msg, metadata_type=Meta)
    return RedisStore(url, namespace=namespace)


async def main(role: str, url: str, namespace: str, n: int) -> None:
    if role not in ROLES:
        raise SystemExit(f"unknown role {role!r}")
    async with open_store(role, url, namespace) as store:
        got: list[Change] = []
        if role in ("follow", "follow-typed", "expire"):
            store.subscribe(None, got.append)
        say("ready")
        await ROLES[role](store, got, n)


if __name__ == "__main__":
    role, backend, url, namespace, *rest = sys.argv[1:]
    anyio.run(main, role, url, namespace, int(rest[0]) if rest else 0, backend=backend)
