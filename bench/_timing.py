"""What every benchmark here measures with: the best rate of awaited calls."""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["Op", "rate"]

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
