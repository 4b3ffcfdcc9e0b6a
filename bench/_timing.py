"""What every benchmark here measures with: the best rate of awaited calls,
and the wall time of writer processes started together.

On a shared machine the load changes from one second to the next, so a
ratio is only worth its peers measured in alternating rounds
(:func:`interleaved`), never one after the other.
"""

from __future__ import annotations

import gc
import json
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

#: A clock in seconds: ``time.perf_counter`` (wall) or ``time.process_time``
#: (this process's CPU: what a loop that never waits costs, whatever else the
#: machine runs).
Clock = Callable[[], float]

__all__ = ["Clock", "Op", "children_elapsed", "interleaved", "rate"]

#: One operation: called with the iteration number, awaited.
Op = Callable[[int], Awaitable[Any]]


async def rate(op: Op, n: int, repeat: int = 5, clock: Clock = time.perf_counter) -> float:
    """Best calls per second (of ``clock``) of ``repeat`` runs of ``n`` awaited calls of ``op``."""
    best = 0.0
    for _ in range(repeat):
        gc.collect()
        start = clock()
        for i in range(n):
            await op(i)
        best = max(best, n / max(clock() - start, 1e-9))
    return best


async def interleaved(
    ops: Mapping[str, Op], n: int, rounds: int = 5, clock: Clock = time.perf_counter
) -> dict[str, float]:
    """The best rate of each op (name -> op), measured in ``rounds`` alternating rounds."""
    best = dict.fromkeys(ops, 0.0)
    for _ in range(rounds):
        for name, op in ops.items():
            best[name] = max(best[name], await rate(op, n, 1, clock))
    return best


def children_elapsed(commands: Sequence[Sequence[str]], on_ready: Callable[[], object]) -> float:
    """Seconds from the first start to the last end of child processes run
    together; ``on_ready`` is called once every child is ready.

    Each child prints ``ready``, waits for a line on its stdin, works, and
    prints its JSON ``[start, end]`` (``time.time()``). Every child still
    running is killed on the way out.

    Raises:
        RuntimeError: a child ended or printed something else before ``ready``.
    """
    children = [
        subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for command in commands
    ]
    try:
        for child, command in zip(children, commands, strict=True):
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a writer did not start: {' '.join(command[1:])}")
        on_ready()
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        spans = [json.loads(child.communicate(timeout=600)[0]) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    return float(max(end for _, end in spans) - min(start for start, _ in spans))
