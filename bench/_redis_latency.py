"""bench_redis.py's latency rows: a change's latency across processes.

This module runs itself as a child process (``--child``) that subscribes to
the namespace; the parent sets a key to ``time.time()`` once per
millisecond and the child records its ``time.time()`` minus that value in
the callback, for each backend and driver, next to the floor: a bare
``XADD`` in the parent read by a bare ``XREAD BLOCK`` in the child
(redis-py).
"""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any, Protocol, cast

import anyio
import msgspec
from _redis_bench import Server

from pepperflow.stores.redis import DriverName, RedisStore
from pepperflow.streams import Change, SetChange

__all__ = ["PACE", "Target", "latency", "latency_report", "latency_rounds", "percentile"]

PACE = 0.001  # seconds between the changes of the latency run


class Target(Protocol):
    """Where a latency row runs: a server's (or a cluster's) URL, and how to empty it."""

    @property
    def url(self) -> str: ...

    def flush(self) -> None: ...


async def child_main(mode: str, url: str, namespace: str, n: int) -> None:
    """The subscriber process: print ``ready``, then a JSON list of ``n`` delays (s)."""
    delays: list[float] = []
    done = anyio.Event()
    if mode == "raw":
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(url, decode_responses=False)
        await client.ping()
        print("ready", flush=True)
        last: Any = "0-0"
        with anyio.move_on_after(60):
            while len(delays) < n:
                reply: Any = await client.xread({namespace: last}, count=1000, block=1000)
                now = time.time()
                for _stream, entries in reply or ():
                    for entry_id, fields in entries:
                        delays.append(now - float(fields[b"t"]))
                        last = entry_id
        await client.aclose()
    else:

        def on_change(change: Change) -> None:
            now = time.time()
            if type(change) is SetChange:
                delays.append(now - change.value)
                if len(delays) >= n:
                    done.set()

        async with RedisStore(url, namespace=namespace, driver=cast(DriverName, mode)) as store:
            store.subscribe(None, on_change)
            print("ready", flush=True)
            with anyio.move_on_after(60):
                await done.wait()
    sys.stdout.write(msgspec.json.encode(delays).decode() + "\n")


async def send_changes(mode: str, url: str, namespace: str, n: int) -> None:
    """The writer: ``n`` changes, each carrying its send time, one per PACE."""
    if mode == "raw":
        import redis.asyncio

        client = redis.asyncio.Redis.from_url(url, decode_responses=False)
        for _ in range(n):
            await client.xadd(namespace, {"t": repr(time.time())})
            await anyio.sleep(PACE)
        await client.aclose()
        return
    async with RedisStore(url, namespace=namespace, driver=cast(DriverName, mode)) as store:
        for i in range(n):
            await store.set(f"k{i % 100}", time.time())
            await anyio.sleep(PACE)


def latency(backend: str, mode: str, server: Target, n: int) -> list[float]:
    """Delays (s) of ``n`` changes from this process to a child on ``backend``."""
    server.flush()
    namespace = f"latency-{backend}-{mode}"
    child = subprocess.Popen(
        [sys.executable, __file__, "--child", backend, mode, server.url, namespace, str(n)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the {backend} {mode} subscriber did not start")
        anyio.run(send_changes, mode, server.url, namespace, n, backend=backend)
        out, _ = child.communicate(timeout=90)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    delays: list[float] = msgspec.json.decode(out.strip() or "[]", type=list[float])
    if len(delays) < n:
        print(f"  ! {backend} {mode}: the subscriber got {len(delays)} of {n} changes")
    return delays


def percentile(sorted_values: list[float], q: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def latency_rounds(server: Server, rounds: int, samples: int) -> dict[str, list[float]]:
    """The latency rows' samples. The rows run in turn, a round at a time,
    and pool their rounds: a slow spell of the machine falls on every row alike."""
    latencies: dict[str, list[float]] = {}
    for _ in range(rounds):
        for backend, mode in (
            ("asyncio", "redis-py"),
            ("asyncio", "coredis"),
            ("trio", "coredis"),
            ("asyncio", "raw"),
        ):
            label = "raw XADD -> XREAD (redis-py)" if mode == "raw" else f"{backend}, {mode}"
            n = samples // rounds
            latencies.setdefault(label, []).extend(latency(backend, mode, server, n))
    return latencies


def latency_report(latencies: dict[str, list[float]], rounds: int) -> None:
    head = f"{'change latency A -> B':<34}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}{'samples':>9}"
    print(head + "  (ms)")
    print("-" * (len(head) + 6))
    for label, delays in latencies.items():
        if not delays:
            print(f"{label:<34}{'(no samples)':>27}")
            continue
        ordered = sorted(delays)
        ms = [percentile(ordered, q) * 1000 for q in (0.5, 0.9, 0.99)] + [ordered[-1] * 1000]
        print(f"{label:<34}" + "".join(f"{v:>9.3f}" for v in ms) + f"{len(ordered):>9}")
    print(
        f"  one change per {PACE * 1000:g} ms; delay = the callback's time.time() minus the"
        f" value set (time.time() just before set); the rows in turn, {rounds} rounds pooled"
    )
    print()


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    backend, mode, url, namespace, n = sys.argv[2:7]
    anyio.run(child_main, mode, url, namespace, int(n), backend=backend)
