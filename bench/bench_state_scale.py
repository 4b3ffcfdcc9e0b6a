"""The seed façades over their stores at application scale, on asyncio and trio, in one run.

    python bench/bench_state_scale.py [--quick]

bench_state.py's figures where real applications live. Every figure is
measured in alternating rounds next to its peer, the same operation on the
pepperflow store the façade views, and the keys are visited in a shuffled
order. The in-memory figures are per second of the process's CPU time
(they never wait, so that is what they cost whatever else the machine
runs), SQLite's per wall-clock second (a commit waits for the disk):

- keys: ``set`` and ``get`` through BaseStateManager, LocalMemoryStore
  (R055: its ``get`` returns an entry, so its peer is the store's
  ``entry``) and SharedStateManager with one key subscriber, each over a
  MemoryStore of 1,000, 100,000 and 1,000,000 distinct keys (``--quick``:
  up to 100,000), next to MemoryStore's own; and PersistentStateManager
  over an open SqliteStore of as many keys next to that SqliteStore's
  ``set`` (2,000 per round: each commits) and ``get``;
- subscribers: a SharedStateManager of 100,000 keys with 1, 100 and 10,000
  key subscribers (``subscribe(key, callback)`` on that many of its keys):
  ``set`` of a watched key (its callback runs) and of an unwatched one,
  next to MemoryStore's ``set`` on as many keys.

Targets: R058 and R055's > 10,000 operations per second for local
operations on every row marked ``*`` at every scale (bench_state.py's
target), and the subscribers' cost: a set of an unwatched key with 10,000
subscribers at most 1.3x the cost with one (subscriptions that do not
match cost near nothing). Draws docs/img/state_scale_*.svg.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _plots import plot
from _scale import TARGET_KEYS, check, scale_main, shuffled_keys
from _timing import Op, interleaved

from pepperflow import (
    BaseStateManager,
    LocalMemoryStore,
    PersistentStateManager,
    SharedStateManager,
)
from pepperflow.stores import MemoryStore, SqliteStore

TARGET = 10_000
SUBSCRIBERS = (1, 100, 10_000)
SLOWDOWN = 1.3
OPS = 20_000  # per figure and round
SQLITE_SETS = 2_000  # per round: each commits
FILL = 10_000  # keys per set_many into SQLite
#: The in-memory figures are per second of the process's CPU time (they never
#: wait); SQLite's per wall-clock second (a commit waits for the disk).
CPU = time.process_time
#: row -> its peer row; a row marked ``*`` has the target.
PEERS = {
    "*BaseStateManager set": "MemoryStore set",
    "*BaseStateManager get": "MemoryStore get",
    "*LocalMemoryStore set": "MemoryStore set",
    "*LocalMemoryStore get": "MemoryStore entry",
    "*SharedStateManager, 1 sub set": "MemoryStore set",
    "*SharedStateManager, 1 sub get": "MemoryStore get",
    "*PersistentStateManager set": "SqliteStore set",
    "*PersistentStateManager get": "SqliteStore get",
}


async def on_change(key: str, value: Any) -> None:
    return None


def writes(keys: list[str], set_: Any) -> Op:
    """The op that calls ``set_(key, i)`` on the keys round-robin."""
    count = len(keys)
    return lambda i: set_(keys[i % count], i)


def reads(keys: list[str], get: Any) -> Op:
    """The op that calls ``get(key)`` on the keys round-robin."""
    count = len(keys)
    return lambda i: get(keys[i % count])


async def fill(keys: list[str], *setters: Any) -> None:
    for key in keys:
        for setter in setters:
            await setter(key, 0)


async def memory_rows(keys: list[str], rounds: int) -> dict[str, float]:
    store: MemoryStore[Any] = MemoryStore("bench")
    state: BaseStateManager[Any] = BaseStateManager(MemoryStore("state"))
    local: LocalMemoryStore[Any] = LocalMemoryStore()
    shared: SharedStateManager[Any] = SharedStateManager("bench")
    shared.subscribe(keys[0], on_change)
    await fill(keys, store.set, state.set, local.set, shared.set)
    ops = {"MemoryStore set": writes(keys, store.set), "MemoryStore get": reads(keys, store.get)}
    ops["MemoryStore entry"] = reads(keys, store.entry)
    for name, facade in (
        ("*BaseStateManager", state),
        ("*LocalMemoryStore", local),
        ("*SharedStateManager, 1 sub", shared),
    ):
        ops[f"{name} set"] = writes(keys, facade.set)
        ops[f"{name} get"] = reads(keys, facade.get)
    return await interleaved(ops, OPS, rounds, CPU)


async def sqlite_rows(keys: list[str], rounds: int, directory: str) -> dict[str, float]:
    path = Path(directory) / f"state-{len(keys)}.db"
    async with SqliteStore(path, namespace="state") as sqlite:
        for first in range(0, len(keys), FILL):
            await sqlite.set_many(dict.fromkeys(keys[first : first + FILL], 0))
        persistent: PersistentStateManager[Any] = PersistentStateManager(sqlite, name="state")
        sets = {
            "SqliteStore set": writes(keys, sqlite.set),
            "*PersistentStateManager set": writes(keys, persistent.set),
        }
        gets = {
            "SqliteStore get": reads(keys, sqlite.get),
            "*PersistentStateManager get": reads(keys, persistent.get),
        }
        return await interleaved(sets, SQLITE_SETS, rounds) | await interleaved(gets, OPS, rounds)


async def subscriber_rows(rounds: int) -> dict[str, float]:
    """Set ops/s of a watched and an unwatched key with S key subscribers."""
    keys = shuffled_keys(TARGET_KEYS, "key:")
    store: MemoryStore[Any] = MemoryStore("bench")
    await fill(keys, store.set)
    ops = {"MemoryStore set": writes(keys, store.set)}
    for count in SUBSCRIBERS:
        shared: SharedStateManager[Any] = SharedStateManager("bench")
        await fill(keys, shared.set)
        for key in keys[:count]:
            shared.subscribe(key, on_change)
        ops[f"{count} watched"] = writes(keys[:count], shared.set)
        ops[f"{count} unwatched"] = writes(keys[count:], shared.set)
    return await interleaved(ops, OPS, rounds, CPU)


async def run_backend(backend: str, key_counts: tuple[int, ...], rounds: int) -> dict[str, Any]:
    rows: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-state-scale-") as directory:
        for count in key_counts:
            keys = shuffled_keys(count, "key:")
            rows[count] = await memory_rows(keys, rounds) | await sqlite_rows(
                keys, rounds, directory
            )
    return {"keys": rows, "subscribers": await subscriber_rows(rounds)}


def report(backend: str, results: dict[str, Any]) -> list[str]:
    rows: dict[int, dict[str, float]] = results["keys"]
    head = f"{'ops/s (' + backend + ')':<34}" + "".join(f"{f'{n:,} keys':>22}" for n in rows)
    print(head + "\n" + "-" * len(head))
    failures: list[str] = []
    names = list(next(iter(rows.values())))
    for name in sorted(names, key=lambda name: (PEERS.get(name, name), name != PEERS.get(name))):
        cells = ""
        for row in rows.values():
            ratio = f"({row[name] / row[PEERS[name]]:.2f}x)" if name in PEERS else ""
            cells += f"{row[name]:>13,.0f} {ratio:>8}"
        print(f"{name:<34}{cells}")
    print("  in brackets: the ratio to the store's own operation (the peer) in the same rounds\n")
    subs = results["subscribers"]
    print(f"SharedStateManager, {TARGET_KEYS:,} keys, S key subscribers ({backend}): set ops/s")
    print(f"  {'S':>7}  {'watched key':>20}  {'unwatched key':>20}   MemoryStore set")
    for count in SUBSCRIBERS:
        watched, unwatched = subs[f"{count} watched"], subs[f"{count} unwatched"]
        base = subs["MemoryStore set"]
        print(
            f"  {count:>7,}  {watched:>11,.0f} ({watched / base:.2f}x)"
            f"  {unwatched:>11,.0f} ({unwatched / base:.2f}x)   {base:,.0f}"
        )
    print(f"\ntargets ({backend})")
    for count, row in rows.items():
        for name, value in row.items():
            if name.startswith("*"):
                failures += check(backend, f"{name[1:]}, {count:,} keys, ops/s", value, TARGET)
    slowdown = subs["1 unwatched"] / subs[f"{SUBSCRIBERS[-1]} unwatched"]
    failures += check(
        backend, f"set, {SUBSCRIBERS[-1]:,} subscribers vs 1: slowdown", slowdown, SLOWDOWN, False
    )
    print()
    return failures


def draw(all_results: dict[str, dict[str, Any]]) -> None:
    keys: dict[str, list[tuple[float, float]]] = {}
    subs: dict[str, list[tuple[float, float]]] = {}
    for backend, results in all_results.items():
        rows = results["keys"]
        for name in ("MemoryStore set", "*BaseStateManager set", "*SharedStateManager, 1 sub set"):
            keys[f"{name.lstrip('*')} ({backend})"] = [(n, row[name]) for n, row in rows.items()]
        for name in ("SqliteStore set", "*PersistentStateManager set"):
            keys[f"{name.lstrip('*')} ({backend})"] = [(n, row[name]) for n, row in rows.items()]
        for kind in ("watched", "unwatched"):
            subs[f"set, {kind} key ({backend})"] = [
                (count, results["subscribers"][f"{count} {kind}"]) for count in SUBSCRIBERS
            ]
    plot("state_scale_keys", "State managers: set ops/s by keys", "keys", "sets/s", keys, logy=True)
    plot(
        "state_scale_subscribers",
        f"SharedStateManager set, {TARGET_KEYS:,} keys, by key subscribers",
        "key subscribers",
        "sets/s",
        subs,
    )


def main() -> int:
    return scale_main(__doc__, run_backend, report, draw)


if __name__ == "__main__":
    sys.exit(main())
