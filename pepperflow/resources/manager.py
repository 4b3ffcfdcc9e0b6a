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

The records are the truth: ``resource:<id>`` in a pepperflow store (the
manager's own :class:`~pepperflow.stores.MemoryStore` by default, or the
store the application passes) holds the :class:`~pepperflow.ResourceRecord`
(as a dict) while the resource exists, so ``resources.changes()`` streams
acquisitions and releases, ``status()`` reads the store, and the figures of
``monitor()`` follow the record changes (:mod:`._ledger`). The resources
themselves, which are not data, are kept by id beside them (:mod:`._held`).

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
  raises the errors together (an ``ExceptionGroup``), the background
  releases log them on the ``"pepperflow"`` logger.
* **Idle and expired resources**: with ``idle_timeout`` (not acquired again
  for that long) or ``ttl`` (older than that), an active record carries a
  ttl in the store; its :class:`~pepperflow.streams.ExpireChange` releases
  the resource (:mod:`._expiry`): at once while the manager and its store
  run (``start()`` or ``async with`` runs the manager's own store), else
  at the next ``sweep()``, which the periodic cleanup runs every
  ``cleanup_interval``.
* **Closing** (``aclose``/``stop``/end of ``async with``) releases what is
  left, in reverse order of acquisition, and warns (``ResourceWarning``)
  about the resources that were never released.
* Like the stores, ``acquire`` and ``release`` do not yield to the scheduler
  unless they must wait (a limit, a factory or cleanup that awaits, a store
  subscriber that awaits).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Self

from .._durations import seconds
from .._errors import InvalidKey
from .._lifecycle import TaskRunner
from .._patterns import compile_pattern
from .._store_specs import check_record_store
from ..sinks.metrics import MetricsSink
from ..sinks.metrics._meter import Meter, checked_sink, measured, store_registry
from ..stores._scoped import ScopedChanges
from ..stores.base import Store
from ..stores.memory import MemoryStore
from ._flow import measured_acquire, measured_release
from ._kinds import duration, registered_kind
from ._ledger import Ledger
from ._sweeping import release_all, release_expired, release_left, sweep_periodically
from ._types import Cleanup, Factory, ResourceManager, ResourceRecord, ResourceStatus
from .metrics import ResourceMetrics

__all__ = ["DefaultResourceManager"]

_ACTIVE = ResourceStatus.ACTIVE
_RELEASING = ResourceStatus.RELEASING


class DefaultResourceManager(ScopedChanges, ResourceManager):
    """Resources by id; see the module docstring for the rules.

    :meth:`changes` and :meth:`subscribe` follow the records by resource
    id: a set change's value is a record (a :class:`ResourceRecord` in a
    store of that type, else a dict: ``ResourceRecord.from_value`` takes
    either); a
    delete change means the resource was released (or its acquire failed);
    an expire change, that its idle timeout or ttl ran out (its release
    follows).

    Args:
        cleanup_interval: seconds (or a timedelta) between runs of
            :meth:`sweep` while the manager runs.
        store: where the resource records are kept; by default a new
            in-process ``MemoryStore(type=ResourceRecord)`` that the
            manager runs and closes with itself. A store passed in stays
            open (run it, ``async with store``, for expiries on time); made
            with ``type=ResourceRecord`` it holds the records as such,
            untyped it holds them as dicts (any other type is refused).
        prefix: the key prefix of the records (``"resource:"``).
        idle_timeout: release resources not acquired for this long (seconds
            or timedelta); ``None`` (default) never. A kind may set its own
            in :meth:`register_factory`.
        ttl: release resources this long after they were acquired; ``None``
            (default) never. A kind may set its own.
        metrics: the :class:`~pepperflow.ResourceMetrics` to count into
            (a new one by default), or a sink (a
            :class:`~pepperflow.MetricsRegistry`): ``ResourceMetrics(sink)``.
            Its sink also gets the operations (``pepperflow_operations``,
            component ``"resource"``). When the sink is a
            ``MetricsRegistry``, the manager's own store (``store`` not
            given) reports the standard store metrics into it too, as the
            store ``"resources"``; another sink gets the resources' metrics only.
        clock: wall-clock seconds since the epoch, for the records (and the
            ttl of the manager's own store).
    """

    def __init__(
        self,
        cleanup_interval: float | timedelta = timedelta(minutes=5),
        *,
        store: Store[Any] | None = None,
        prefix: str = "resource:",
        idle_timeout: float | timedelta | None = None,
        ttl: float | timedelta | None = None,
        metrics: ResourceMetrics | MetricsSink | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._interval = seconds(cleanup_interval, "cleanup_interval")
        if store is not None and not isinstance(store, Store):
            raise TypeError(f"store must be a pepperflow Store, got {type(store).__name__}")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"prefix must be a non-empty str like 'resource:', got {prefix!r}")
        if not isinstance(metrics, ResourceMetrics):
            what = "metrics (a ResourceMetrics or a sink)"
            metrics = ResourceMetrics(checked_sink(metrics, what))
        defaults = (duration(idle_timeout, "idle_timeout"), duration(ttl, "ttl"))
        self._owns_store = store is None
        if store is None:
            own = MemoryStore(
                "resources", type=ResourceRecord, clock=clock, metrics=store_registry(metrics.sink)
            )
            # The ledger builds every record from checked parts: kept as it is, no copy.
            own._admit_as_is(ResourceRecord)
            self._store: Store[Any] = own
        else:
            what = "DefaultResourceManager(store=...)"
            self._store = check_record_store(store, ResourceRecord, what=what)
        self._prefix = prefix
        self._metrics = metrics
        self.meter = Meter(self._metrics.sink, "resource")
        self._ledger = Ledger(self._store, prefix, clock, self._metrics, defaults)
        self._runner = TaskRunner("this DefaultResourceManager")

    @property
    def store(self) -> Store[Any]:
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
            idle_timeout: as the manager's, for this kind.
            ttl: as the manager's, for this kind.

        Raises:
            ValueError: ``kind`` is registered already, holds resources, or
                is not a non-empty str without ``:``; a bad limit or duration.
        """
        ledger = self._ledger
        new = registered_kind(
            kind,
            factory,
            cleanup,
            limit,
            idle_timeout,
            ttl,
            defaults=ledger.defaults,
            sink=self._metrics.sink,
        )
        known = ledger.kinds.get(kind)
        if known is not None and known.registered:
            raise ValueError(f"kind {kind!r} is registered already; register each kind once")
        if known is not None and known.count:
            raise ValueError(
                f"kind {kind!r} holds {known.count} resource(s) acquired before it was"
                " registered; register kinds before acquiring them"
            )
        ledger.kinds[kind] = new

    # -- acquire and release -----------------------------------------------------

    async def acquire(
        self, resource_id: str, factory: Factory | None = None, /, **kwargs: Any
    ) -> Any:
        """Return the active resource ``resource_id``, creating it if needed.

        ``factory`` (positional) overrides the kind's registered factory for
        this call; ``kwargs`` go to the factory. Acquiring an id that is
        active returns its resource and counts as a use (its record's idle
        timeout starts again); an id being acquired or released by another
        task is waited for.

        Raises:
            InvalidKey: ``resource_id`` is not a non-empty str.
            TypeError: ``kwargs`` without a factory to pass them to.
            anyio.ClosedResourceError: the manager is closed.
            Exception: whatever the factory raised: nothing is kept, the
                limit's slot is freed, and the error is counted in
                ``resource_errors``.
        """
        held = self._ledger.held.get(resource_id)
        if held is not None:
            return await measured_acquire(held.kind, self._ledger, resource_id, factory, kwargs)
        if type(resource_id) is not str or not resource_id:
            raise InvalidKey(f"resource ids are non-empty str like 'db:main', got {resource_id!r}")
        ledger = self._ledger
        name = resource_id.partition(":")[0]
        kind = ledger.kinds.get(name) or ledger.new_kind(name)
        return await measured_acquire(kind, ledger, resource_id, factory, kwargs)

    async def release(self, resource_id: str) -> None:
        """Clean up and remove ``resource_id`` (idempotent).

        Releasing an id that is not active does nothing; one being acquired
        is released once acquired; one being released is waited for.

        Raises:
            InvalidKey: ``resource_id`` is not a non-empty str.
            Exception: whatever the cleanup raised: counted in
                ``resource_errors``; the resource is removed anyway.
        """
        while (held := self._ledger.held.get(resource_id)) is None or held.status is not _ACTIVE:
            if held is None:
                if type(resource_id) is not str or not resource_id:
                    raise InvalidKey(
                        f"resource ids are non-empty str like 'db:main', got {resource_id!r}"
                    )
                return
            releasing = held.status is _RELEASING
            await held.settled_event().wait()
            if releasing:
                return
        await measured_release(held.kind, self._ledger, held, False)

    def __contains__(self, resource_id: object) -> bool:
        """Whether ``resource_id`` is active."""
        held = self._ledger.held.get(resource_id) if isinstance(resource_id, str) else None
        return held is not None and held.status is _ACTIVE

    # -- cleanup -----------------------------------------------------------------

    async def cleanup(self, pattern: str | None = None) -> int:
        """Release every active resource whose id matches ``pattern`` (all by default).

        Newest first. Counts one cleanup run. Returns how many were removed.

        Raises:
            InvalidPattern: a malformed glob.
            ExceptionGroup: the errors of the cleanups that raised (every
                matching resource was removed anyway).
        """
        return await self._cleanup(pattern)

    @measured("cleanup")
    async def _cleanup(self, pattern: str | None) -> int:
        match = compile_pattern(pattern).match
        self._metrics.on_cleanup_run()
        targets = [h for h in self._ledger.held.values() if h.status is _ACTIVE and match(h.id)]
        targets.reverse()
        return await release_all(self._ledger, measured_release, targets)

    @measured("sweep")
    async def sweep(self) -> int:
        """Release the resources whose record expired (idle or past its ttl) now.

        Reads the timed records first, so that a store that is not running
        (or runs on a test clock) commits the expiries already due. This is
        what the periodic cleanup runs every ``cleanup_interval``; counts
        one cleanup run; returns how many it released.

        Raises:
            ExceptionGroup: the errors of the cleanups that raised.
        """
        self._metrics.on_cleanup_run()
        await self._ledger.expiry.force()
        return await release_all(
            self._ledger, measured_release, self._ledger.expiry.take(), due=True
        )

    # -- monitoring and observable state -----------------------------------------

    async def monitor(self) -> dict[str, Any]:
        """The figures of :class:`~pepperflow.ResourceMetrics`, plus ``waiting``
        (acquires waiting for a limit now) and ``by_kind`` (records per kind)."""
        figures: dict[str, Any] = self._metrics.snapshot()
        kinds = self._ledger.kinds.values()
        figures["waiting"] = sum(kind.waiting for kind in kinds)
        figures["by_kind"] = {kind.name: kind.count for kind in kinds if kind.count}
        return figures

    async def status(self, resource_id: str) -> ResourceRecord | None:
        """The record of ``resource_id`` in the store, or ``None`` (never acquired,
        released, or expired and being released)."""
        value = await self._store.get(self._prefix + resource_id)
        return None if value is None else ResourceRecord.from_value(value)

    def _scope(self) -> tuple[Store[Any], str]:
        return self._store, self._prefix

    # -- lifecycle ---------------------------------------------------------------

    async def start(self) -> None:
        """Run the manager: its own store's expiries, the release of expired
        resources and the periodic cleanup, in a task group of the manager's.

        Call :meth:`stop` (or :meth:`aclose`) from the same task; or use
        ``async with``, which does both.
        """
        self._ledger.check_open()
        if self._runner.running:
            raise RuntimeError("this DefaultResourceManager is already started")
        if self._owns_store:
            await self._store.__aenter__()
        await self._runner.open()
        await self._runner.start(release_expired, self._ledger, measured_release)
        await self._runner.start(sweep_periodically, self.sweep, self._interval)

    async def stop(self) -> None:
        """Stop the periodic cleanup and close the manager (same as :meth:`aclose`)."""
        await self.aclose()

    async def aclose(self) -> None:
        """Stop the background tasks; release every resource left, newest first.

        Resources that were never released are released now, and a
        ``ResourceWarning`` names them. Idempotent. The manager's own store
        is closed last.

        Raises:
            ExceptionGroup: the errors of the cleanups that raised.
        """
        ledger = self._ledger
        if ledger.closed:
            return
        ledger.closed = True
        await self._runner.aclose()
        group = await release_left(ledger, measured_release)
        ledger.expiry.close()
        if self._owns_store:
            await self._store.aclose()
        if group is not None:
            raise group

    async def __aenter__(self) -> Self:
        """Start the manager; on exit, close it."""
        await self.start()
        return self

    def __repr__(self) -> str:
        state = "closed" if self._ledger.closed else f"{len(self._ledger.held)} resources"
        return f"<DefaultResourceManager {state}>"
