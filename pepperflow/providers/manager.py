"""ProviderManager: a registry of providers the application creates and closes.

::

    async with ProviderManager() as providers:
        await providers.register(MemoryProvider(metadata, config))
        memory = providers.get("memory", MemoryProvider)
        ...
    # every provider cleaned up, in reverse order of registration

Each provider's status is a record in a pepperflow store (the manager's own
in-process :class:`~pepperflow.stores.MemoryStore` by default, or the store
the application passes): the key ``provider:<name>`` holds the provider's
:class:`~pepperflow.ProviderRecord` (a dict in an untyped store), and
that record is the only copy of it. So ``providers.status()`` and ``providers.statuses()``
read the store, ``providers.changes()`` streams the transitions and
``providers.subscribe`` calls back on them. The manager keeps beside the
store only what a store cannot hold: the live provider objects, by name.

Rules:

* ``register`` validates, then initializes; the provider is registered only
  when ``initialize`` returned. If ``initialize`` fails or is cancelled, its
  ``cleanup`` runs (shielded) to release what was acquired, the record says
  ``failed`` with the error, and the error propagates.
* Cleanups always run shielded from cancellation, so a cleanup that
  started finishes, and a cancelled application still releases what its
  providers hold when the manager closes.
* A running manager (``async with``) runs each provider's lifecycle calls in
  a task of its own, so a provider may open task-bound things (a task group,
  a store it runs) in ``initialize`` and close them in ``cleanup``; a call
  that started there runs to its end, and a caller cancelled meanwhile
  waits for it (then the provider is cleaned up and the cancellation
  propagates). A manager that is not entered runs the calls in the
  caller's task, where a cancellation interrupts them at once. Either way
  an ``initialize`` that opens task-bound things must close them itself if
  it fails before returning.
* Calls on one provider (unregister, reload) are serialized.
* Given a :class:`~pepperflow.ProviderMonitor`, every register, unregister
  (also those of cleanup and close), reload and health check is measured
  in pepperflow's one metrics vocabulary (:mod:`pepperflow.sinks.metrics._meter`):
  component ``"provider"``, labels ``provider`` and ``type``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import suppress
from functools import partial
from typing import Any, Self, TypeVar, overload

import anyio
import anyio.abc

from .._errors import UnknownProvider
from .._lifecycle import TaskRunner, close_all
from .._store_specs import check_record_store
from ..sinks.metrics import MetricsSink
from ..sinks.metrics._meter import checked_sink, store_registry
from ..stores._scoped import ScopedChanges
from ..stores.base import Store
from ..stores.memory import MemoryStore
from ._host import Host
from ._records import RecordBook, describe
from ._registry import Registry
from ._tenant import Ping, Tenant, own_ping
from ._types import Provider, ProviderRecord, ProviderType
from .monitor import ProviderMonitor

__all__ = ["Ping", "ProviderManager"]

P = TypeVar("P", bound=Provider[Any])


def _cleanup_failed(names: list[str]) -> str:
    return f"cleanup of provider(s) {', '.join(repr(name) for name in names)} failed"


class ProviderManager(ScopedChanges, anyio.abc.AsyncResource):
    """A registry of providers; see the module docstring for the rules.

    :meth:`changes` and :meth:`subscribe` follow the records by provider
    name: each change's key is ``<prefix><name>`` and a set's value a
    record (a :class:`ProviderRecord` in a store of that type, else a dict:
    ``ProviderRecord.from_value`` takes either).

    Args:
        store: where provider records are kept; by default a new in-process
            ``MemoryStore(type=ProviderRecord)`` that the manager closes
            with itself. A store passed in stays open (the application owns
            it); made with ``type=ProviderRecord`` it holds the records as
            such, untyped it holds them as dicts (any other type is refused).
        prefix: the key prefix of the records (``"provider:"``); give two
            managers sharing a store different prefixes.
        monitor: a :class:`~pepperflow.ProviderMonitor` whose metrics sink
            receives every register, unregister (also those of cleanup and
            close), reload and ping.
        metrics: a sink (a :class:`~pepperflow.MetricsRegistry`) to record
            into: the same as ``monitor=ProviderMonitor(metrics)``; pass one
            of the two. When the sink (the monitor's) is a
            ``MetricsRegistry``, the manager's own store (``store`` not
            given) reports the standard store metrics into it too, as the
            store ``"providers"``; another sink gets the providers' metrics only.
        clock: wall-clock seconds since the epoch for the records' times.
    """

    def __init__(
        self,
        store: Store[Any] | None = None,
        *,
        prefix: str = "provider:",
        monitor: ProviderMonitor | None = None,
        metrics: MetricsSink | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if store is not None and not isinstance(store, Store):
            raise TypeError(f"store must be a pepperflow Store, got {type(store).__name__}")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"prefix must be a non-empty str like 'provider:', got {prefix!r}")
        if monitor is not None and not isinstance(monitor, ProviderMonitor):
            raise TypeError(f"monitor must be a ProviderMonitor, got {type(monitor).__name__}")
        if monitor is not None and metrics is not None:
            raise TypeError("pass monitor= or metrics= (a monitor has its metrics), not both")
        self._sink = checked_sink(metrics) if monitor is None else monitor.metrics
        self._book = RecordBook(
            MemoryStore("providers", type=ProviderRecord, metrics=store_registry(self._sink))
            if store is None
            else check_record_store(store, ProviderRecord, what="ProviderManager(store=...)"),
            prefix,
            clock,
        )
        self._owns_store = store is None
        self._registry = Registry()  # the live provider objects, beside their records
        self._runner = TaskRunner("this ProviderManager")
        self._closed = False

    @property
    def store(self) -> Store[Any]:
        """The store holding the provider records."""
        return self._book.store

    def key(self, name: str) -> str:
        """The store key of provider ``name``'s record."""
        return self._book.key(name)

    # -- lifecycle -------------------------------------------------------------

    async def register(self, provider: Provider[Any], *, ping: Ping | None = None) -> None:
        """Validate, then initialize ``provider``, and register it under its name.

        ``ping`` is the provider's health check (called with the provider);
        by default the provider's own ``ping`` method if it has one.

        Raises:
            DuplicateProvider: a provider of that name is registered (a ValueError).
            anyio.ClosedResourceError: the manager is closed.
            Exception: whatever ``validate`` or ``initialize`` raised: the
                provider is not registered, and (after a failed initialize) it
                was cleaned up.
        """
        if not isinstance(provider, Provider):
            raise TypeError(f"register() takes a Provider, got {type(provider).__name__}")
        if ping is not None and not callable(ping):
            raise TypeError(f"ping must be callable with the provider, got {ping!r}")
        self._check_open()
        check = own_ping(provider) if ping is None else ping
        tenant = Tenant(provider, check, self._book, self._sink)
        self._registry.reserve(tenant)
        if self._runner.running:
            tenant.host = Host(tenant.name)
            self._runner.start_soon(tenant.host.run, name=f"pepperflow-provider:{tenant.name}")
        try:
            await tenant.register(
                partial(self._admit, tenant), partial(self._registry.dismiss, tenant)
            )
        finally:
            self._registry.release(tenant)

    async def unregister(self, name: str) -> None:
        """Clean ``name`` up (shielded from cancellation) and remove it.

        The provider is removed even when its cleanup raises; its record then
        says ``failed`` with the error, otherwise ``closed``.

        Raises:
            UnknownProvider: no provider ``name`` is registered (a ValueError).
            Exception: whatever the provider's ``cleanup`` raised.
        """
        async with self._registry.serialized(name) as tenant:
            self._registry.dismiss(tenant)
            with anyio.CancelScope(shield=True):
                await tenant.close()

    async def reload_provider(self, name: str) -> None:
        """Reload ``name`` (its ``reload``: by default cleanup, then initialize).

        The record goes ``reloading``, then ``ready``. If the reload fails or
        is cancelled, the provider is cleaned up (shielded), its record says
        ``failed`` with the error, and it stays registered: reload it again
        or unregister it.

        Raises:
            UnknownProvider: no provider ``name`` is registered (a ValueError).
            Exception: whatever ``reload`` raised.
        """
        async with self._registry.serialized(name) as tenant:
            await tenant.reload()

    async def cleanup(self) -> None:
        """Unregister every provider, in reverse order of registration.

        Every provider is cleaned up even when some cleanups fail; the
        failures are then raised together.

        Raises:
            ExceptionGroup: the errors of the cleanups that failed.
        """
        closers = [
            (name, partial(self._unregister_if_present, name)) for name in self._registry.names()
        ]
        await close_all(reversed(closers), message=_cleanup_failed)

    async def aclose(self) -> None:
        """Clean up every provider (reverse order, shielded) and close the manager.

        Registrations still in flight are waited for; they fail with
        ``anyio.ClosedResourceError`` and clean up after themselves.
        Idempotent. The manager's own store is closed last, which ends its
        change feeds after they delivered the ``closed`` records.

        Raises:
            ExceptionGroup: the errors of the cleanups that failed.
        """
        if self._closed:
            return
        self._closed = True
        try:
            with anyio.CancelScope(shield=True):
                await self.cleanup()
                await self._registry.registrations_ended()
        finally:
            await self._release()

    async def _release(self) -> None:
        """Wait for the hosts to end (every one was told to stop), then close our own store."""
        try:
            await self._runner.aclose(cancel=False)
        finally:
            if self._owns_store:
                with anyio.CancelScope(shield=True):
                    await self._book.store.aclose()

    async def __aenter__(self) -> Self:
        """Run the manager: each provider's lifecycle calls run in a task of its own."""
        self._check_open()
        await self._runner.open()
        return self

    # -- lookups ---------------------------------------------------------------

    def get_provider(self, name: str) -> Provider[Any] | None:
        """The provider registered as ``name``, or ``None``."""
        tenant = self._registry.get(name)
        return None if tenant is None else tenant.provider

    @overload
    def get(self, name: str) -> Provider[Any]: ...

    @overload
    def get(self, name: str, kind: type[P]) -> P: ...

    def get(self, name: str, kind: type[Provider[Any]] = Provider) -> Provider[Any]:
        """The provider registered as ``name``, checked to be a ``kind``.

        Raises:
            UnknownProvider: no provider ``name`` is registered (a ValueError).
            TypeError: it is not an instance of ``kind``.
        """
        provider = self._registry.registered(name).provider
        if not isinstance(provider, kind):
            raise TypeError(
                f"provider {name!r} is a {type(provider).__name__}, not a {kind.__name__}"
            )
        return provider

    def get_providers_by_type(self, type: ProviderType) -> list[Provider[Any]]:
        """The providers of ``type``, in order of registration."""
        return [t.provider for t in self._registry.tenants() if t.metadata.type == type]

    def get_providers_by_capability(self, capability: str) -> list[Provider[Any]]:
        """The providers listing ``capability``, in order of registration."""
        return [
            t.provider for t in self._registry.tenants() if capability in t.metadata.capabilities
        ]

    def names(self) -> list[str]:
        """The names of the registered providers, in order of registration."""
        return self._registry.names()

    def __contains__(self, name: object) -> bool:
        return name in self._registry

    def __len__(self) -> int:
        return len(self._registry)

    # -- health ----------------------------------------------------------------

    async def check_health(self) -> dict[str, str | None]:
        """Run every registered provider's health check, concurrently.

        Returns ``{name: None}`` for a healthy provider and ``{name: error
        text}`` for one whose check raised; providers without a check are
        left out. Each record gets ``healthy``, ``checked_at`` and, when
        unhealthy, ``error``. Bound the wait with a cancel scope.
        """
        results: dict[str, str | None] = {}
        async with anyio.create_task_group() as task_group:
            for tenant in self._registry.tenants():
                if tenant.ping is not None:
                    task_group.start_soon(self._check, tenant, results)
        return results

    async def _check(self, tenant: Tenant, results: dict[str, str | None]) -> None:
        error = await tenant.check(partial(self._registry.holds, tenant))
        results[tenant.name] = None if error is None else describe(error)

    # -- observable state --------------------------------------------------------

    async def status(self, name: str) -> ProviderRecord | None:
        """The record of ``name`` in the store (also after it was closed), or ``None``."""
        return await self._book.get(name)

    async def statuses(self) -> dict[str, ProviderRecord]:
        """Every record under the prefix, by provider name."""
        return await self._book.all()

    def _scope(self) -> tuple[Store[Any], str]:
        return self._book.store, self._book.prefix

    # -- internals ---------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise anyio.ClosedResourceError("this ProviderManager is closed; create a new one")

    def _admit(self, tenant: Tenant) -> None:
        """Register ``tenant``, initialized; refused once the manager closed."""
        if self._closed:
            raise anyio.ClosedResourceError(
                f"the ProviderManager closed while provider {tenant.name!r} was initializing"
            )
        self._registry.admit(tenant)

    async def _unregister_if_present(self, name: str) -> None:
        with suppress(UnknownProvider):  # unregistered meanwhile by another task
            await self.unregister(name)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._registry)} providers"
        return f"<ProviderManager {state}>"
