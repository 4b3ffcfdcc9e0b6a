"""Virtual time for tests: time passes only when every task waits.

The backend adapter behind :func:`pepperflow.testing.virtual_time_backend`.
On trio it is trio's own ``MockClock(autojump_threshold=0)``. On asyncio it
is :class:`VirtualTimeEventLoop`, an event loop whose clock starts at 0 and
jumps straight to the next timer whenever no task is ready to run and no
I/O is ready, instead of sleeping. Both make ``anyio.sleep``,
``anyio.current_time``, ``anyio.fail_after`` and every time operator run
deterministically and instantly, whatever the durations.

Caveat (the same as trio's autojump): time jumps as soon as every task is
waiting, including when one waits for a worker thread; code that waits for
threads with a timeout sees the timeout fire at once.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Mapping
from typing import Any

__all__ = ["VirtualTimeEventLoop", "virtual_time_backend"]


class _JumpingSelector(selectors.BaseSelector):
    """A selector that advances its loop's clock instead of blocking on a timeout."""

    def __init__(self, loop_time: list[float]) -> None:
        self._real = selectors.DefaultSelector()
        self._now = loop_time

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None:  # no timer pending: wait for real I/O (a thread's wake-up)
            return self._real.select(None)
        self._now[0] += timeout
        return []

    def close(self) -> None:
        self._real.close()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()


class VirtualTimeEventLoop(asyncio.SelectorEventLoop):
    """An asyncio event loop on virtual time (see the module docstring).

    ``loop.time()`` starts at 0.0; when every task waits, it jumps to the
    next timer. Pass it as ``loop_factory`` (anyio's asyncio backend option,
    or ``asyncio.Runner(loop_factory=...)``).
    """

    def __init__(self) -> None:
        self._virtual_now = [0.0]
        super().__init__(selector=_JumpingSelector(self._virtual_now))

    def time(self) -> float:
        return self._virtual_now[0]


def virtual_time_backend(name: str) -> tuple[str, dict[str, Any]]:
    """``(backend, options)`` for running on ``name`` with virtual time.

    Return it from an ``anyio_backend`` fixture (anyio's pytest plugin takes
    a ``(name, options)`` pair), or pass it to
    ``anyio.run(fn, backend=name, backend_options=options)``::

        @pytest.fixture(params=["asyncio", "trio"])
        def anyio_backend(request):
            return virtual_time_backend(request.param)

    Raises:
        ValueError: ``name`` is not ``"asyncio"`` or ``"trio"``.
        MissingExtra: ``"trio"`` without trio installed (``pepperflow[trio]``).
    """
    if name == "asyncio":
        return "asyncio", {"loop_factory": VirtualTimeEventLoop}
    if name == "trio":
        from .stores.url import require

        testing: Any = require("trio.testing", "trio", "virtual time on trio")
        return "trio", {"clock": testing.MockClock(autojump_threshold=0)}
    raise ValueError(f"virtual time exists for the 'asyncio' and 'trio' backends, got {name!r}")
