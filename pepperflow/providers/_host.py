"""One task per provider, so its lifecycle calls all run in the same task.

A provider may open things bound to the task that opens them (a task group,
a cancel scope: a SqliteStore it runs, for example) in ``initialize`` and
close them in ``cleanup``. That only works when both run in one task, in
last-in first-out order, with no scope of someone else's opened between
them. A running :class:`~pepperflow.ProviderManager` starts one
:class:`Host` per provider in its task group; the host runs the provider's
calls one at a time, in the order they were asked for, each directly in
its body (no scope around a call, so what a call leaves open stays
correctly nested), and hands each result back to the caller.

The host runs shielded from the cancellation of the manager's scope: a
provider lives until the manager closes it, so its cleanup still runs in
its own task when the application is cancelled. For the same reason a call
that started runs to its end: a caller cancelled while waiting waits
(shielded) for the call to end, then its cancellation propagates.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable

import anyio

__all__ = ["Host"]


class _Call:
    __slots__ = ("done", "error", "fn")

    def __init__(self, fn: Callable[[], Awaitable[None]]) -> None:
        self.fn = fn
        self.done = anyio.Event()
        self.error: Exception | None = None


class Host:
    """Runs the calls it is given in its own task, one at a time, in order."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._calls: deque[_Call] = deque()
        self._wake: anyio.Event | None = None
        self._stopping = False
        self._stopped = False

    async def run(self) -> None:
        """The host task's body: run calls until :meth:`stop`."""
        try:
            with anyio.CancelScope(shield=True):
                while True:
                    while self._calls:
                        call = self._calls.popleft()
                        try:
                            await call.fn()
                        except Exception as exc:  # handed to the caller, who raises it
                            call.error = exc
                        finally:
                            call.done.set()
                    if self._stopping:
                        return
                    self._wake = wake = anyio.Event()
                    await wake.wait()
        finally:
            self._stopped = True
            for call in self._calls:
                call.error = anyio.ClosedResourceError(f"provider {self.name!r}: its task ended")
                call.done.set()
            self._calls.clear()

    async def call(self, fn: Callable[[], Awaitable[None]]) -> None:
        """Run ``fn()`` in the host task; return or raise what it did.

        If the caller is cancelled while waiting, it waits (shielded) for
        the call to end, then the cancellation propagates.
        """
        if self._stopped:
            raise anyio.ClosedResourceError(f"provider {self.name!r}: its task ended")
        call = _Call(fn)
        self._calls.append(call)
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()
        try:
            await call.done.wait()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await call.done.wait()
            raise
        if call.error is not None:
            raise call.error

    def stop(self) -> None:
        """End the host task once the calls asked for so far are done."""
        self._stopping = True
        wake = self._wake
        if wake is not None:
            self._wake = None
            wake.set()
