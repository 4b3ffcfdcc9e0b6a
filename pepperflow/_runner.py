"""Running the stores a seed façade owns: one host task per store, opened on first use.

A state manager or memory store built from a URL, a path or a default owns
its store and must run it: a SqliteStore or RedisStore works only inside
``async with store:``, which opens a task group in the task that enters it,
to be exited by that same task, last in first out. So each owned store runs
in a *host* task of its own (a :class:`~pepperflow._lifecycle.Host`): the
host enters the store, waits until asked to stop, then closes it. The
store's task group is then correctly nested whatever its users do, and any
task may use or close it (``await store.aclose()`` too: the store is held
by its host).

Where the host tasks run depends on how the owner is used:

* entered (``async with factory:``, ``async with manager:``): the hosts are
  children of the :class:`Runner`'s task group (a
  :class:`~pepperflow._lifecycle.TaskRunner`), which lives for the block;
  only leaving the block ends it;
* not entered (a notebook, a REPL, a test that ends with
  ``await factory.aclose()``): each host is detached from every task group
  (:func:`~pepperflow._lifecycle.spawn_detached`), so any task, a later
  notebook cell for one, may use the owner and close it. A store left open
  is closed when the event loop's run ends.

An in-process MemoryStore works without being opened (expiry is then lazy,
on access); it is hosted only by a runner that was entered, so that its
expiry task runs.

Opening and closing a store are shielded from the callers' cancellation: a
store that opened closes completely (its changes all delivered, its file or
connection closed) when its owner closes, even in a cancelled application.
The wait in between is shielded too in an entered runner; a detached host's
is not, so that the end of the event loop's run closes its store.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, Self

import anyio
import anyio.abc

from ._lifecycle import Host, TaskRunner, close_all, spawn_detached
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


class Runner(anyio.abc.AsyncResource):
    """Where the stores of one owner run, each in a host task; see the module docstring.

    Args:
        owner: how errors name the owner (``"StateManagerFactory"``, ...).
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.entered = False  # a block (`async with`) holds the group
        self.closed = False
        self._tasks = TaskRunner(owner)
        self._hosts: dict[int, Host] = {}  # id(store) -> its host, in opening order

    def _check_open(self) -> None:
        if self.closed:
            raise anyio.ClosedResourceError(f"{self.owner} is closed")

    async def __aenter__(self) -> Self:
        """Open the group for the block; refuse when it runs stores already."""
        self._check_open()
        if self._tasks.running or self._hosts:
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
            host = self._start(store)
        await host.opened.wait()
        if host.error is not None:
            if self._hosts.get(id(store)) is host:
                del self._hosts[id(store)]
            raise host.error
        if not host.ok:
            raise anyio.ClosedResourceError(f"{self.owner} is closed")

    def _start(self, store: Store[Any]) -> Host:
        """The host of ``store``, started now: in the group if entered, else detached."""
        self._check_open()
        host = self._hosts[id(store)] = Host(store, shield_wait=self.entered)
        name = f"pepperflow host of {store!r}"
        if self.entered:
            self._tasks.start_soon(host.run, name=name)
        else:
            spawn_detached(host.run, name)
        return host

    async def close(self, store: Store[Any]) -> None:
        """Close ``store`` (run by :meth:`open`) and wait until it is closed."""
        host = self._hosts.pop(id(store), None)
        if host is not None:
            await host.halt()

    async def aclose(self) -> None:
        """Close every store, the last opened first; end the group unless a block holds it.

        Any task may close a runner that was not entered.

        Raises:
            Exception: what closing a store raised (see :func:`close_each`).
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
            yield repr(host.resource), host.halt
