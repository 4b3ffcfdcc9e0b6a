"""A child process for tests/test_redis_processes.py: one RedisStore, one role.

Run as ``python -W error tests/redis_child.py ROLE BACKEND URL NAMESPACE [N]``;
``BACKEND`` is ``asyncio`` or ``trio``. The child prints ``ready`` once its
store is open, then talks one JSON line at a time (msgspec, so floats
round-trip exactly). Roles:

``follow N``
    Subscribe to every key, print ``ready``, wait until the subscriber got
    ``N`` changes (at most 10 s), print them (``{"changes": [...]}``).
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
from typing import Any

import anyio
import anyio.to_thread
import msgspec

from pepperflow import VersionConflict
from pepperflow.stores.redis import RedisStore
from pepperflow.streams import Change, ExpireChange

_json = msgspec.json.Encoder()


def say(message: Any) -> None:
    sys.stdout.buffer.write(_json.encode(message) + b"\n")
    sys.stdout.flush()


async def wait_for_line() -> None:
    await anyio.to_thread.run_sync(sys.stdin.readline)


async def follow(store: RedisStore[Any], got: list[Change], n: int) -> None:
    with anyio.fail_after(10):
        while len(got) < n:
            await anyio.sleep(0.005)
    say({"changes": got})


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


ROLES = {"follow": follow, "write": write, "increment": increment, "expire": expire}


async def main(role: str, url: str, namespace: str, n: int) -> None:
    if role not in ROLES:
        raise SystemExit(f"unknown role {role!r}")
    async with RedisStore(url, namespace=namespace) as store:
        got: list[Change] = []
        if role in ("follow", "expire"):
            store.subscribe(None, got.append)
        say("ready")
        await ROLES[role](store, got, n)


if __name__ == "__main__":
    role, backend, url, namespace, *rest = sys.argv[1:]
    anyio.run(main, role, url, namespace, int(rest[0]) if rest else 0, backend=backend)
