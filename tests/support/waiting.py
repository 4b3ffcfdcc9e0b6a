"""Waiting, bounded, for what another task or process delivers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio


async def wait_until(done: Callable[[], object], what: str = "the condition") -> None:
    """Wait until ``done()`` is true; fail after 10 seconds, naming ``what``."""
    with anyio.move_on_after(10):
        while not done():
            await anyio.sleep(0.005)
        return
    raise AssertionError(f"waited 10 seconds for {what}")


async def wait_for(calls: list[Any], n: int) -> None:
    """Wait until ``calls`` holds ``n`` items; fail after 10 seconds."""
    await wait_until(lambda: len(calls) >= n, f"{n} calls")
