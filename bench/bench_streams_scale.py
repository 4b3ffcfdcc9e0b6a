"""Change-stream pipelines at application scale, on asyncio and trio, in one run.

    python bench/bench_streams_scale.py [--quick]

Events/s, each the best of 5 (``--quick``: 3) rounds measured alternately
with its peers, of:

- the targets of issue #18 on 100,000 distinct keys: a MemoryStore's
  ``changes()`` feeding pepperflow's ``filter(is_set) -> map(value_of) ->
  observer`` (the writer does one ``set`` per event) against pepperflow's
  ``Subject`` fed the same changes through the same pipeline (beside it,
  the writer doing ``set_many`` of 1,000 keys, against the subject fed the
  same 1,000 changes); and
  pepperflow's ``Subject -> map -> filter -> observer`` (its own operators,
  fused) against aioreactive's ``AsyncSubject -> map -> filter`` (its own;
  asyncio only: aioreactive's subject is built on asyncio). Beside them, the
  same chains on aioreactive's ``map``/``filter``, and the store's ``set``
  with nothing subscribed (the ceiling of any store pipeline);
- the store's pipeline on 1,000, 100,000 and 1,000,000 distinct keys
  (``--quick``: up to 100,000);
- the store's pipeline on 100,000 keys with 0 to 100,000 more
  subscriptions on patterns that never match (``session:N:``).

The figures are drawn to docs/img/streams_scale_*.svg (bench/_plots.py).
"""

from __future__ import annotations

import sys
from typing import Any

import aioreactive as rx
from _plots import plot
from _scale import TARGET_KEYS, noop, scale_main, shuffled_keys
from _timing import Op, interleaved
from bench_streams import Count, is_even, is_set, plus_one, value_of

from pepperflow.stores import MemoryStore
from pepperflow.streams import Change, SetChange, Subject, filter, map, pipe

OTHERS = (0, 100, 10_000, 100_000)
#: A store feeding a pipeline against a subject feeding it; a subject's chain
#: against aioreactive's.
STORE_VS_SUBJECT = 0.8
#: Keys per set_many in the batch rows.
BATCH = 1_000
SUBJECT_VS_AIOREACTIVE = 1.2


async def store_pipeline(
    keys: list[str], others: int = 0, theirs: bool = False
) -> tuple[MemoryStore[Any], Op]:
    """A filled store whose changes() feed filter -> map -> a counter; the op sets a key.

    ``theirs``: aioreactive's filter and map, else pepperflow's.
    """
    store: MemoryStore[Any] = MemoryStore()
    for key in keys:
        await store.set(key, 0)
    for j in range(others):
        store.subscribe(f"session:{j}:", noop)
    if theirs:
        chain = rx.pipe(store.changes(), rx.filter(is_set), rx.map(value_of))
    else:
        chain = pipe(store.changes(), filter(is_set), map(value_of))
    await chain.subscribe_async(Count())
    count = len(keys)
    return store, lambda i: store.set(keys[i % count], i)


async def target_rows(backend: str, rounds: int) -> dict[str, float]:
    keys = shuffled_keys(TARGET_KEYS)
    store, store_op = await store_pipeline(keys)
    rx_store, rx_store_op = await store_pipeline(keys, theirs=True)
    bare: MemoryStore[Any] = MemoryStore()
    for key in keys:
        await bare.set(key, 0)
    changes: list[Change] = [
        SetChange("default", key, 2, i, 0.0, i, 0.0, None, None) for i, key in enumerate(keys)
    ]
    same: Subject[Change] = Subject()
    await pipe(same, filter(is_set), map(value_of)).subscribe_async(Count())
    chain: Subject[int] = Subject()
    await pipe(chain, map(plus_one), filter(is_even)).subscribe_async(Count())
    rx_chain: Subject[int] = Subject()
    await rx.pipe(rx_chain, rx.map(plus_one), rx.filter(is_even)).subscribe_async(Count())
    ops: dict[str, Op] = {
        "store -> filter -> map": store_op,
        "subject -> filter -> map": lambda i: same.asend(changes[i % TARGET_KEYS]),
        "subject -> map -> filter": chain.asend,
        "store -> rx.filter -> rx.map": rx_store_op,
        "subject -> rx.map -> rx.filter": rx_chain.asend,
        "store set, nothing subscribed": lambda i: bare.set(keys[i % TARGET_KEYS], i),
    }
    if backend == "asyncio":
        theirs: rx.AsyncSubject[int] = rx.AsyncSubject()
        await rx.pipe(theirs, rx.map(plus_one), rx.filter(is_even)).subscribe_async(Count())
        ops["aioreactive subject -> map -> filter"] = theirs.asend
    rows = await interleaved(ops, 200_000, rounds)
    rows |= await batch_rows(store, same, keys, changes, rounds)
    await store.aclose()
    await rx_store.aclose()
    await bare.aclose()
    return rows


async def batch_rows(
    store: MemoryStore[Any],
    same: Subject[Change],
    keys: list[str],
    changes: list[Change],
    rounds: int,
) -> dict[str, float]:
    """Events/s of the store's pipeline fed ``set_many`` of BATCH keys, and
    of the subject fed the same changes, in alternating rounds."""
    batches = [dict.fromkeys(keys[i : i + BATCH], 1) for i in range(0, TARGET_KEYS, BATCH)]
    sent = [changes[i : i + BATCH] for i in range(0, TARGET_KEYS, BATCH)]

    async def send_batch(i: int) -> None:
        for change in sent[i % len(sent)]:
            await same.asend(change)

    ops: dict[str, Op] = {
        "store -> filter -> map (set_many)": lambda i: store.set_many(batches[i % len(batches)]),
        "subject -> filter -> map (batches)": send_batch,
    }
    rates = await interleaved(ops, 200, rounds)
    return {name: value * BATCH for name, value in rates.items()}


async def key_rows(key_counts: tuple[int, ...], rounds: int) -> dict[int, float]:
    rows = {}
    for count in key_counts:
        store, op = await store_pipeline(shuffled_keys(count))
        rows[count] = (await interleaved({"store": op}, 100_000, rounds))["store"]
        await store.aclose()
    return rows


async def other_rows(rounds: int) -> dict[int, float]:
    keys = shuffled_keys(TARGET_KEYS)
    pipelines = {others: await store_pipeline(keys, others) for others in OTHERS}
    rates = await interleaved({str(n): op for n, (_, op) in pipelines.items()}, 100_000, rounds)
    for store, _ in pipelines.values():
        await store.aclose()
    return {others: rates[str(others)] for others in OTHERS}


async def run_backend(backend: str, key_counts: tuple[int, ...], rounds: int) -> dict[str, Any]:
    return {
        "targets": await target_rows(backend, rounds),
        "keys": await key_rows(key_counts, rounds),
        "others": await other_rows(rounds),
    }


def report(backend: str, results: dict[str, Any]) -> list[str]:
    rows = results["targets"]
    print(f"pipelines on {TARGET_KEYS:,} keys ({backend}){'events/s':>22}")
    for name, value in rows.items():
        print(f"  {name:<40}{value:>12,.0f}")
    print(f"store -> filter -> map by distinct keys ({backend})")
    for count, value in results["keys"].items():
        print(f"  {count:>9,}{value:>12,.0f}")
    print(f"store -> filter -> map by non-matching subscriptions, {TARGET_KEYS:,} keys ({backend})")
    base = results["others"][0]
    for others, value in results["others"].items():
        print(f"  {others:>9,}{value:>12,.0f}  ({base / value:.2f}x the cost with none)")
    checks = [
        (
            "store / subject, the same pipeline",
            rows["store -> filter -> map"] / rows["subject -> filter -> map"],
            STORE_VS_SUBJECT,
        )
    ]
    batched = rows["store -> filter -> map (set_many)"] / rows["subject -> filter -> map (batches)"]
    print(f"  store / subject, the same pipeline, set_many of {BATCH:,}: {batched:.2f}x")
    if "aioreactive subject -> map -> filter" in rows:
        checks.append(
            (
                "subject / aioreactive's subject, the same chain",
                rows["subject -> map -> filter"] / rows["aioreactive subject -> map -> filter"],
                SUBJECT_VS_AIOREACTIVE,
            )
        )
    failures = []
    for name, value, lowest in checks:
        met = value >= lowest
        print(f"  target: {name} {value:.2f}x (>= {lowest}x) {'met' if met else 'MISSED'}")
        if not met:
            failures.append(f"{backend}: {name} {value:.2f}x < {lowest}x")
    print()
    return failures


def draw(all_results: dict[str, dict[str, Any]]) -> None:
    keys = {backend: list(r["keys"].items()) for backend, r in all_results.items()}
    others = {
        backend: [(max(n, 1), rate) for n, rate in r["others"].items()]
        for backend, r in all_results.items()
    }
    plot(
        "streams_scale_keys",
        "store -> filter -> map, events/s by distinct keys",
        "keys",
        "events/s",
        keys,
    )
    plot(
        "streams_scale_subscriptions",
        "store -> filter -> map, 100,000 keys, by non-matching subscriptions (0 drawn at 1)",
        "non-matching subscriptions",
        "events/s",
        others,
    )


def main() -> int:
    return scale_main(__doc__, run_backend, report, draw)


if __name__ == "__main__":
    sys.exit(main())
