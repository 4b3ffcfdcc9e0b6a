"""Waiting, bounded, for what another task or process delivers."""

from __future__ import annotations

from typing import Any

import anyio


async def wait_for(calls: list[Any], n: int) -> None:
    """Wait until ``calls`` holds ``n`` items; fail after 10 seconds."""
    with anyio.fail_after(10):
        while len(calls) < n:
            await anyio.sleep(0.005)
