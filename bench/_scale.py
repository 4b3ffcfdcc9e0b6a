"""What the application-scale benchmarks share: their keys, their targets and their one run.

``bench_memory_scale.py``, ``bench_streams_scale.py`` and the ``_scale``
scripts of the state managers, resources, sinks and metrics each measure
on asyncio and trio, print a report per backend with its targets
(:func:`check`), draw the figures (bench/_plots.py) and list the targets
missed; :func:`scale_main` is that run, with ``--quick`` (up to 100,000
keys, 3 rounds) or not (up to 1,000,000 keys, 5 rounds), the machine's
load average printed before and after (on a shared machine the absolute
figures move with it; the ratios to peers measured in the same rounds
much less).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from pepperflow.streams import Change

__all__ = ["TARGET_KEYS", "check", "load_average", "noop", "scale_main", "shuffled_keys"]

#: Where the targets of issue #18 are measured.
TARGET_KEYS = 100_000

#: ``run_backend(backend, key_counts, rounds)``: the results of one backend.
RunBackend = Callable[[str, tuple[int, ...], int], Awaitable[dict[str, Any]]]


async def noop(change: Change) -> None:
    """The subscriber that does nothing."""
    return


def shuffled_keys(count: int, head: str = "user:") -> list[str]:
    """``count`` distinct keys in a fixed shuffled order (no memory locality to gain from)."""
    keys = [f"{head}{i}" for i in range(count)]
    random.Random(count).shuffle(keys)
    return keys


def load_average() -> str:
    """The machine's load average (1, 5, 15 minutes): what the figures shared the cores with."""
    try:
        return ", ".join(f"{value:.1f}" for value in os.getloadavg())
    except OSError:
        return "unknown"


def check(backend: str, name: str, value: float, bound: float, higher: bool = True) -> list[str]:
    """Print one target (``value`` against ``bound``) and whether it is met;
    return it as a failure (a one-item list) if it is not."""
    met = value >= bound if higher else value <= bound
    sign = ">=" if higher else "<="
    print(f"  {name:<52}{value:>12,.2f}  (target {sign} {bound:,g})  {'met' if met else 'MISSED'}")
    return [] if met else [f"{backend}: {name} {value:,.2f}, target {sign} {bound:,g}"]


def scale_main(
    doc: str,
    run_backend: RunBackend,
    report: Callable[[str, dict[str, Any]], list[str]],
    draw: Callable[[dict[str, dict[str, Any]]], None],
) -> int:
    """Parse ``--quick``, run on asyncio then trio, report, draw, list what was missed."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="up to 100,000 keys, 3 rounds")
    args = parser.parse_args()
    key_counts = (1_000, TARGET_KEYS) if args.quick else (1_000, TARGET_KEYS, 1_000_000)
    rounds = 3 if args.quick else 5
    print(f"{doc.splitlines()[0]}\nkeys {key_counts}, best of {rounds} alternating rounds")
    print(
        f"python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cores,"
        f" load average {load_average()}\n"
    )
    failures: list[str] = []
    results = {}
    for backend in ("asyncio", "trio"):
        results[backend] = anyio.run(run_backend, backend, key_counts, rounds, backend=backend)
        failures += report(backend, results[backend])
    draw(results)
    print(f"load average after the run: {load_average()}")
    for failure in failures:
        print("target missed:", failure)
    if not failures:
        print("all targets met on asyncio and trio")
    return 0
