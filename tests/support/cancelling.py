"""Cancelling an operation at its n-th suspension, on asyncio and trio alike.

:func:`cancel_after` runs one awaitable in a cancel scope and counts the
times it suspends (each time its task yields to the event loop: an I/O
wait, a lock, a checkpoint in a callback). When it is about to suspend the
``n``-th time (0: the first) the scope is cancelled, so the cancellation is
delivered at that suspension or, if that one is shielded, at the next one
that is not. A Hypothesis test draws ``n`` to cancel at every point an
operation can be cancelled, reproducibly for a given schedule.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import Any

import anyio

__all__ = ["cancel_after"]


class _Counted:
    """Awaits ``awaitable``, calling ``on_suspend()`` each time it suspends its task."""

    def __init__(self, awaitable: Awaitable[Any], on_suspend: Callable[[], None]) -> None:
        self._awaitable = awaitable
        self._on_suspend = on_suspend

    def __await__(self) -> Generator[Any, Any, Any]:
        inner = self._awaitable.__await__()
        sent: Any = None
        thrown: BaseException | None = None
        while True:
            try:
                yielded = inner.send(sent) if thrown is None else inner.throw(thrown)
            except StopIteration as stop:
                return stop.value
            self._on_suspend()
            try:
                sent, thrown = (yield yielded), None
            except BaseException as exc:  # a cancellation, or the event loop's close
                sent, thrown = None, exc


async def cancel_after(suspensions: int | None, operation: Awaitable[Any]) -> bool:
    """Await ``operation``, cancelled as it suspends for the ``suspensions``-th time.

    ``None`` never cancels. Returns True when the operation finished, False
    when the cancellation ended it (its own errors propagate).
    """
    count = 0
    with anyio.CancelScope() as scope:

        def on_suspend() -> None:
            nonlocal count
            if count == suspensions:
                scope.cancel()
            count += 1

        await _Counted(operation, on_suspend)
        return True
    return False
