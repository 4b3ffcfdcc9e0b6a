"""ProviderManager: a registry of providers the application creates and closes.

::

    async with ProviderManager() as providers:
        await providers.register(MemoryProvider(metadata, config))
        memory = providers.get("memory", MemoryProvider)
        ...
    # every provider cleaned up, in reverse order of registration

Every lifecycle transition is a write to a pepperflow store (the manager's
own in-process :class:`~pepperflow.stores.MemoryStore` by default, or the
store the application passes): the key ``provider:<name>`` holds the
provider's :class:`~pepperflow.ProviderRecord` (as a dict), so
``providers.changes()`` streams the transitions, ``providers.subscribe``
calls back on them, and ``providers.statuses()`` is what a health endpoint
shows.

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
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Self, TypeVar, overload

import anyio
import anyio.abc
import msgspec

from .._errors import DuplicateProvider, UnknownProvider
from ..stores._hub import Subscription
from ..stores.base import Callback, Store
from ..stores.feed import ChangeFeed, Overflow
from ..stores.memory import MemoryStore
from ._host import Host
from ._types import Provider, ProviderRecord, ProviderStatus, ProviderType
from .monitor import ProviderMonitor

__all__ = ["Ping", "ProviderManager"]

logger = logging.getLogger("pepperflow")

#: A health check: called with the provider, raises (or returns an awaitable
#: that raises) when the provider is unhealthy.
Ping = Callable[[Any], "Awaitable[None] | None"]

P = TypeVar("P", bound=Provider[Any])


class _Slot:
    """A provider under the manager's care."""

    __slots__ = ("host", "lock", "ping", "provider", "record")

    def __init__(self, provider: Provider[Any], ping: Ping | None, record: ProviderRecord) -> None:
        self.provider = provider
        self.ping = ping
        self.record = record
        self.lock = anyio.Lock()
        self.host: Host | None = None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return "cancelled"
    return f"{type(exc).__name__}: {exc}"


def _own_ping(provider: Provider[Any]) -> Ping | None:
    """The provider's own ``ping`` method, as a check called with the provider."""
    method = getattr(type(provider), "ping", None)
    return method if callable(method) else None


class ProviderManager:
    """A registry of providers; see the module docstring for the rules.

    Args:
        store: where provider records are kept; by default a new in-process
            :class:`~pepperflow.stores.MemoryStore` that the manager closes
            with itself. A store passed in stays open (the application owns it).
        prefix: the key prefix of the records (``"provider:"``); give two
            managers sharing a store different prefixes.
        monitor: a :class:`~pepperflow.ProviderMonitor` recording every
            register, unregister (also those of cleanup and close), reload
            and ping.
        clock: wall-clock seconds since the epoch for the records' times.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        prefix: str = "provider:",
        monitor: ProviderMonitor | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if store is not None and not isinstance(store, Store):
            raise TypeError(f"store must be a pepperflow Store, got {type(store).__name__}")
        if not isinstance(prefix, str) or not prefix:
            raise ValueError(f"prefix must be a non-empty str like 'provider:', got {prefix!r}")
        if monitor is not None and not isinstance(monitor, ProviderMonitor):
            raise TypeError(f"monitor must be a ProviderMonitor, got {type(monitor).__name__}")
        self._store: Store = MemoryStore("providers") if store is None else store
        self._owns_store = store is None
        self._prefix = prefix
        self._monitor = monitor
        self._clock = clock
        self._providers: dict[str, _Slot] = {}
        self._pending: dict[str, _Slot] = {}
        self._task_group: anyio.abc.TaskGroup | None = None
        self._pending_done: anyio.Event | None = None
        self._closed = False

    @property
    def store(self) -> Store:
        """The store holding the provider records."""
        return self._store

    def key(self, name: str) -> str:
        """The store key of provider ``name``'s record."""
        return self._prefix + name

    # -- lifecycle -------------------------------------------------------------

    async def register(self, provider: Provider[Any], *, ping: Ping | None = None) -> None:
        """Validate, then initialize ``provider``, and register it under its name.

        ``ping`` is the provider's health check (called with the provider);
        by default the provider's own ``ping`` method if it has one.

        Raises:
            DuplicateProvider: a provider of that name is registered (a ValueError).
            anyio.ClosedResourceError: the manager is closed.
            whatever ``validate`` or ``initialize`` raised: the provider is not
            registered, and (after a failed initialize) it was cleaned up.
        """
        if not isinstance(provider, Provider):
            raise TypeError(f"register() takes a Provider, got {type(provider).__name__}")
        if ping is not None and not callable(ping):
            raise TypeError(f"ping must be callable with the provider, got {ping!r}")
        self._check_open()
        meta = provider.metadata
        name = meta.name
        if name in self._providers or name in self._pending:
            raise DuplicateProvider(name)
        now = self._clock()
        record = ProviderRecord(
            name=name,
            type=meta.type,
            status=ProviderStatus.REGISTERED,
            description=meta.description,
            version=meta.version,
            capabilities=list(meta.capabilities),
            labels=dict(meta.labels),
            registered_at=now,
            changed_at=now,
        )
        slot = _Slot(provider, ping if ping is not None else _own_ping(provider), record)
        self._pending[name] = slot
        if self._task_group is not None:
            slot.host = Host(name)
            self._task_group.start_soon(slot.host.run, name=f"pepperflow-provider:{name}")
        started = anyio.current_time()
        initializing = False
        try:
            await self._write(slot, ProviderStatus.REGISTERED)
            await self._call(slot, provider.validate)
            initializing = True
            await self._write(slot, ProviderStatus.INITIALIZING)
            await self._call(slot, provider.initialize)
            if self._closed:
                raise anyio.ClosedResourceError(
                    f"the ProviderManager closed while provider {name!r} was initializing"
                )
            self._providers[name] = slot
            await self._write(slot, ProviderStatus.READY)
        except BaseException as exc:
            if self._providers.get(name) is slot:
                del self._providers[name]
            with anyio.CancelScope(shield=True):
                if initializing:
                    await self._cleanup_after(slot, exc)
                self._stop_host(slot)
                await self._write_failure(slot, exc)
                await self._record("register", slot, started, False)
            raise
        finally:
            del self._pending[name]
            if not self._pending and self._pending_done is not None:
                self._pending_done.set()
        await self._record("register", slot, started, True)

    async def unregister(self, name: str) -> None:
        """Clean ``name`` up (shielded from cancellation) and remove it.

        The provider is removed even when its cleanup raises; its record then
        says ``failed`` with the error, otherwise ``closed``.

        Raises:
            UnknownProvider: no provider ``name`` is registered (a ValueError).
            whatever the provider's ``cleanup`` raised.
        """
        slot = self._registered(name)
        async with slot.lock:
            if self._providers.get(name) is not slot:
                raise UnknownProvider(name, self.names())
            del self._providers[name]
            with anyio.CancelScope(shield=True):
                await self._close(slot, "unregister")

    async def reload_provider(self, name: str) -> None:
        """Reload ``name`` (its ``reload``: by default cleanup, then initialize).

        The record goes ``reloading``, then ``ready``. If the reload fails or
        is cancelled, the provider is cleaned up (shielded), its record says
        ``failed`` with the error, and it stays registered: reload it again
        or unregister it.

        Raises:
            UnknownProvider: no provider ``name`` is registered (a ValueError).
            whatever ``reload`` raised.
        """
        slot = self._registered(name)
        async with slot.lock:
            if self._providers.get(name) is not slot:
                raise UnknownProvider(name, self.names())
            started = anyio.current_time()
            before = slot.record
            reloading = False
            try:
                await self._write(slot, ProviderStatus.RELOADING)
                reloading = True
                await self._call(slot, slot.provider.reload)
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    if reloading:
                        await self._cleanup_after(slot, exc)
                        await self._write_failure(slot, exc)
                    else:  # cancelled before the reload began: nothing changed
                        await self._write(slot, before.status, error=before.error)
                    await self._record("reload", slot, started, False)
                raise
            await self._write(slot, ProviderStatus.READY)
            await self._record("reload", slot, started, True)

    async def cleanup(self) -> None:
        """Unregister every provider, in reverse order of registration.

        Every provider is cleaned up even when some cleanups fail; the
        failures are then raised together.

        Raises:
            ExceptionGroup: the errors of the cleanups that failed.
        """
        errors: list[Exception] = []
        failed: list[str] = []
        for name in reversed(list(self._providers)):
            try:
                await self.unregister(name)
            except UnknownProvider:
                continue  # unregistered meanwhile by another task
            except Exception as exc:
                errors.append(exc)
                failed.append(name)
        if errors:
            names = ", ".join(repr(name) for name in failed)
            raise ExceptionGroup(f"cleanup of provider(s) {names} failed", errors)

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
                if self._pending:  # registrations in flight end, cleaned up, on their own
                    self._pending_done = anyio.Event()
                    await self._pending_done.wait()
        finally:
            # Every host has been told to stop: this waits for them to end.
            task_group, self._task_group = self._task_group, None
            if task_group is not None:
                await task_group.__aexit__(None, None, None)
            if self._owns_store:
                with anyio.CancelScope(shield=True):
                    await self._store.aclose()

    async def __aenter__(self) -> Self:
        """Run the manager: each provider's lifecycle calls run in a task of its own."""
        self._check_open()
        if self._task_group is not None:
            raise RuntimeError("this ProviderManager is already running (entered twice)")
        task_group = anyio.create_task_group()
        await task_group.__aenter__()
        self._task_group = task_group
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- lookups ---------------------------------------------------------------

    def get_provider(self, name: str) -> Provider[Any] | None:
        """The provider registered as ``name``, or ``None``."""
        slot = self._providers.get(name)
        return None if slot is None else slot.provider

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
        provider = self._registered(name).provider
        if not isinstance(provider, kind):
            raise TypeError(
                f"provider {name!r} is a {type(provider).__name__}, not a {kind.__name__}"
            )
        return provider

    def get_providers_by_type(self, type: ProviderType) -> list[Provider[Any]]:
        """The providers of ``type``, in order of registration."""
        return [s.provider for s in self._providers.values() if s.provider.metadata.type == type]

    def get_providers_by_capability(self, capability: str) -> list[Provider[Any]]:
        """The providers listing ``capability``, in order of registration."""
        return [
            s.provider
            for s in self._providers.values()
            if capability in s.provider.metadata.capabilities
        ]

    def names(self) -> list[str]:
        """The names of the registered providers, in order of registration."""
        return list(self._providers)

    def __contains__(self, name: object) -> bool:
        return name in self._providers

    def __len__(self) -> int:
        return len(self._providers)

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
            for slot in list(self._providers.values()):
                if slot.ping is not None:
                    task_group.start_soon(self._ping, slot, slot.ping, results)
        return results

    async def _ping(self, slot: _Slot, ping: Ping, results: dict[str, str | None]) -> None:
        started = anyio.current_time()
        error: str | None = None
        try:
            result = ping(slot.provider)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # a health check reports what failed, it never raises it
            error = _describe(exc)
        results[slot.record.name] = error
        if self._providers.get(slot.record.name) is slot:
            status = slot.record.status
            keep = slot.record.error if status is not ProviderStatus.READY else None
            await self._write(
                slot,
                status,
                error=keep if error is None else error,
                healthy=error is None,
                checked_at=self._clock(),
            )
        await self._record("ping", slot, started, error is None)

    # -- observable state --------------------------------------------------------

    async def status(self, name: str) -> ProviderRecord | None:
        """The record of ``name`` in the store (also after it was closed), or ``None``."""
        value = await self._store.get(self._prefix + name)
        return None if value is None else msgspec.convert(value, ProviderRecord)

    async def statuses(self) -> dict[str, ProviderRecord]:
        """Every record under the prefix, by provider name."""
        found: dict[str, ProviderRecord] = {}
        keys = [key async for key in self._store.scan(self._prefix)]
        for key, value in (await self._store.get_many(keys)).items():
            found[key[len(self._prefix) :]] = msgspec.convert(value, ProviderRecord)
        return found

    def changes(
        self,
        pattern: str | None = None,
        *,
        replay: bool = False,
        buffer: int = 1024,
        overflow: Overflow = "block",
    ) -> ChangeFeed:
        """A change feed of the provider records (``async with``).

        ``pattern`` matches provider names (the store's pattern rule: a
        prefix, or a glob with ``*``/``?``/``[...]``). Each change's key is
        ``provider:<name>`` and a set's value a record (decode it with
        ``ProviderRecord.from_value``). See :meth:`pepperflow.stores.Store.changes`.
        """
        return self._store.changes(
            self._prefix + (pattern or ""), replay=replay, buffer=buffer, overflow=overflow
        )

    def subscribe(self, pattern: str | None, callback: Callback) -> Subscription:
        """Call ``callback(change)`` on each change of the records of names matching ``pattern``."""
        return self._store.subscribe(self._prefix + (pattern or ""), callback)

    # -- internals ---------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise anyio.ClosedResourceError("this ProviderManager is closed; create a new one")

    def _registered(self, name: str) -> _Slot:
        slot = self._providers.get(name)
        if slot is None:
            if not isinstance(name, str):
                raise TypeError(f"provider names are str, got {type(name).__name__}: {name!r}")
            raise UnknownProvider(name, self.names())
        return slot

    async def _call(self, slot: _Slot, fn: Callable[[], Awaitable[None]]) -> None:
        if slot.host is None:
            await fn()
        else:
            await slot.host.call(fn)

    def _stop_host(self, slot: _Slot) -> None:
        if slot.host is not None:
            slot.host.stop()

    async def _close(self, slot: _Slot, operation: str) -> None:
        """Clean ``slot`` up and record ``closed`` (or ``failed``); the caller shields."""
        started = anyio.current_time()
        try:
            await self._call(slot, slot.provider.cleanup)
        except BaseException as exc:
            exc.add_note(f"while cleaning up provider {slot.record.name!r}")
            await self._write_failure(slot, exc)
            await self._record(operation, slot, started, False)
            raise
        finally:
            self._stop_host(slot)
        await self._write(slot, ProviderStatus.CLOSED)
        await self._record(operation, slot, started, True)

    async def _cleanup_after(self, slot: _Slot, exc: BaseException) -> None:
        """After a failed initialize or reload: release what was acquired."""
        try:
            await self._call(slot, slot.provider.cleanup)
        except Exception as error:
            exc.add_note(
                f"provider {slot.record.name!r}: the cleanup after this failure failed too:"
                f" {_describe(error)}"
            )
            logger.error(
                "provider %r: cleanup after a failed initialize or reload failed",
                slot.record.name,
                exc_info=error,
            )

    async def _write(
        self,
        slot: _Slot,
        status: ProviderStatus,
        *,
        error: str | None = None,
        **fields: Any,
    ) -> None:
        record = msgspec.structs.replace(
            slot.record, status=status, changed_at=self._clock(), error=error, **fields
        )
        slot.record = record
        await self._store.set(self._prefix + record.name, msgspec.to_builtins(record))

    async def _write_failure(self, slot: _Slot, exc: BaseException) -> None:
        """Record ``failed`` with the error of ``exc``; a failing write is noted on ``exc``."""
        try:
            await self._write(slot, ProviderStatus.FAILED, error=_describe(exc))
        except Exception as error:
            exc.add_note(
                f"provider {slot.record.name!r}: recording the failure in the store failed:"
                f" {_describe(error)}"
            )

    async def _record(self, operation: str, slot: _Slot, started: float, success: bool) -> None:
        if self._monitor is not None:
            await self._monitor.record_operation(
                operation,
                slot.record.type,
                success,
                anyio.current_time() - started,
                name=slot.record.name,
            )

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._providers)} providers"
        return f"<ProviderManager {state}>"
