"""Waiting, bounded, for what another task or process delivers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio


async def wait_for(calls: list[Any], n: int) -> None:
    """Wait until ``calls`` holds ``n`` items; fail after 10 seconds."""
    with anyio.fail_after(10):
        while len(calls) < n:
            await anyio.sleep(0.005)


async def wait_until(condition: Callable[[], object], what: str) -> None:
    """Wait until ``condition()`` is true; fail after 10 seconds, saying ``what`` never came."""
    with anyio.move_on_after(10):
        while not condition():
            await anyio.sleep(0.005)
        return
    raise AssertionError(f"waited 10 s for {what}")
