"""MemoryStore at application scale, on asyncio and trio, in one run.

    python bench/bench_memory_scale.py [--quick]

Every figure is measured in alternating rounds next to its peer (an awaited
plain dict doing the same), the best of 10 rounds of 100,000 operations
(``--quick``: 6; the subscription rows: 20 rounds of 25,000), and the keys
are visited in a shuffled order, so neither side gains from memory
locality:

- keys: set, get, set with a ttl and set with one async subscriber on
  1,000, 100,000 and 1,000,000 distinct keys (``--quick``: up to 100,000),
  next to an awaited dict's set and get;
- subscriptions: a set with 0 to 100,000 subscriptions that never match,
  alone and with one matching async subscriber, on 100,000 keys; the
  patterns either have a head of their own (``session:N:``) or share the
  keys' head (``user:N:``, the harder case);
- writers: 1 to 64 tasks writing their own keys at once into a store with
  one async subscriber that yields on every change (so writers find
  the delivery busy and queue behind it);
- memory: bytes per key of a MemoryStore, with and without a ttl, next to
  a plain dict of ``key -> (value, version)`` (tracemalloc; the values are
  allocated in the measurement on both sides).

Then the targets of issue #18 at 100,000 keys. The figures are drawn to
docs/img/memory_scale_*.svg (bench/_plots.py).
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

import anyio
import anyio.lowlevel
from _plots import plot
from _scale import TARGET_KEYS, check, noop, scale_main, shuffled_keys
from _timing import Op, interleaved, rate

from pepperflow.stores import MemoryStore
from pepperflow.streams import Change

NON_MATCHING = (0, 100, 10_000, 100_000)
WRITERS = (1, 4, 16, 64)

#: name -> (figure, peer figure, lowest ratio) at 100,000 keys.
RATIO_TARGETS: dict[str, tuple[str, str, float]] = {
    "set": ("set", "dict set", 0.25),
    "set ttl": ("set ttl", "dict set", 0.15),
    "set 1 sub": ("set 1 sub", "dict set", 0.15),
    "get": ("get", "dict get", 0.5),
}
#: The most a set may slow down, and the most a matching subscriber's may.
SLOWDOWN = 1.3
MEMORY_RATIO = 2.0
TTL_BYTES = 100.0


async def filled(keys: list[str], ttl: float | None = None) -> MemoryStore[Any]:
    store: MemoryStore[Any] = MemoryStore()
    for key in keys:
        await store.set(key, 0, ttl=ttl)
    return store


def cycle(keys: list[str], write: Callable[[str, int], Any]) -> Op:
    """The op that writes (or reads) the keys round-robin, in their shuffled order."""
    count = len(keys)
    return lambda i: write(keys[i % count], i)


async def key_rows(count: int, rounds: int) -> dict[str, float]:
    """ops/s of each figure on ``count`` distinct keys, with the dict's beside.

    Every op is one lambda calling one coroutine function, on both sides.
    """
    keys = shuffled_keys(count)
    data = dict.fromkeys(keys, 0)

    async def dset(key: str, value: int) -> None:
        data[key] = value

    async def dget(key: str) -> Any:
        return data.get(key)

    plain, ttl, sub = await filled(keys), await filled(keys, 3600), await filled(keys)
    sub.subscribe("user:", noop)
    ops: dict[str, Op] = {
        "dict set": lambda i: dset(keys[i % count], i),
        "dict get": lambda i: dget(keys[i % count]),
        "set": lambda i: plain.set(keys[i % count], i),
        "get": lambda i: plain.get(keys[i % count]),
        "set ttl": lambda i: ttl.set(keys[i % count], i, ttl=3600),
        "set 1 sub": lambda i: sub.set(keys[i % count], i),
    }
    rows = await interleaved(ops, 100_000, 2 * rounds)
    for store in (plain, ttl, sub):
        await store.aclose()
    return rows


async def subscription_rows(head: str, rounds: int) -> dict[str, float]:
    """Set ops/s with N non-matching subscriptions (``{head}N:``), alone and with a matching one."""
    keys = shuffled_keys(TARGET_KEYS)
    ops: dict[str, Op] = {}
    stores = []
    for count in NON_MATCHING:
        for matching in (False, True):
            store = await filled(keys)
            for j in range(count):
                store.subscribe(f"{head}{j}:", noop)
            if matching:
                store.subscribe("user:", noop)
            stores.append(store)
            ops[f"{count} {matching}"] = cycle(keys, store.set)
    # Short rounds, many of them: each figure sees the same moments of a shared machine.
    rows = await interleaved(ops, TARGET_KEYS // 4, 4 * rounds)
    for store in stores:
        await store.aclose()
    return rows


async def writer_rows(n: int) -> dict[int, float]:
    """Total sets/s of W writer tasks into one store whose one subscriber yields."""
    return {writers: n * await rate(writing(writers, n), 1, repeat=3) for writers in WRITERS}


def writing(writers: int, n: int) -> Op:
    """The op: ``writers`` tasks write ``n`` sets in all, each to keys of its own."""
    keys = [shuffled_keys(TARGET_KEYS // writers, f"user:{w}:") for w in range(writers)]

    async def slow(change: Change) -> None:
        await anyio.lowlevel.checkpoint()

    async def write_own(store: MemoryStore[Any], own: list[str]) -> None:
        for i in range(n // writers):
            await store.set(own[i % len(own)], i)

    async def write_all(_: int) -> None:
        async with MemoryStore() as store, anyio.create_task_group() as tg:
            store.subscribe("user:", slow)
            for own in keys:
                tg.start_soon(write_own, store, own)

    return write_all


async def bytes_per_key(count: int) -> dict[str, float]:
    """Bytes a key costs: a dict of (value, version); a MemoryStore; one with a ttl."""
    keys = shuffled_keys(count)

    def measure_dict() -> dict[str, tuple[Any, int]]:
        data: dict[str, tuple[Any, int]] = {}
        for i, key in enumerate(keys):
            data[key] = (i * 1000, 1)
        return data

    async def measure_store(ttl: float | None) -> MemoryStore[Any]:
        store: MemoryStore[Any] = MemoryStore()
        for i, key in enumerate(keys):
            await store.set(key, i * 1000, ttl=ttl)
        return store

    rows = {"dict": footprint_sync(measure_dict) / count}
    for name, ttl in (("store", None), ("store ttl", 3600.0)):
        rows[name] = await footprint(measure_store, ttl) / count
    rows["ttl"] = rows["store ttl"] - rows["store"]
    return rows


def footprint_sync(build: Callable[[], Any]) -> int:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = build()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del kept
    return used


async def footprint(build: Callable[[float | None], Any], ttl: float | None) -> int:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    store = await build(ttl)
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    await store.aclose()
    return used


async def run_backend(backend: str, key_counts: tuple[int, ...], rounds: int) -> dict[str, Any]:
    return {
        "keys": {count: await key_rows(count, rounds) for count in key_counts},
        "own head": await subscription_rows("session:", rounds),
        "shared head": await subscription_rows("user:", rounds),
        "writers": await writer_rows(TARGET_KEYS),
        "bytes": {count: await bytes_per_key(count) for count in key_counts[1:]},
    }


def keys_table(backend: str, rows: dict[int, dict[str, float]]) -> None:
    names = ["dict set", "dict get", "set", "get", "set ttl", "set 1 sub"]
    print(f"{'keys (' + backend + ')':<20}" + "".join(f"{name:>12}" for name in names))
    for count, row in rows.items():
        line = "".join(f"{row[name]:>12,.0f}" for name in names)
        ratios = ", ".join(
            f"{name} {row[name] / row['dict get' if name == 'get' else 'dict set']:.2f}x"
            for name in names[2:]
        )
        print(f"{count:<20,}{line}   ({ratios})")
    print()


def subscriptions_table(backend: str, label: str, rows: dict[str, float]) -> None:
    print(f"non-matching subscriptions, {label} ({backend}): set ops/s, slowdown vs none")
    base, base_sub = rows["0 False"], rows["0 True"]
    for count in NON_MATCHING:
        alone, sub = rows[f"{count} False"], rows[f"{count} True"]
        print(
            f"  {count:>7,}  alone {alone:>11,.0f} ({base / alone:.2f}x)"
            f"   + 1 matching {sub:>11,.0f} ({base_sub / sub:.2f}x)"
        )
    print()


def report(backend: str, results: dict[str, Any]) -> list[str]:
    keys_table(backend, results["keys"])
    subscriptions_table(backend, "own head session:N:", results["own head"])
    subscriptions_table(backend, "sharing the keys' head user:N:", results["shared head"])
    print(f"writer tasks ({backend}), one subscriber that yields: total sets/s")
    for writers, value in results["writers"].items():
        print(f"  {writers:>3}  {value:>11,.0f}")
    print(f"\nbytes per key ({backend})   dict (value, version)   store   store ttl   ttl")
    for count, row in results["bytes"].items():
        print(
            f"  {count:>9,}  {row['dict']:>22.0f}  {row['store']:>6.0f}"
            f"  {row['store ttl']:>10.0f}  {row['ttl']:>4.0f}"
        )
    print()
    return targets(backend, results)


def targets(backend: str, results: dict[str, Any]) -> list[str]:
    """Print the targets at 100,000 keys; return those missed."""
    row = results["keys"][TARGET_KEYS]
    checks: list[tuple[str, float, float, bool]] = []  # name, value, bound, higher is better
    for name, (ours, peer, lowest) in RATIO_TARGETS.items():
        checks.append((f"{name} / {peer}", row[ours] / row[peer], lowest, True))
    own = results["own head"]
    checks.append(
        ("set, 10,000 non-matching: slowdown", own["0 False"] / own["10000 False"], SLOWDOWN, False)
    )
    checks.append(
        (
            "1 matching, 100,000 non-matching: slowdown",
            own["0 True"] / own["100000 True"],
            SLOWDOWN,
            False,
        )
    )
    memory = results["bytes"][TARGET_KEYS]
    checks.append(("bytes per key / dict's", memory["store"] / memory["dict"], MEMORY_RATIO, False))
    checks.append(("ttl bookkeeping, bytes per key", memory["ttl"], TTL_BYTES, False))
    failures: list[str] = []
    print(f"targets at {TARGET_KEYS:,} keys ({backend})")
    for name, value, bound, higher in checks:
        failures += check(backend, name, value, bound, higher)
    print()
    return failures


def draw(all_results: dict[str, dict[str, Any]]) -> None:
    keys: dict[str, list[tuple[float, float]]] = {}
    subs: dict[str, list[tuple[float, float]]] = {}
    writers: dict[str, list[tuple[float, float]]] = {}
    for backend, results in all_results.items():
        for name in ("dict set", "set", "set ttl", "set 1 sub", "get"):
            keys[f"{name} ({backend})"] = [(n, r[name]) for n, r in results["keys"].items()]
        for label in ("own head", "shared head"):
            rows = results[label]
            subs[f"set, {label} ({backend})"] = [
                (max(c, 1), rows[f"{c} False"]) for c in NON_MATCHING
            ]
            subs[f"set + 1 matching, {label} ({backend})"] = [
                (max(c, 1), rows[f"{c} True"]) for c in NON_MATCHING
            ]
        writers[backend] = list(results["writers"].items())
    plot(
        "memory_scale_keys", "MemoryStore ops/s by distinct keys", "keys", "ops/s", keys, logy=True
    )
    plot(
        "memory_scale_subscriptions",
        "MemoryStore set, 100,000 keys, by non-matching subscriptions (0 drawn at 1)",
        "non-matching subscriptions",
        "sets/s",
        subs,
    )
    plot(
        "memory_scale_writers",
        "MemoryStore sets/s by writer tasks",
        "writer tasks",
        "sets/s",
        writers,
    )


def main() -> int:
    return scale_main(__doc__, run_backend, report, draw)


if __name__ == "__main__":
    sys.exit(main())
