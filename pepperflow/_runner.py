"""Running the stores a seed façade owns: one host task per store, opened on first use.

A state manager or memory store built from a URL, a path or a default owns
its store and must run it: a SqliteStore or RedisStore works only inside
``async with store:``, which opens a task group in the task that enters it,
to be exited by that same task, last in first out. So each owned store runs
in a *host* task of its own: the host enters the store, waits until asked to
stop, then closes it. The store's task group is then correctly nested
whatever its users do, and any task may use or close it.

The hosts are children of a :class:`Runner`'s task group (a
:class:`~pepperflow._lifecycle.TaskRunner`). A runner is either entered
(``async with factory:``, ``async with manager:``: the group lives for the
block, and only leaving the block ends it), or not: then its group is
opened, when a store first has to run, in the task that needed it, and that
task must ``await aclose()`` the owner later, outside every scope it opened
since (a test function that ends with ``await factory.aclose()`` does
exactly that). Closing from another task closes the stores, then raises a
``RuntimeError`` saying to close it in the first task too.

An in-process MemoryStore works without being opened (expiry is then lazy,
on access); it is hosted only by a runner that was entered, so that its
expiry task runs.

Hosts are shielded from their callers' cancellation: a store that opened
closes completely (its changes all delivered, its file or connection
closed) when its owner closes, even in a cancelled application.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Self

import anyio
import anyio.abc

from ._lifecycle import TaskRunner, close_all
from .stores.base import Store

__all__ = ["Runner", "close_each"]


async def close_each(closers: Iterable[tuple[str, Callable[[], Awaitable[object]]]]) -> None:
    """Await every closer in order (:func:`~pepperflow._lifecycle.close_all`), then raise.

    One failure is raised as itself; several together as
    ``ExceptionGroup("closing failed: <labels>", ...)``.
    """
    try:
        await close_all(closers, message=lambda failed: f"closing failed: {', '.join(failed)}")
    except ExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


class _Host:
    """One owned store and the events of its host task."""

    __slots__ = ("close_error", "done", "error", "ok", "opened", "scope", "stop", "store")

    def __init__(self, store: Store[Any]) -> None:
        self.store = store
        self.opened = anyio.Event()  # the open ended (well or not)
        self.stop = anyio.Event()  # asked to close
        self.done = anyio.Event()  # the host task ended
        self.scope: anyio.CancelScope | None = None
        self.ok = False  # the store is open
        self.error: Exception | None = None  # why it did not open
        self.close_error: Exception | None = None  # what closing it raised

    async def run(self) -> None:
        """The host task: open the store, wait for :attr:`stop`, close it (shielded)."""
        try:
            with anyio.CancelScope(shield=True) as self.scope:
                if self.stop.is_set():
                    return
                try:
                    await self.store.__aenter__()
                    self.ok = True
                except Exception as exc:
                    self.error = exc
                    return
                finally:
                    self.opened.set()
                await self._serve()
        finally:
            self.opened.set()
            self.done.set()

    async def _serve(self) -> None:
        try:
            await self.stop.wait()
        finally:
            self.ok = False
            try:
                await self.store.aclose()
            except Exception as exc:
                self.close_error = exc

    async def halt(self) -> None:
        """Ask the host to close its store (abort an open in progress); wait until done.

        Raises:
            Exception: what closing the store raised.
        """
        self.stop.set()
        if not self.opened.is_set() and self.scope is not None:
            self.scope.cancel()  # abort an open in progress
        with anyio.CancelScope(shield=True):
            await self.done.wait()
        if self.close_error is not None:
            raise self.close_error


class Runner(anyio.abc.AsyncResource):
    """The task group in which the stores of one owner run; see the module docstring.

    Args:
        owner: how errors name the owner (``"StateManagerFactory"``, ...).
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.entered = False  # a block (`async with`) holds the group
        self.closed = False
        self._tasks = TaskRunner(owner)
        self._hosts: dict[int, _Host] = {}  # id(store) -> its host, in opening order
        self._lock = anyio.Lock()

    def _check_open(self) -> None:
        if self.closed:
            raise anyio.ClosedResourceError(f"{self.owner} is closed")

    async def __aenter__(self) -> Self:
        """Open the group for the block; refuse when it runs already."""
        self._check_open()
        if self._tasks.running:
            raise RuntimeError(
                f"{self.owner} is already running (entered twice, or used before"
                " `async with`: enter it before its first use)"
            )
        await self._tasks.open()
        self.entered = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.end_block()
        await self.aclose()

    def end_block(self) -> None:
        """The block that entered the runner ends: the next :meth:`aclose` ends the group."""
        self.entered = False

    def refuse(self) -> None:
        """Refuse to open stores from now on (the owner is closing)."""
        self.closed = True

    async def open(self, store: Store[Any]) -> None:
        """Run ``store`` in a host task; return once it is open (or raise why not).

        The same store is opened once; concurrent callers wait for the same
        open. A store that failed to open is forgotten (the error is raised
        to every caller waiting), so the caller may try a new one.
        """
        host = self._hosts.get(id(store))
        if host is None:
            host = await self._start(store)
        await host.opened.wait()
        if host.error is not None:
            if self._hosts.get(id(store)) is host:
                del self._hosts[id(store)]
            raise host.error
        if not host.ok:
            raise anyio.ClosedResourceError(f"{self.owner} is closed")

    async def _start(self, store: Store[Any]) -> _Host:
        """The host of ``store``, started now (opening the group here if it is not open)."""
        self._check_open()
        if not self._tasks.running:
            async with self._lock:
                self._check_open()
                if not self._tasks.running:
                    await self._tasks.open()
        self._check_open()
        host = self._hosts.get(id(store))
        if host is None:
            host = self._hosts[id(store)] = _Host(store)
            self._tasks.start_soon(host.run, name=f"pepperflow host of {store!r}")
        return host

    async def close(self, store: Store[Any]) -> None:
        """Close ``store`` (run by :meth:`open`) and wait until it is closed."""
        host = self._hosts.pop(id(store), None)
        if host is not None:
            await host.halt()

    async def aclose(self) -> None:
        """Close every store, the last opened first; end the group unless a block holds it.

        Raises:
            Exception: what closing a store raised (see :func:`close_each`).
            RuntimeError: the group was opened by another task (the stores
                are closed; close it there too).
        """
        self.closed = True
        try:
            await close_each(self._closers())
        finally:
            if not self.entered:
                await self._tasks.aclose()

    def _closers(self) -> Iterator[tuple[str, Callable[[], Awaitable[None]]]]:
        """The hosts' closers, the last opened first (and any opened meanwhile)."""
        while self._hosts:
            _, host = self._hosts.popitem()
            yield repr(host.store), host.halt
