"""The writer tasks of a soak child: every kind of write, as fast as the store takes them.

Each kind runs in a task of its own and counts what it completed
(``ops``, by kind) and what failed (``errors``, by ``"kind:ExceptionType"``). A failed
write is expected while faults are injected (a lost connection, a locked
file, a compare-and-set that lost the race); the writer naps a little and
goes on. Keys are drawn from fixed ranges, so the state stays bounded
however long the soak runs.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from pepperflow import VersionConflict
from pepperflow.stores import Store

from .protocol import ChildConfig

__all__ = ["Writers"]

BATCH = (10, 50)  # keys per set_many
TTL = (0.2, 2.0)  # seconds of a ttl'd set
NAP = 0.05  # seconds a writer waits after a failed write


class Writers:
    """The writer tasks of one child over ``store``: ``await run()`` until :meth:`stop`."""

    def __init__(self, store: Store[Any], config: ChildConfig) -> None:
        self.store = store
        self.config = config
        self.ops: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self._slowest = 0.0  # seconds of the slowest write since slowest() was called
        self._started: dict[str, float] = {}  # when each kind's write in flight began
        self._random = random.Random(config.seed)
        self._n = 0
        self._running = True

    def slowest(self) -> float:
        """Seconds of the slowest write since the last call, a write still in
        flight counting for as long as it has been."""
        now = time.monotonic()
        slowest = max([self._slowest, *(now - started for started in self._started.values())])
        self._slowest = 0.0
        return slowest

    def stop(self) -> None:
        """Let each writer finish the write it is in, then end :meth:`run`.

        Not a cancellation: a writer cancelled while it delivers to a full feed
        fails that feed (``FeedOverflow``), which the check would then report.
        """
        self._running = False

    async def run(self) -> None:
        """Run every kind of writer until :meth:`stop`."""
        kinds: dict[str, Callable[[], Awaitable[object]]] = {
            "set": self._set,
            "set_many": self._set_many,
            "delete": self._delete,
            "ttl": self._ttl,
            "cas": self._compare_and_set,
        }
        async with anyio.create_task_group() as tasks:
            for kind, write in kinds.items():
                tasks.start_soon(self._loop, kind, write, name=f"writer {kind}")

    async def _loop(self, kind: str, write: Callable[[], Awaitable[object]]) -> None:
        while self._running:
            started = self._started[kind] = time.monotonic()
            try:
                await write()
            except VersionConflict:
                self.errors[f"{kind}:VersionConflict"] += 1
            except Exception as error:  # counted; the parent judges which are findings
                self.errors[f"{kind}:{type(error).__name__}"] += 1
                await anyio.sleep(NAP)
            else:
                self.ops[kind] += 1
            del self._started[kind]
            self._slowest = max(self._slowest, time.monotonic() - started)

    def _value(self) -> dict[str, Any]:
        self._n += 1
        pad = "x" * self._random.randrange(self.config.value_bytes + 1)
        return {"by": self.config.slot, "n": self._n, "pad": pad}

    def _key(self) -> str:
        return f"k:{self._random.randrange(self.config.keys)}"

    async def _set(self) -> None:
        metadata = {"by": self.config.slot} if self._n % 3 == 0 else None
        await self.store.set(self._key(), self._value(), metadata=metadata)

    async def _set_many(self) -> None:
        size = self._random.randint(*BATCH)
        await self.store.set_many({self._key(): self._value() for _ in range(size)})

    async def _delete(self) -> None:
        await self.store.delete(self._key())

    async def _ttl(self) -> None:
        key = f"t:{self._random.randrange(self.config.ttl_keys)}"
        await self.store.set(key, self._value(), ttl=self._random.uniform(*TTL))

    async def _compare_and_set(self) -> None:
        """Add 1 to a counter with compare-and-set; a lost race is a ``VersionConflict``."""
        key = f"c:{self._random.randrange(self.config.counters)}"
        entry = await self.store.entry(key)
        version, value = (0, 0) if entry is None else (entry.version, entry.value)
        await self.store.set(key, value + 1, if_version=version)
