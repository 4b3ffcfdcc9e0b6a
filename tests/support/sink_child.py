"""A child process for tests/sinks/test_write_behind.py: a write-behind that is killed.

Run as ``python -W error tests/support/sink_child.py BACKEND PATH COUNT KEYS
MAX_BATCH BUFFER``: a MemoryStore in front of the SqliteStore ``PATH`` through
a WriteBehind (``max_batch=MAX_BATCH``, ``buffer=BUFFER``, ``max_delay`` of
an hour, so batches go by count only). Once it is caught up, it makes ``COUNT`` sets, the ``i``-th
(from 1) setting key ``k{i % KEYS}`` to ``i``, prints ``{"seq": ...}`` (the
source's seq) and then waits to be killed, its write-behind still open.
"""

from __future__ import annotations

import sys

import anyio
import msgspec

from pepperflow.sinks import WriteBehind
from pepperflow.stores import MemoryStore, SqliteStore

SAFETY_SECONDS = 30.0  # a child nobody kills stops by itself


def key_of(i: int, keys: int) -> str:
    """The key the ``i``-th set writes."""
    return f"k{i % keys}"


async def run(path: str, count: int, keys: int, max_batch: int, buffer: int) -> None:
    async with MemoryStore("cache") as cache, SqliteStore(path, namespace="cache") as target:
        sink = WriteBehind(cache, target, max_batch=max_batch, max_delay=3600, buffer=buffer)
        async with sink:
            await sink.flush()  # caught up: every set below goes through the batches
            for i in range(1, count + 1):
                await cache.set(key_of(i, keys), i)
            print(msgspec.json.encode({"seq": cache.statistics().seq}).decode(), flush=True)
            await anyio.sleep(SAFETY_SECONDS)


def main(argv: list[str]) -> None:
    backend, path, count, keys, max_batch, buffer = argv
    anyio.run(run, path, int(count), int(keys), int(max_batch), int(buffer), backend=backend)


if __name__ == "__main__":
    main(sys.argv[1:])
