"""Lifecycle pieces every component shares: one task runner, one close-all.

Components that host background work (stores, managers, runners) hold a
:class:`TaskRunner`: a task group opened in the task that starts the
component and exited by :meth:`TaskRunner.aclose`, in that same task. A
task group must be exited by the task that entered it (trio insists, and
asyncio's cancellation bookkeeping relies on it), so the runner remembers
the task and refuses to be exited from another one with an error that says
what to do.

:func:`close_all` awaits a list of closers in order, keeps going after a
failure, then raises every failure together: the one rule for "close all,
collect errors".

Components are async context managers through anyio's
:class:`~anyio.abc.AsyncResource` (``__aexit__`` awaits ``aclose()``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any

import anyio
import anyio.abc

__all__ = ["TaskRunner", "close_all"]


class TaskRunner:
    """A task group held open from :meth:`open` to :meth:`aclose`.

    Args:
        owner: how errors name the component (``"store 'default'"``, ...).
    """

    __slots__ = ("_group", "_task", "owner")

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._group: anyio.abc.TaskGroup | None = None
        self._task: int | None = None

    @property
    def running(self) -> bool:
        """Whether the group is open."""
        return self._group is not None

    @property
    def group(self) -> anyio.abc.TaskGroup:
        """The open task group; raises ``RuntimeError`` before :meth:`open`."""
        if self._group is None:
            raise RuntimeError(f"{self.owner} is not running; enter it with `async with` first")
        return self._group

    async def open(self) -> None:
        """Open the task group in the current task.

        Raises:
            RuntimeError: the runner is open already.
        """
        if self._group is not None:
            raise RuntimeError(f"{self.owner} is already running (entered twice)")
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        self._task = anyio.get_current_task().id

    async def start(
        self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any, name: str | None = None
    ) -> Any:
        """Start ``fn(*args, task_status=...)`` and wait until it reports started.

        If it fails to start, the group is closed (every task in it is
        cancelled) and the error is raised.
        """
        try:
            return await self.group.start(fn, *args, name=name)
        except BaseException:
            await self.aclose()
            raise

    def start_soon(
        self, fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any, name: str | None = None
    ) -> None:
        """Start ``fn(*args)`` in the group."""
        self.group.start_soon(fn, *args, name=name)

    async def aclose(self, *, cancel: bool = True) -> None:
        """Cancel the group's tasks (unless ``cancel=False``: wait for them) and exit it.

        Harmless when the runner is not open.

        Raises:
            RuntimeError: called from another task than the one that opened it.
        """
        group = self._group
        if group is None:
            return
        if anyio.get_current_task().id != self._task:
            raise RuntimeError(
                f"{self.owner} was closed by another task than the one that started it;"
                " its task group belongs to that task: close it there, or use it with"
                " `async with` so that it runs for a block"
            )
        self._group = None
        if cancel:
            group.cancel_scope.cancel()
        await group.__aexit__(None, None, None)


async def close_all(
    closers: Iterable[tuple[str, Callable[[], Awaitable[object]]]],
    message: Callable[[list[str]], str],
) -> None:
    """Await each ``(label, closer)`` in order, even after some failed; then raise.

    Failures (``Exception``) are raised together as one ``ExceptionGroup``
    whose message is ``message(labels of the closers that failed)``; a
    cancellation or another ``BaseException`` stops the loop at once and
    propagates.
    """
    errors: list[Exception] = []
    failed: list[str] = []
    for label, close in closers:
        try:
            await close()
        except Exception as exc:
            errors.append(exc)
            failed.append(label)
    if errors:
        raise ExceptionGroup(message(failed), errors)
