"""One provider under a manager's care: its lifecycle calls, their records, their metrics.

A :class:`Tenant` holds what cannot live in the store: the provider object
itself, its health check, the lock that serializes its unregister and
reload, and its :class:`~pepperflow.providers._host.Host` when the manager
runs. Its status is not kept here: every transition is written to the
:class:`~pepperflow.providers._records.RecordBook`.

Each operation (``register``, ``unregister``, ``reload``, ``ping``) is one
method measured with :func:`pepperflow.sinks.metrics._meter.measured` under component
``"provider"`` with the labels ``provider`` (the name) and ``type``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ..sinks.metrics import MetricsSink
from ..sinks.metrics._meter import Meter, measured
from ._host import Host
from ._records import RecordBook, describe
from ._types import Provider, ProviderMetadata, ProviderRecord, ProviderStatus

__all__ = ["Ping", "Tenant", "own_ping"]

logger = logging.getLogger("pepperflow")

#: A health check: called with the provider, raises (or returns an awaitable
#: that raises) when the provider is unhealthy.
Ping = Callable[[Any], "Awaitable[None] | None"]


def own_ping(provider: Provider[Any]) -> Ping | None:
    """The provider's own ``ping`` method, as a check called with the provider."""
    method = getattr(type(provider), "ping", None)
    return method if callable(method) else None


def _health_outcome(error: Exception | None) -> str:
    return "ok" if error is None else type(error).__name__


def _health(record: ProviderRecord, error: str | None, checked_at: float) -> dict[str, Any]:
    """The fields a health check changes: a ready provider's error is the check's."""
    kept = record.error if record.status is not ProviderStatus.READY else None
    return {
        "error": kept if error is None else error,
        "healthy": error is None,
        "checked_at": checked_at,
    }


class Tenant:
    """A provider being registered or registered, and what the manager keeps beside it.

    Args:
        provider: the provider.
        ping: its health check, or ``None``.
        book: where its record lives.
        sink: where its operations are measured (``None``: nowhere).
    """

    __slots__ = ("book", "host", "lock", "metadata", "meter", "ping", "provider")

    def __init__(
        self,
        provider: Provider[Any],
        ping: Ping | None,
        book: RecordBook,
        sink: MetricsSink | None,
    ) -> None:
        self.provider = provider
        self.metadata: ProviderMetadata = provider.metadata
        self.ping = ping
        self.book = book
        self.lock = anyio.Lock()
        self.host: Host | None = None
        self.meter = Meter(
            sink, "provider", provider=self.metadata.name, type=self.metadata.type.value
        )

    @property
    def name(self) -> str:
        """The provider's name."""
        return self.metadata.name

    @measured("register")
    async def register(self, admit: Callable[[], None], dismiss: Callable[[], None]) -> None:
        """Validate, then initialize; ``admit()`` the provider (it may raise), then ``ready``.

        On any failure or cancellation: ``dismiss()``, then (shielded) clean
        up what initialize acquired, stop the host and record ``failed``;
        the error propagates.
        """
        initializing = False
        try:
            await self.book.open(self.metadata)
            await self._call(self.provider.validate)
            initializing = True
            await self.book.move(self.metadata, ProviderStatus.INITIALIZING)
            await self._call(self.provider.initialize)
            admit()
            await self.book.move(self.metadata, ProviderStatus.READY)
        except BaseException as exc:
            dismiss()
            with anyio.CancelScope(shield=True):
                if initializing:
                    await self._cleanup_after(exc)
                self.stop()
                await self.book.fail(self.metadata, exc)
            raise

    @measured("unregister")
    async def close(self) -> None:
        """Clean the provider up and record ``closed``; the caller shields.

        A failing cleanup is recorded ``failed``, noted and raised; the host
        stops either way.
        """
        try:
            await self._call(self.provider.cleanup)
        except BaseException as exc:
            exc.add_note(f"while cleaning up provider {self.name!r}")
            await self.book.fail(self.metadata, exc)
            raise
        finally:
            self.stop()
        await self.book.move(self.metadata, ProviderStatus.CLOSED)

    @measured("reload")
    async def reload(self) -> None:
        """``reloading``, the provider's ``reload``, then ``ready``.

        If the reload fails or is cancelled, the provider is cleaned up
        (shielded) and recorded ``failed``; cancelled before the reload
        began, its record goes back to what it said. The error propagates.
        """
        before = await self.book.get(self.name) or self.book.fresh(self.metadata)
        reloading = False
        try:
            await self.book.move(self.metadata, ProviderStatus.RELOADING)
            reloading = True
            await self._call(self.provider.reload)
        except BaseException as exc:
            with anyio.CancelScope(shield=True):
                if reloading:
                    await self._cleanup_after(exc)
                    await self.book.fail(self.metadata, exc)
                else:  # cancelled before the reload began: nothing changed
                    await self.book.move(self.metadata, before.status, before.error)
            raise
        await self.book.move(self.metadata, ProviderStatus.READY)

    @measured("ping", outcome=_health_outcome)
    async def check(self, registered: Callable[[], bool]) -> Exception | None:
        """Run the health check; return what it raised (``None``: healthy).

        While ``registered()``, the record gets ``healthy``, ``checked_at``
        and, when unhealthy, ``error``. The outcome measured is ``"ok"`` or
        the class name of the check's error.
        """
        if self.ping is None:
            raise RuntimeError(f"provider {self.name!r} has no health check")
        error: Exception | None = None
        try:
            result = self.ping(self.provider)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:  # a health check reports what failed, it never raises it
            error = exc
        if registered():
            text = None if error is None else describe(error)
            checked_at = self.book.clock()
            await self.book.update(self.metadata, lambda record: _health(record, text, checked_at))
        return error

    def stop(self) -> None:
        """Stop the host task (if any) once the calls asked for so far are done."""
        if self.host is not None:
            self.host.stop()

    async def _call(self, fn: Callable[[], Awaitable[None]]) -> None:
        if self.host is None:
            await fn()
        else:
            await self.host.call(fn)

    async def _cleanup_after(self, exc: BaseException) -> None:
        """After a failed initialize or reload: release what was acquired."""
        try:
            await self._call(self.provider.cleanup)
        except Exception as error:
            exc.add_note(
                f"provider {self.name!r}: the cleanup after this failure failed too:"
                f" {describe(error)}"
            )
            logger.error(
                "provider %r: cleanup after a failed initialize or reload failed",
                self.name,
                exc_info=error,
            )
