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

A :class:`Host` runs one such resource in a *host* task: the host enters
it, waits until asked to stop, then closes it, so the resource's task group
is entered and exited by one task whatever task uses or closes it. A
:class:`Holdable` resource (every store) knows its host while held: its
``aclose()``, awaited in any other task, asks the host to close it and
waits. :func:`hold` runs a host detached from every task group, for a
resource opened with ``await`` in a notebook cell or a REPL and closed in
another (each cell runs in a task of its own): on asyncio the host is a
task made with the running loop's ``create_task``, on trio a system task.
This is the one place where pepperflow holds code specific to an event loop
library (:func:`spawn_detached`, chosen with sniffio).
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import Any, TypeVar

import anyio
import anyio.abc
import sniffio

__all__ = ["Holdable", "Host", "TaskRunner", "close_all", "hold", "spawn_detached"]

H = TypeVar("H", bound="Holdable")


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


class Holdable(anyio.abc.AsyncResource):
    """An async resource a :class:`Host` can hold open for other tasks.

    While a host holds it (:attr:`holder` is that host, from the moment it
    is open), ``await resource.aclose()`` in any task but the host's asks
    the host to close it and waits (:meth:`Host.halt`); in the host's task,
    the same call closes it. A subclass's ``aclose`` starts with
    ``if await self._closed_by_holder(): return``.
    """

    #: The host holding the resource open; ``None`` when no host runs it.
    holder: Host | None = None

    async def _closed_by_holder(self) -> bool:
        """Have the holding host close the resource, unless this runs in its task.

        Returns whether it did (what closing raised is raised here, once);
        ``False``: nothing holds the resource, or this is the host closing
        it, so the caller closes it now.
        """
        holder = self.holder
        if holder is None or holder.in_host_task():
            return False
        await holder.halt()
        return True


class Host:
    """One resource and the events of the host task that runs it (:meth:`run`).

    The host enters the resource, waits until :meth:`halt` asks it to stop,
    then closes it, all in one cancel scope (the resource's own task group
    nests in it). Opening and closing are shielded from the host task's
    cancellation; an open in progress is not aborted (a halt waits for it,
    then closes). Once open, a :class:`Holdable` resource is held by its
    host (:attr:`Holdable.holder`).

    Args:
        resource: what the host enters and closes.
        shield_wait: whether the wait for :meth:`halt` is shielded too. A
            detached host leaves it unshielded, so the end of the event
            loop's run (which cancels it) still closes the resource.
    """

    __slots__ = (
        "_close_error",
        "_shield_wait",
        "_task",
        "done",
        "error",
        "ok",
        "opened",
        "resource",
        "stop",
    )

    def __init__(self, resource: anyio.abc.AsyncResource, *, shield_wait: bool = True) -> None:
        self.resource = resource
        self._shield_wait = shield_wait
        self._task: int | None = None  # the host task's id while it runs
        self.opened = anyio.Event()  # the open ended (well or not)
        self.stop = anyio.Event()  # asked to close
        self.done = anyio.Event()  # the host task ended
        self.ok = False  # the resource is open
        self.error: Exception | None = None  # why it did not open
        self._close_error: Exception | None = None  # what closing it raised

    async def run(self) -> None:
        """The host task: open the resource, wait for :attr:`stop`, close it.

        Never raises an ``Exception``: failures are kept in :attr:`error`
        (opening) and raised by :meth:`halt` (closing).
        """
        self._task = anyio.get_current_task().id
        try:
            with anyio.CancelScope(shield=True) as scope:
                if self.stop.is_set() or not await self._open():
                    return
                scope.shield = self._shield_wait
                try:
                    await self.stop.wait()
                finally:
                    scope.shield = True
                    await self._close_now()
        finally:
            self._task = None  # an ended task's id may be reused
            self.opened.set()
            self.done.set()

    async def _open(self) -> bool:
        """Enter the resource; return whether it is open (else :attr:`error` says why)."""
        try:
            await self.resource.__aenter__()
            self.ok = True
            if isinstance(self.resource, Holdable):
                self.resource.holder = self
        except Exception as exc:
            self.error = exc
        finally:
            self.opened.set()
        return self.ok

    async def _close_now(self) -> None:
        self.ok = False
        try:
            await self.resource.aclose()
        except Exception as exc:
            self._close_error = exc

    def in_host_task(self) -> bool:
        """Whether the current task is the host task (which is running)."""
        return self._task == anyio.get_current_task().id

    async def wait_open(self) -> None:
        """Wait until the resource is open; raise why it did not open.

        Raises:
            Exception: what opening it raised.
            anyio.ClosedResourceError: it was closed before it opened.
        """
        await self.opened.wait()
        if self.error is not None:
            raise self.error
        if not self.ok:
            raise anyio.ClosedResourceError(f"{self.resource!r} was closed while opening")

    async def halt(self) -> None:
        """Ask the host to close the resource and wait until it did (shielded).

        Idempotent; what closing raised is raised once.

        Raises:
            Exception: what closing the resource raised.
        """
        self.stop.set()
        with anyio.CancelScope(shield=True):
            await self.done.wait()
        error, self._close_error = self._close_error, None
        if error is not None:
            raise error


#: The detached asyncio host tasks, referenced until they end (the loop
#: keeps only weak references to its tasks).
_DETACHED: set[Any] = set()


def spawn_detached(fn: Callable[[], Coroutine[Any, Any, None]], name: str) -> None:
    """Start ``fn()`` in a task of no task group; it must not raise an ``Exception``.

    On asyncio, a task of the running loop (cancelled when ``asyncio.run``
    ends); on trio, a system task (cancelled when the main task ends), run
    in a copy of the caller's context like an asyncio task.

    Raises:
        RuntimeError: another async library than asyncio or trio.
    """
    library = sniffio.current_async_library()
    if library == "asyncio":
        import asyncio

        task = asyncio.get_running_loop().create_task(fn(), name=name)
        _DETACHED.add(task)
        task.add_done_callback(_DETACHED.discard)
    elif library == "trio":
        import trio

        trio.lowlevel.spawn_system_task(fn, name=name, context=contextvars.copy_context())
    else:
        raise RuntimeError(f"pepperflow runs on asyncio or trio, not on {library}")


async def hold(resource: H) -> H:
    """Open ``resource`` in a detached host task and return it, open.

    The resource stays open beyond the task that called this (a notebook
    cell, a REPL line) until ``await resource.aclose()``, from any task,
    stops the host and waits until the host closed it (the resource is
    :class:`Holdable`). Unclosed, it is closed when the event loop's run
    ends. Cancelling the caller while the resource opens closes it once
    open, then raises the cancellation.

    Raises:
        Exception: what opening the resource raised (it is then closed).
    """
    host = Host(resource, shield_wait=False)
    spawn_detached(host.run, f"pepperflow host of {resource!r}")
    try:
        await host.wait_open()
    except BaseException:
        await host.halt()
        raise
    return resource
