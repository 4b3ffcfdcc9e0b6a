"""DefaultResourceManager: resources by id, with factories, limits and a periodic cleanup.

::

    async with DefaultResourceManager(cleanup_interval=60) as resources:
        resources.register_factory("db", connect, limit=10, idle_timeout=300)
        conn = await resources.acquire("db:analytics")
        ...
        await resources.release("db:analytics")

An id names one resource; its **kind** is the part before the first ``:``
(``"db"`` above). ``acquire`` returns the active resource of that id, or
creates it with the factory passed in, else the factory registered for its
kind; with neither, the id itself is recorded as a bare resource (a
ticket). ``release`` cleans it up and removes it.

Every status change is a write to a pepperflow store (the manager's own
in-process :class:`~pepperflow.stores.MemoryStore` by default, or the store
the application passes): ``resource:<id>`` holds the
:class:`~pepperflow.ResourceRecord` (as a dict) while the resource exists,
so ``resources.changes()`` streams acquisitions and releases. A step that
does not wait is not shown as a state: a bare resource goes straight to
``active``, and one without a cleanup is deleted without ``releasing``.

Rules:

* **Limits**: a kind registered with ``limit=n`` has at most ``n``
  resources at a time; ``acquire`` waits for a release, first come first
  served. Bound the wait with a cancel scope (``anyio.fail_after``).
* **Cancellation**: an acquire cancelled while it waits or while its
  factory runs leaves nothing behind (a resource its factory already made
  is cleaned up). Cleanups run shielded, so a started cleanup finishes.
* **Errors**: a factory that raises is counted in ``resource_errors`` and
  its error propagates. A cleanup that raises is counted too, and the
  resource is removed anyway; ``release`` raises the error, ``cleanup``
  raises the errors together (an ``ExceptionGroup``), the periodic cleanup
  logs them on the ``"pepperflow"`` logger.
* **Idle and expired resources**: with ``idle_timeout`` (not acquired again
  for that long) or ``ttl`` (older than that), the periodic cleanup, run
  every ``cleanup_interval`` while the manager runs (``start()`` or
  ``async with``), releases them; ``sweep()`` does it on demand. It finds
  them through a heap of deadlines and per-kind lists in order of use,
  never by scanning every resource.
* **Closing** (``aclose``/``stop``/end of ``async with``) releases what is
  left, in reverse order of acquisition, and warns (``ResourceWarning``)
  about the resources that were never released.
* Like the stores, ``acquire`` and ``release`` do not yield to the scheduler
  unless they must wait (a limit, a factory or cleanup that awaits, a store
  subscriber that awaits).
"""

from __future__ import annotations

import heapq
import inspect
import logging
import math
import time
import warnings
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable, Iterable
from datetime import timedelta
from typing import Any, Self

import anyio
import anyio.abc

from .._errors import InvalidKey
from .._patterns import compile_pattern
from ..stores._hub import Subscription
from ..stores.base import Callback, Store
from ..stores.feed import ChangeFeed, Overflow
from ..stores.memory import MemoryStore
from ._types import Cleanup, Factory, ResourceManager, ResourceRecord, ResourceStatus
from .metrics import ResourceMetrics

__all__ = ["DefaultResourceManager"]

logger = logging.getLogger("pepperflow")

_ACTIVE = ResourceStatus.ACTIVE
_ACQUIRING = ResourceStatus.ACQUIRING
_RELEASING = ResourceStatus.RELEASING
_FAILED = ResourceStatus.FAILED


def _seconds(what: str, value: object, *, optional: bool = True) -> float | None:
    if value is None and optional:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise TypeError(f"{what} must be seconds (int or float) or a timedelta, got {value!r}")
    if not 0 < seconds < math.inf:
        raise ValueError(f"{what} must be positive and finite, got {value!r}")
    return seconds


def _describe(exc: BaseException) -> str:
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return "cancelled"
    return f"{type(exc).__name__}: {exc}"


def _call_aclose(resource: Any) -> Any:
    return resource.aclose()


def _settled(entry: _Resource) -> anyio.Event:
    """The event set when ``entry``'s acquire or release in progress ends."""
    if entry.settled is None:
        entry.settled = anyio.Event()
    return entry.settled


def _settle(entry: _Resource) -> None:
    settled = entry.settled
    if settled is not None:
        entry.settled = None
        settled.set()


class _Kind:
    """A kind's configuration and what the manager holds of it."""

    __slots__ = (
        "cleanup",
        "count",
        "factory",
        "idle",
        "idle_timeout",
        "limit",
        "limiter",
        "name",
        "registered",
        "ttl",
    )

    def __init__(
        self,
        name: str,
        factory: Factory | None,
        cleanup: Cleanup | None,
        limit: int | None,
        idle_timeout: float | None,
        ttl: float | None,
        registered: bool,
    ) -> None:
        self.name = name
        self.factory = factory
        self.cleanup = cleanup
        self.limit = limit
        self.idle_timeout = idle_timeout
        self.ttl = ttl
        self.registered = registered
        self.count = 0  # resources of this kind in the manager (any status)
        self.limiter: anyio.CapacityLimiter | None = None
        # Active resources in order of last use, when idle resources are cleaned.
        self.idle: OrderedDict[str, _Resource] | None = (
            None if idle_timeout is None else (OrderedDict())
        )


class _Resource:
    __slots__ = (
        "acquired_at",
        "cleanup",
        "counted",
        "expires_at",
        "gen",
        "id",
        "key",
        "kind",
        "last_used",
        "limited",
        "made",
        "seq",
        "settled",
        "status",
        "value",
    )

    def __init__(self, resource_id: str, kind: _Kind, key: str, now: float) -> None:
        self.id = resource_id
        self.kind = kind
        self.key = key
        self.acquired_at = now
        self.last_used = now
        self.expires_at = None if kind.ttl is None else now + kind.ttl
        self.status = _ACQUIRING
        self.value: Any = None
        self.made = False  # the factory returned a resource (it needs cleaning)
        self.cleanup: Cleanup | None = None
        self.gen: AsyncGenerator[Any, Any] | None = None
        self.limited = False  # holds a token of its kind's limiter
        self.counted = False  # counted as active in the metrics
        self.seq = 0
        self.settled: anyio.Event | None = None

    def record(self, error: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.name,
            "status": self.status,
            "acquired_at": self.acquired_at,
            "expires_at": self.expires_at,
            "error": error,
        }


class DefaultResourceManager(ResourceManager):
    """Resources by id; see the module docstring for the rules.

    Args:
        cleanup_interval: seconds (or a timedelta) between runs of the
            periodic cleanup while the manager runs.
        store: where the resource records are kept; by default a new
            in-process :class:`~pepperflow.stores.MemoryStore` that the
            manager closes with itself. A store passed in stays open.
        prefix: the key prefix of the records (``"resource:"``).
        idle_timeout: release resources not acquired for this long (seconds
            or timedelta) in the periodic cleanup; ``None`` (default) never.
            A kind may set its own in :meth:`register_factory`.
        ttl: release resources this long after they were acquired; ``None``
            (default) never. A kind may set its own.
        metrics: the :class:`~pepperflow.ResourceMetrics` to count into
            (a new one by default).
        clock: wall-clock seconds since the epoch, for records, idle time and ttl.
    """

    def __init__(
        self,
        cleanup_interval: float | timedelta = timedelta(minutes=5),
        *,
        store: Store | None = None,
        prefix: str = "resource:",
        idle_timeout: float | timedelta | None = None,
        ttl: float | timedelta | None = None,
        metrics: ResourceMetrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        interval = _seconds("cleanup_interval", cleanup_interval, optional=False)
        assert interval is not None
        self._interval = interval
        if store is not None and not isinstance(store, Store):
            raise TypeError(f"store must be a pepperflow Store, got {type(store).__name__}")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"prefix must be a non-empty str like 'resource:', got {prefix!r}")
        if metrics is not None and not isinstance(metrics, ResourceMetrics):
            raise TypeError(f"metrics must be a ResourceMetrics, got {type(metrics).__name__}")
        self._idle_timeout = _seconds("idle_timeout", idle_timeout)
        self._ttl = _seconds("ttl", ttl)
        self._store: Store = MemoryStore("resources") if store is None else store
        self._owns_store = store is None
        self._prefix = prefix
        self._metrics = ResourceMetrics() if metrics is None else metrics
        self._clock = clock
        self._resources: dict[str, _Resource] = {}
        self._kinds: dict[str, _Kind] = {}
        self._heap: list[tuple[float, int, str]] = []  # (expires_at, seq, id)
        self._seq = 0
        self._task_group: anyio.abc.TaskGroup | None = None
        self._closed = False

    @property
    def store(self) -> Store:
        """The store holding the resource records."""
        return self._store

    @property
    def metrics(self) -> ResourceMetrics:
        """The figures this manager counts into."""
        return self._metrics

    def key(self, resource_id: str) -> str:
        """The store key of ``resource_id``'s record."""
        return self._prefix + resource_id

    # -- configuration ---------------------------------------------------------

    def register_factory(
        self,
        kind: str,
        factory: Factory | None,
        *,
        cleanup: Cleanup | None = None,
        limit: int | None = None,
        idle_timeout: float | timedelta | None = None,
        ttl: float | timedelta | None = None,
    ) -> None:
        """Configure the resources of ``kind`` (ids ``"<kind>:..."``).

        Args:
            factory: creates a resource, ``factory(resource_id, **kwargs)``
                (the kwargs of ``acquire``): returns it, returns an awaitable
                of it, or is an async generator function that yields it once
                and cleans it up after the ``yield``. ``None``: bare resources.
            cleanup: ``cleanup(resource)`` (sync or async) on release; by
                default an async generator's rest, else the resource's
                ``aclose()`` if it has one, else nothing.
            limit: at most this many resources of the kind at once.
            idle_timeout, ttl: as the manager's, for this kind.

        Raises:
            ValueError: ``kind`` is registered already, holds resources, or
                is not a non-empty str without ``:``; a bad limit or duration.
        """
        if not isinstance(kind, str) or not kind or ":" in kind:
            raise ValueError(
                f"a kind is the part of ids before the first ':', a non-empty str without"
                f" ':'; got {kind!r}"
            )
        if factory is not None and not callable(factory):
            raise TypeError(f"kind {kind!r}: factory must be callable or None, got {factory!r}")
        if cleanup is not None and not callable(cleanup):
            raise TypeError(f"kind {kind!r}: cleanup must be callable or None, got {cleanup!r}")
        if limit is not None and (type(limit) is not int or limit < 1):
            raise ValueError(f"kind {kind!r}: limit must be an int >= 1 or None, got {limit!r}")
        known = self._kinds.get(kind)
        if known is not None:
            if known.registered:
                raise ValueError(f"kind {kind!r} is registered already; register each kind once")
            raise ValueError(
                f"kind {kind!r} holds {known.count} resource(s) acquired before it was"
                " registered; register kinds before acquiring them"
            )
        self._kinds[kind] = _Kind(
            kind,
            factory,
            cleanup,
            limit,
            _seconds(f"kind {kind!r}: idle_timeout", idle_timeout) or self._idle_timeout,
            _seconds(f"kind {kind!r}: ttl", ttl) or self._ttl,
            registered=True,
        )

    # -- acquire and release -----------------------------------------------------

    async def acquire(
        self, resource_id: str, factory: Factory | None = None, /, **kwargs: Any
    ) -> Any:
        """Return the active resource ``resource_id``, creating it if needed.

        ``factory`` (positional) overrides the kind's registered factory for
        this call; ``kwargs`` go to the factory. Acquiring an id that is
        active returns its resource and counts as a use (for ``idle_timeout``);
        an id being acquired or released by another task is waited for.

        Raises:
            InvalidKey: ``resource_id`` is not a non-empty str.
            TypeError: ``kwargs`` without a factory to pass them to.
            anyio.ClosedResourceError: the manager is closed.
            whatever the factory raised: nothing is kept, the limit's slot is
            freed, and the error is counted in ``resource_errors``.
        """
        entry = self._resources.get(resource_id)
        if entry is not None and entry.status is _ACTIVE and not self._closed:
            if entry.kind.idle is not None:
                self._touch(entry)
            return entry.value
        return await self._acquire(resource_id, factory, kwargs)

    async def _acquire(self, resource_id: str, factory: Factory | None, kwargs: Any) -> Any:
        if type(resource_id) is not str or not resource_id:
            raise InvalidKey(f"resource ids are non-empty str like 'db:main', got {resource_id!r}")
        if factory is not None and not callable(factory):
            raise TypeError(f"resource {resource_id!r}: factory must be callable, got {factory!r}")
        self._check_open()
        while (entry := self._resources.get(resource_id)) is not None:
            if entry.status is _ACTIVE:
                if entry.kind.idle is not None:
                    self._touch(entry)
                return entry.value
            await _settled(entry).wait()  # being acquired or released by another task
            self._check_open()
        name = resource_id.partition(":")[0]
        known = self._kinds.get(name)
        make = factory if factory is not None else None if known is None else known.factory
        if make is None and kwargs:
            raise TypeError(
                f"resource {resource_id!r}: acquire got {sorted(kwargs)} but kind {name!r} has"
                " no factory to pass them to; register one (register_factory) or pass one"
            )
        kind = self._kind(name)
        entry = _Resource(resource_id, kind, self._prefix + resource_id, self._clock())
        limiter = kind.limiter
        if limiter is None and kind.limit is not None:
            limiter = kind.limiter = anyio.CapacityLimiter(kind.limit)
        if limiter is not None:
            try:
                limiter.acquire_on_behalf_of_nowait(entry)
                entry.limited = True
            except anyio.WouldBlock:
                pass
        self._resources[resource_id] = entry
        kind.count += 1
        if make is None and (limiter is None or entry.limited):
            # A bare resource with room: active at once, nothing to wait for.
            entry.value = resource_id
            entry.cleanup = kind.cleanup
            self._activate(entry)
            try:
                await self._store.set(entry.key, entry.record())
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    await self._abandon(entry, exc)
                raise
            return resource_id
        return await self._make(entry, make, factory is None, kwargs)

    async def _make(
        self, entry: _Resource, make: Factory | None, registered: bool, kwargs: Any
    ) -> Any:
        """The slow path: record ``acquiring``, wait for the limit, run the factory."""
        kind = entry.kind
        try:
            await self._store.set(entry.key, entry.record())
            if kind.limiter is not None and not entry.limited:
                self._metrics.on_wait(kind.name)
                await kind.limiter.acquire_on_behalf_of(entry)
                entry.limited = True
                self._check_open()
            if make is None:
                entry.value = entry.id
                entry.cleanup = kind.cleanup
            else:
                result = make(entry.id, **kwargs)
                if inspect.isasyncgen(result):
                    entry.gen = result
                    try:
                        entry.value = await anext(result)
                    except StopAsyncIteration:
                        raise RuntimeError(
                            f"resource {entry.id!r}: the factory's async generator returned"
                            " without yielding a resource"
                        ) from None
                elif inspect.isawaitable(result):
                    entry.value = await result
                else:
                    entry.value = result
                entry.made = True
                if entry.gen is None:
                    cleanup = kind.cleanup if registered else None
                    if cleanup is None and callable(getattr(entry.value, "aclose", None)):
                        cleanup = _call_aclose
                    entry.cleanup = cleanup
                self._check_open()
            self._activate(entry)
            await self._store.set(entry.key, entry.record())
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                await self._abandon(entry, exc)
            raise
        finally:
            _settle(entry)
        return entry.value

    async def release(self, resource_id: str) -> None:
        """Clean up and remove ``resource_id`` (idempotent).

        Releasing an id that is not active does nothing; one being acquired
        is released once acquired; one being released is waited for.

        Raises:
            InvalidKey: ``resource_id`` is not a non-empty str.
            whatever the cleanup raised: counted in ``resource_errors``; the
            resource is removed anyway.
        """
        while True:
            entry = self._resources.get(resource_id)
            if entry is None:
                if type(resource_id) is not str or not resource_id:
                    raise InvalidKey(
                        f"resource ids are non-empty str like 'db:main', got {resource_id!r}"
                    )
                return
            if entry.status is _ACTIVE:
                break
            releasing = entry.status is _RELEASING
            await _settled(entry).wait()
            if releasing:
                return
        await self._release(entry, False)

    async def _release(self, entry: _Resource, cleaned: bool) -> None:
        if entry.gen is None and entry.cleanup is None:
            self._remove(entry, cleaned)
            await self._store.delete(entry.key)
            return
        entry.status = _RELEASING
        try:
            with anyio.CancelScope(shield=True):
                try:
                    await self._store.set(entry.key, entry.record())
                    await self._finish(entry)
                finally:
                    self._remove(entry, cleaned)
                    await self._store.delete(entry.key)
        finally:
            _settle(entry)

    async def _finish(self, entry: _Resource) -> None:
        """Run ``entry``'s cleanup; count and annotate its error."""
        try:
            gen = entry.gen
            if gen is not None:
                try:
                    await anext(gen)
                except StopAsyncIteration:
                    return
                await gen.aclose()
                raise RuntimeError(
                    f"resource {entry.id!r}: the factory's async generator yielded twice;"
                    " yield the resource once, then clean it up"
                )
            if entry.cleanup is not None:
                result = entry.cleanup(entry.value)
                if inspect.isawaitable(result):
                    await result
        except Exception as exc:
            self._metrics.on_error(entry.kind.name)
            exc.add_note(f"while cleaning up resource {entry.id!r}")
            raise

    async def _abandon(self, entry: _Resource, exc: BaseException) -> None:
        """After a failed or cancelled acquire: clean what was made, forget the entry."""
        if isinstance(exc, Exception):
            self._metrics.on_error(entry.kind.name)
        if entry.made:
            try:
                await self._finish(entry)
            except Exception as error:
                exc.add_note(f"and its cleanup failed too: {_describe(error)}")
        self._remove(entry, False)
        try:
            entry.status = _FAILED
            await self._store.set(entry.key, entry.record(_describe(exc)))
            await self._store.delete(entry.key)
        except Exception as error:
            exc.add_note(f"recording resource {entry.id!r} as failed failed: {_describe(error)}")

    def _activate(self, entry: _Resource) -> None:
        entry.status = _ACTIVE
        entry.counted = True
        kind = entry.kind
        self._metrics.on_acquired(kind.name, kind.count)
        if kind.idle is not None:
            entry.last_used = self._clock()
            kind.idle[entry.id] = entry
        if entry.expires_at is not None:
            self._seq += 1
            entry.seq = self._seq
            heapq.heappush(self._heap, (entry.expires_at, entry.seq, entry.id))
            if len(self._heap) > 2 * len(self._resources) + 1024:
                self._heap = [
                    (e.expires_at, e.seq, e.id)
                    for e in self._resources.values()
                    if e.expires_at is not None and e.seq
                ]
                heapq.heapify(self._heap)

    def _remove(self, entry: _Resource, cleaned: bool) -> None:
        """Forget ``entry`` everywhere (synchronously) and free its limit slot."""
        if self._resources.get(entry.id) is entry:
            del self._resources[entry.id]
        kind = entry.kind
        kind.count -= 1
        if kind.idle is not None:
            kind.idle.pop(entry.id, None)
        if entry.counted:
            entry.counted = False
            self._metrics.on_released(kind.name, kind.count, cleaned)
        if entry.limited:
            entry.limited = False
            assert kind.limiter is not None
            kind.limiter.release_on_behalf_of(entry)
        if not kind.count and not kind.registered:
            del self._kinds[kind.name]

    def _kind(self, name: str) -> _Kind:
        kind = self._kinds.get(name)
        if kind is None:
            kind = self._kinds[name] = _Kind(
                name, None, None, None, self._idle_timeout, self._ttl, registered=False
            )
        return kind

    def _touch(self, entry: _Resource) -> None:
        entry.last_used = self._clock()
        idle = entry.kind.idle
        if idle is not None and entry.id in idle:
            idle.move_to_end(entry.id)

    # -- cleanup -----------------------------------------------------------------

    async def cleanup(self, pattern: str | None = None) -> int:
        """Release every active resource whose id matches ``pattern`` (all by default).

        Newest first. Counts one cleanup run. Returns how many were removed.

        Raises:
            InvalidPattern: a malformed glob.
            ExceptionGroup: the errors of the cleanups that raised (every
            matching resource was removed anyway).
        """
        match = compile_pattern(pattern).match
        self._metrics.on_cleanup_run()
        targets = [e for e in self._resources.values() if e.status is _ACTIVE and match(e.id)]
        targets.reverse()
        return await self._release_all(targets)

    async def sweep(self) -> int:
        """Release the idle and expired resources now; return how many.

        This is what the periodic cleanup runs every ``cleanup_interval``.

        Raises:
            ExceptionGroup: the errors of the cleanups that raised.
        """
        self._metrics.on_cleanup_run()
        return await self._release_all(self._due(self._clock()))

    def _due(self, now: float) -> list[_Resource]:
        due: list[_Resource] = []
        heap, resources = self._heap, self._resources
        while heap and heap[0][0] <= now:
            _, seq, resource_id = heapq.heappop(heap)
            entry = resources.get(resource_id)
            if entry is not None and entry.seq == seq and entry.status is _ACTIVE:
                due.append(entry)
        for kind in self._kinds.values():
            if kind.idle is None or kind.idle_timeout is None:
                continue
            oldest = now - kind.idle_timeout
            for entry in kind.idle.values():
                if entry.last_used > oldest:
                    break
                due.append(entry)
        return due

    async def _release_all(self, entries: Iterable[_Resource]) -> int:
        errors: list[Exception] = []
        count = 0
        for entry in entries:
            if self._resources.get(entry.id) is not entry or entry.status is not _ACTIVE:
                continue  # released meanwhile, or listed twice
            count += 1
            try:
                await self._release(entry, True)
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise ExceptionGroup(f"{len(errors)} resource cleanup(s) failed", errors)
        return count

    async def _run_cleanup(self, *, task_status: anyio.abc.TaskStatus[None]) -> None:
        task_status.started()
        while True:
            await anyio.sleep(self._interval)
            try:
                await self.sweep()
            except ExceptionGroup as group:
                logger.error(
                    "resource manager: %d cleanup(s) failed in the periodic cleanup; the"
                    " resources were removed and the errors counted",
                    len(group.exceptions),
                    exc_info=group,
                )

    # -- monitoring and observable state -----------------------------------------

    async def monitor(self) -> dict[str, Any]:
        """The figures of :class:`~pepperflow.ResourceMetrics`, plus ``waiting``
        (acquires waiting for a limit now) and ``by_kind`` (resources held per kind)."""
        figures: dict[str, Any] = self._metrics.snapshot()
        figures["waiting"] = sum(
            kind.limiter.statistics().tasks_waiting
            for kind in self._kinds.values()
            if kind.limiter is not None
        )
        figures["by_kind"] = {name: kind.count for name, kind in self._kinds.items() if kind.count}
        return figures

    def __contains__(self, resource_id: object) -> bool:
        """Whether ``resource_id`` is active."""
        entry = self._resources.get(resource_id) if isinstance(resource_id, str) else None
        return entry is not None and entry.status is _ACTIVE

    async def status(self, resource_id: str) -> ResourceRecord | None:
        """The record of ``resource_id`` in the store, or ``None`` (never acquired or released)."""
        value = await self._store.get(self._prefix + resource_id)
        return None if value is None else ResourceRecord.from_value(value)

    def changes(
        self,
        pattern: str | None = None,
        *,
        replay: bool = False,
        buffer: int = 1024,
        overflow: Overflow = "block",
    ) -> ChangeFeed:
        """A change feed of the resource records (``async with``).

        ``pattern`` matches resource ids (the store's pattern rule). A set
        change's value is a record (``ResourceRecord.from_value``); a delete
        change means the resource was released (or its acquire failed).
        """
        return self._store.changes(
            self._prefix + (pattern or ""), replay=replay, buffer=buffer, overflow=overflow
        )

    def subscribe(self, pattern: str | None, callback: Callback) -> Subscription:
        """Call ``callback(change)`` on each change of the records of ids matching ``pattern``."""
        return self._store.subscribe(self._prefix + (pattern or ""), callback)

    # -- lifecycle ---------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise anyio.ClosedResourceError(
                "this DefaultResourceManager is closed; create a new one"
            )

    async def start(self) -> None:
        """Start the periodic cleanup in a task group of the manager's.

        Call :meth:`stop` (or :meth:`aclose`) from the same task; or use
        ``async with``, which does both.
        """
        self._check_open()
        if self._task_group is not None:
            raise RuntimeError("this DefaultResourceManager is already started")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        try:
            await task_group.start(self._run_cleanup)
        except BaseException:
            self._task_group = None
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
            raise

    async def stop(self) -> None:
        """Stop the periodic cleanup and close the manager (same as :meth:`aclose`)."""
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the periodic cleanup; release every resource left, newest first.

        Resources that were never released are released now, and a
        ``ResourceWarning`` names them. Idempotent. The manager's own store
        is closed last.

        Raises:
            ExceptionGroup: the errors of the cleanups that raised.
        """
        if self._closed:
            return
        self._closed = True
        task_group, self._task_group = self._task_group, None
        if task_group is not None:
            task_group.cancel_scope.cancel()
            await task_group.__aexit__(None, None, None)
        with anyio.CancelScope(shield=True):
            left = [e for e in self._resources.values() if e.status is _ACTIVE]
            left.reverse()
            group: ExceptionGroup[Exception] | None = None
            try:
                await self._release_all(left)
            except ExceptionGroup as exc:
                group = exc
            if self._owns_store:
                await self._store.aclose()
        if left:
            shown = ", ".join(repr(e.id) for e in left[:10])
            more = f" and {len(left) - 10} more" if len(left) > 10 else ""
            warnings.warn(
                f"DefaultResourceManager closed with {len(left)} resource(s) never released:"
                f" {shown}{more}; they were released now. Release each resource when done"
                " (or use managed_resource)",
                ResourceWarning,
                stacklevel=2,
            )
        if group is not None:
            raise group

    async def __aenter__(self) -> Self:
        """Start the periodic cleanup; on exit, close the manager."""
        await self.start()
        return self

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._resources)} resources"
        return f"<DefaultResourceManager {state}>"
