"""Running the stores a seed façade owns: one host task per store, opened on first use.

A state manager or memory store built from a URL, a path or a default owns
its store and must run it: a SqliteStore or RedisStore works only inside
``async with store:``, which opens a task group in the task that enters it,
to be exited by that same task, last in first out. So each owned store runs
in a *host* task of its own: the host enters the store, waits until asked to
stop, then closes it. The store's task group is then correctly nested
whatever its users do, and any task may use or close it.

The hosts are children of a :class:`Runner`'s task group. A runner is either
entered (``async with factory:``, ``async with manager:``: the group lives
for the block), or not: then its group is opened, when a store first has to
run, in the task that needed it, and that task must ``await aclose()`` the
owner later, outside every scope it opened since (a test function that ends
with ``await factory.aclose()`` does exactly that).

An in-process MemoryStore works without being opened (expiry is then lazy,
on access); it is hosted only by a runner that was entered, so that its
expiry task runs.

Hosts are shielded from their callers' cancellation: a store that opened
closes completely (its changes all delivered, its file or connection
closed) when its owner closes, even in a cancelled application.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Self

import anyio
import anyio.abc

from ._metrics import MetricsSink
from .stores.base import Store
from .stores.memory import MemoryStore

__all__ = ["Runner", "StoreBinding", "StoreView"]


class _Host:
    """One owned store and the events of its host task."""

    __slots__ = ("close_error", "done", "error", "ok", "opened", "scope", "stop", "store")

    def __init__(self, store: Store) -> None:
        self.store = store
        self.opened = anyio.Event()  # the open ended (well or not)
        self.stop = anyio.Event()  # asked to close
        self.done = anyio.Event()  # the host task ended
        self.scope: anyio.CancelScope | None = None
        self.ok = False  # the store is open
        self.error: Exception | None = None  # why it did not open
        self.close_error: Exception | None = None  # what closing it raised


class Runner:
    """The task group in which the stores of one owner run; see the module docstring.

    Args:
        owner: how errors name the owner (``"StateManagerFactory"``, ...).
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.entered = False
        self.closed = False
        self._group: anyio.abc.TaskGroup | None = None
        self._group_task: int | None = None  # the task that opened the group
        self._hosts: dict[int, _Host] = {}  # id(store) -> its host, in opening order
        self._lock = anyio.Lock()

    def _check_open(self) -> None:
        if self.closed:
            raise anyio.ClosedResourceError(f"{self.owner} is closed")

    async def __aenter__(self) -> Self:
        self._check_open()
        if self._group is not None:
            raise RuntimeError(
                f"{self.owner} is already running (entered twice, or used before"
                " `async with`: enter it before its first use)"
            )
        await self._open_group()
        self.entered = True
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        try:
            await self._stop_all()
        finally:
            await self._exit_group()

    async def _open_group(self) -> None:
        group = anyio.create_task_group()
        await group.__aenter__()
        self._group = group
        self._group_task = anyio.get_current_task().id

    async def _exit_group(self) -> None:
        group = self._group
        if group is None:
            return
        if anyio.get_current_task().id != self._group_task:
            raise RuntimeError(
                f"{self.owner} was closed by another task than the one that first used it;"
                " its stores are closed, but its task group belongs to that task; close"
                " it there too (that ends the group), or use it with `async with` so its"
                " stores run for a block"
            )
        self._group = None
        await group.__aexit__(None, None, None)

    async def open(self, store: Store) -> None:
        """Run ``store`` in a host task; return once it is open (or raise why not).

        The same store is opened once; concurrent callers wait for the same
        open. A store that failed to open is forgotten (the error is raised
        to every caller waiting), so the caller may try a new one.
        """
        host = self._hosts.get(id(store))
        if host is None:
            self._check_open()
            if self._group is None:
                async with self._lock:
                    self._check_open()
                    if self._group is None:
                        await self._open_group()
            host = self._hosts.get(id(store))
            if host is None:
                assert self._group is not None
                host = self._hosts[id(store)] = _Host(store)
                self._group.start_soon(self._host, host, name=f"pepperflow host of {store!r}")
        await host.opened.wait()
        if host.error is not None:
            if self._hosts.get(id(store)) is host:
                del self._hosts[id(store)]
            raise host.error
        if not host.ok:
            raise anyio.ClosedResourceError(f"{self.owner} is closed")

    async def close(self, store: Store) -> None:
        """Close ``store`` (run by :meth:`open`) and wait until it is closed."""
        host = self._hosts.pop(id(store), None)
        if host is not None:
            await self._stop(host)

    async def aclose(self) -> None:
        """Close every store, the last opened first; end the group if it was not entered."""
        try:
            await self._stop_all()
        finally:
            if not self.entered:
                await self._exit_group()

    async def _stop_all(self) -> None:
        self.closed = True
        errors: list[Exception] = []
        while self._hosts:
            _, host = self._hosts.popitem()
            try:
                await self._stop(host)
            except Exception as exc:
                errors.append(exc)
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup("closing failed", errors)

    async def _stop(self, host: _Host) -> None:
        host.stop.set()
        if not host.opened.is_set() and host.scope is not None:
            host.scope.cancel()  # abort an open in progress
        with anyio.CancelScope(shield=True):
            await host.done.wait()
        if host.close_error is not None:
            raise host.close_error

    async def _host(self, host: _Host) -> None:
        store = host.store
        try:
            with anyio.CancelScope(shield=True) as host.scope:
                if host.stop.is_set():
                    return
                try:
                    await store.__aenter__()
                    host.ok = True
                except Exception as exc:
                    host.error = exc
                    return
                finally:
                    host.opened.set()
                try:
                    await host.stop.wait()
                finally:
                    host.ok = False
                    try:
                        await store.aclose()
                    except Exception as exc:
                        host.close_error = exc
        finally:
            host.opened.set()
            host.done.set()


class StoreBinding:
    """The store a view works on: the application's, or one it owns and opens on first use.

    Args:
        owner: how errors name the view.
        store: the store.
        make: for a store the view owns, how to make a fresh one (after a
            failed open the store is replaced); ``None`` for a store the
            application owns (it opens and closes it).
        runner: where an owned store runs.
        on_ready: called with the store once it is open, when it could not
            take subscriptions before (an owned SqliteStore or RedisStore).
    """

    __slots__ = (
        "_closed",
        "_hosted",
        "_lock",
        "_make",
        "_ready",
        "_runner",
        "_store",
        "on_ready",
        "owner",
    )

    def __init__(
        self,
        owner: str,
        store: Store,
        *,
        make: Callable[[], Store] | None = None,
        runner: Runner | None = None,
        on_ready: Callable[[Store], None] | None = None,
    ) -> None:
        if (make is None) != (runner is None):
            raise ValueError("an owned store needs both make and runner")
        self._store = store
        self._make = make
        self._runner = runner
        self.on_ready = on_ready
        self._hosted = False
        self._closed = False
        # Used as it is unless it must be hosted.
        self._ready = runner is None or (isinstance(store, MemoryStore) and not runner.entered)
        self._lock = anyio.Lock()
        self.owner = owner

    @property
    def store(self) -> Store:
        """The store (replaced by a fresh one when an owned store failed to open)."""
        return self._store

    @property
    def owned(self) -> bool:
        return self._make is not None

    @property
    def usable(self) -> bool:
        """Whether the store takes subscriptions now (open, in process, or the application's)."""
        return not self._closed and (
            self._make is None or self._hosted or isinstance(self._store, MemoryStore)
        )

    @property
    def closed(self) -> bool:
        return self._closed

    async def use(self) -> Store:
        """The store, opened first if it must run and is not running yet."""
        if self._ready:
            return self._store
        return await self.open()

    async def open(self) -> Store:
        """Open (run) the store now if it must be and is not yet; return it."""
        if self._closed:
            raise anyio.ClosedResourceError(f"{self.owner} is closed")
        runner, make = self._runner, self._make
        if runner is None or make is None or self._hosted:
            self._ready = True
            return self._store
        if isinstance(self._store, MemoryStore) and not runner.entered:
            self._ready = True  # works unopened; its expiry is lazy
            return self._store
        async with self._lock:
            if self._closed:
                raise anyio.ClosedResourceError(f"{self.owner} is closed")
            store = self._store
            if self._hosted:
                return store
            was_usable = self.usable
            try:
                await runner.open(store)
            except anyio.ClosedResourceError:
                raise
            except Exception:
                self._store = make()  # a failed store is not reused (a RedisStore cannot be)
                raise
            self._hosted = True
            self._ready = True
        if not was_usable and self.on_ready is not None:
            self.on_ready(store)
        return store

    async def aclose(self) -> None:
        """Close the store if the view owns it; a closed binding refuses every use."""
        if self._closed:
            return
        self._closed = True
        self._ready = False
        if self._runner is None:
            return  # the application's store
        if self._hosted:
            await self._runner.close(self._store)
        else:
            await self._store.aclose()  # never run (or an unopened MemoryStore)


class StoreView:
    """What the state managers and memory stores share: a store, metrics, a lifecycle.

    ``async with view:`` runs an owned store for the block (a view that owns
    its runner enters it); ``await view.open()`` opens it now (the first
    operation does otherwise); ``await view.aclose()`` closes what the view
    owns. Metrics are counters ``<prefix>_<operation>`` with labels
    ``success`` (``"true"``/``"false"``), ``reason`` on failures, and the
    view's own label.
    """

    _binding: StoreBinding
    _own_runner: Runner | None
    _metrics: MetricsSink | None
    _metric_prefix: str
    _metric_labels: dict[str, str]

    def _init_view(
        self,
        binding: StoreBinding,
        own_runner: Runner | None,
        metrics: MetricsSink | None,
        metric_prefix: str,
        metric_labels: dict[str, str],
    ) -> None:
        if metrics is not None and not callable(getattr(metrics, "counter", None)):
            raise TypeError(
                f"metrics must be a MetricsSink (e.g. pepperflow.MetricsRegistry()) with a"
                f" counter(name, value, **labels) method, got {type(metrics).__name__}"
            )
        self._binding = binding
        self._own_runner = own_runner
        self._metrics = metrics
        self._metric_prefix = metric_prefix
        self._metric_labels = metric_labels

    @property
    def store(self) -> Store:
        """The pepperflow store this is a view of (its change feed: ``store.changes()``)."""
        return self._binding.store

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called (every operation then raises)."""
        return self._binding.closed

    async def open(self) -> None:
        """Open the store now if it must run (SqliteStore, RedisStore); idempotent.

        The first operation opens it otherwise. Subscriptions are live once
        this returns.
        """
        await self._binding.open()

    async def aclose(self) -> None:
        """Close the store if this owns it (idempotent); later operations raise
        ``anyio.ClosedResourceError``. A store the application passed in stays open."""
        try:
            await self._binding.aclose()
        finally:
            if self._own_runner is not None:
                await self._own_runner.aclose()

    async def __aenter__(self) -> Self:
        runner = self._own_runner
        if runner is not None and not runner.entered:
            await runner.__aenter__()
        try:
            await self._binding.open()
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        runner = self._own_runner
        try:
            await self._binding.aclose()
        finally:
            if runner is not None:
                if runner.entered:
                    await runner.__aexit__(None, None, None)
                else:
                    await runner.aclose()

    def _record(self, operation: str, success: bool, **labels: str) -> None:
        metrics = self._metrics
        if metrics is not None:
            metrics.counter(
                f"{self._metric_prefix}_{operation}",
                1,
                success="true" if success else "false",
                **self._metric_labels,
                **labels,
            )

    async def _delete(self, key: str) -> bool:
        """Delete ``key`` from the store; counted, ``reason="not_found"`` when absent."""
        try:
            store = await self._binding.use()
            deleted = await store.delete(key)
        except BaseException as exc:
            self._failed("delete", exc)
            raise
        if deleted:
            self._record("delete", True)
        else:
            self._record("delete", False, reason="not_found")
        return deleted

    async def _exists(self, key: str) -> bool:
        """Whether ``key`` is in the store; a failure is counted."""
        try:
            store = await self._binding.use()
            return await store.exists(key)
        except BaseException as exc:
            self._failed("exists", exc)
            raise

    def _failed(self, operation: str, exc: BaseException) -> None:
        """Record a failed operation (the error is re-raised by the caller)."""
        if isinstance(exc, Exception):
            self._record(operation, False, reason=type(exc).__name__)
