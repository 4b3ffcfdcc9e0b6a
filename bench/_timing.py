"""What every benchmark here measures with: the best rate of awaited calls.

On a shared machine the load changes from one second to the next, so a
ratio is only worth its peers measured in alternating rounds
(:func:`interleaved`), never one after the other.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

__all__ = ["Op", "interleaved", "rate"]

#: One operation: called with the iteration number, awaited.
Op = Callable[[int], Awaitable[Any]]


async def rate(op: Op, n: int, repeat: int = 5) -> float:
    """Best calls per second of ``repeat`` runs of ``n`` awaited calls of ``op``."""
    best = 0.0
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        for i in range(n):
            await op(i)
        best = max(best, n / (time.perf_counter() - start))
    return best


async def interleaved(ops: Mapping[str, Op], n: int, rounds: int = 5) -> dict[str, float]:
    """The best rate of each op (name -> op), measured in ``rounds`` alternating rounds."""
    best = dict.fromkeys(ops, 0.0)
    for _ in range(rounds):
        for name, op in ops.items():
            best[name] = max(best[name], await rate(op, n, repeat=1))
    return best
