"""A soak child process: one store, its writers and subscribers, answering the parent.

Run by the parent (``parent.py``) as ``python -m _soak.child CONFIG``, with
``bench/`` on ``PYTHONPATH`` and CONFIG a :class:`ChildConfig` as JSON. It
opens the store, starts the subscribers (``subscribers.py``), prints
``ready``, then answers the parent's commands, one a line on stdin (see
``protocol.py``):

``go``
    start the writers.
``tick``
    print a :class:`Tick`: the counters so far and the process's RSS.
``stop``
    stop the writers (each finishes the write it is in), then print a Tick.
``check``
    wait until the store is quiet (no ttl'd key left, the snapshot's seq
    unchanged for a moment, every subscriber caught up), compare every
    subscriber's state with the snapshot, print a :class:`Verdict`, exit.

Log records go to stderr and are counted in the Tick. ``kill -USR1`` prints
every thread's stack on stderr (``faulthandler``), to see where a hang is.
"""

from __future__ import annotations

import asyncio
import faulthandler
import hashlib
import logging
import signal
import sys
import time
from collections import Counter
from typing import Any

import anyio
import anyio.abc
import anyio.to_thread
import msgspec
import sniffio

from pepperflow.stores import RedisStore, Snapshot, SqliteStore, Store

from .protocol import ChildConfig, Tick, Verdict, rss_bytes
from .subscribers import Subscribers
from .writers import Writers

__all__ = ["main"]

STOP_TIMEOUT = 30.0  # seconds the writers may take to finish their last write
CHECK_TIMEOUT = 30.0  # seconds the check may wait for the store to go quiet and agree
SETTLE = 0.3  # seconds a snapshot's seq must stay the same to count as quiet
POLL = 0.1  # seconds between the check's tries

_encode = msgspec.json.Encoder().encode


def say(message: object) -> None:
    sys.stdout.buffer.write(_encode(message) + b"\n")
    sys.stdout.flush()


def dump_stacks() -> None:
    """Every thread's stack and, on asyncio, every task's, on stderr (where is a hang?)."""
    faulthandler.dump_traceback(all_threads=True)
    if sniffio.current_async_library() == "asyncio":
        for task in asyncio.all_tasks():
            print(f"--- {task.get_name()}", file=sys.stderr)
            task.print_stack(file=sys.stderr)


class LogCounter(logging.Handler):
    """Counts log records by ``"LEVEL logger"``."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[f"{record.levelname} {record.name}"] += 1


def open_store(config: ChildConfig) -> Store[Any]:
    if config.backend == "sqlite":
        return SqliteStore(config.target, namespace=config.namespace)
    return RedisStore(config.target, namespace=config.namespace)


class Child:
    """The child's parts, and its answers to the parent's commands."""

    def __init__(self, store: Store[Any], config: ChildConfig, logs: LogCounter) -> None:
        self.store = store
        self.config = config
        self.logs = logs
        self.subscribers = Subscribers()
        self.writers = Writers(store, config)
        self.writing = False  # since "go"
        self.writers_done = anyio.Event()

    def tick(self) -> Tick:
        return Tick(
            ops=dict(self.writers.ops),
            errors=dict(self.writers.errors),
            slowest=self.writers.slowest(),
            received=self.subscribers.received,
            seq=self.store.statistics().seq,
            delivered=self.subscribers.callback.last_seq,
            rss=rss_bytes(),
            logged=dict(self.logs.counts),
        )

    async def write(self) -> None:
        try:
            await self.writers.run()
        finally:
            self.writers_done.set()

    async def stop(self) -> Tick:
        self.writers.stop()
        if not self.writing:
            return self.tick()
        with anyio.move_on_after(STOP_TIMEOUT):
            await self.writers_done.wait()
        if not self.writers_done.is_set():
            dump_stacks()
            raise SystemExit(f"the writers did not finish their writes in {STOP_TIMEOUT:g} s")
        return self.tick()

    async def quiet_snapshot(self) -> Snapshot | None:
        """A snapshot with no ttl'd key whose seq stays for ``SETTLE`` s and every
        subscriber has reached; ``None`` while the store is not there yet."""
        first = await self.store.snapshot()
        if any(entry.expires_at is not None for entry in first.entries):
            return None
        if not self.subscribers.caught_up(first.seq):
            return None
        await anyio.sleep(SETTLE)
        second = await self.store.snapshot()
        if second.seq != first.seq or not self.subscribers.caught_up(second.seq):
            return None
        return second

    async def check(self) -> Verdict:
        """Every subscriber's state against the quiet store's snapshot.

        Tries until every subscriber agrees or ``CHECK_TIMEOUT`` passes: a
        change still on its way is not a finding, one that never comes is.
        """
        started = time.monotonic()
        quiet: Snapshot | None = None
        with anyio.move_on_after(CHECK_TIMEOUT):
            while True:
                quiet = await self.quiet_snapshot() or quiet
                if quiet is not None and all(
                    verdict.ok for verdict in self.subscribers.verdicts(quiet)
                ):
                    break
                await anyio.sleep(POLL)
        snapshot = quiet or await self.store.snapshot()
        entries = sorted(snapshot.entries, key=lambda entry: entry.key)
        return Verdict(
            slot=self.config.slot,
            seq=snapshot.seq,
            digest=hashlib.sha256(msgspec.msgpack.encode(entries)).hexdigest()[:16],
            keys=len(entries),
            counters=sum(entry.value for entry in entries if entry.key.startswith("c:")),
            settled=quiet is not None,
            waited=round(time.monotonic() - started, 2),
            subscribers=self.subscribers.verdicts(snapshot),
            tick=self.tick(),
        )

    async def serve(self, tasks: anyio.abc.TaskGroup) -> None:
        """Answer the parent's commands until ``check`` (or the end of stdin)."""
        while True:
            line = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
            command = line.strip()
            if command == "go" and not self.writing:
                self.writing = True
                tasks.start_soon(self.write, name="writers")
            elif command == "tick":
                say(self.tick())
            elif command == "stop":
                say(await self.stop())
            elif command == "check":
                say(await self.check())
                return
            elif not line:
                return  # the parent went away
            else:
                raise SystemExit(f"unknown command {command!r}")


async def main(config: ChildConfig) -> None:
    logs = LogCounter()
    logging.basicConfig(
        level=logging.INFO, format=f"{config.slot} %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger().addHandler(logs)
    async with open_store(config) as store, anyio.create_task_group() as tasks:
        child = Child(store, config, logs)
        await child.subscribers.start(store, tasks)
        say("ready")
        await child.serve(tasks)
        tasks.cancel_scope.cancel()


if __name__ == "__main__":
    faulthandler.register(signal.SIGUSR1)
    config = msgspec.json.decode(sys.argv[1], type=ChildConfig)
    anyio.run(main, config, backend=config.loop)
