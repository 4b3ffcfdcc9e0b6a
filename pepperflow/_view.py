"""What the state managers and memory stores share: a store, a meter, a lifecycle.

A :class:`StoreView` works on one store through a
:class:`~pepperflow._binding.StoreBinding`, measures its operations with
:func:`~pepperflow.sinks.metrics._meter.measured` into its :attr:`StoreView.meter`, and
owns a :class:`~pepperflow._runner.Runner` when it was made on its own with
a store to build (a view made by a factory runs in the factory's).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Concatenate, ParamSpec, Self, TypeVar

import anyio.abc

from ._binding import StoreBinding
from ._runner import Runner
from .sinks.metrics import MetricsSink
from .sinks.metrics._meter import Meter, checked_sink, measured
from .stores.base import Store

__all__ = ["StoreView", "view_meter"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_V = TypeVar("_V", bound="StoreView")
_Method = Callable[Concatenate[_V, _P], Coroutine[Any, Any, _R]]


def view_meter(metrics: MetricsSink | None, component: str, **labels: str) -> Meter:
    """The meter of a view; ``metrics`` is checked here, once.

    Raises:
        TypeError: ``metrics`` is neither ``None`` nor a
            :class:`~pepperflow.MetricsSink`.
    """
    return Meter(checked_sink(metrics), component, **labels)


def _deleted(deleted: bool) -> str:
    return "ok" if deleted else "not_found"


class StoreView(anyio.abc.AsyncResource):
    """A view over one store: ``async with``, :meth:`open`, :meth:`aclose`, metrics.

    ``async with view:`` runs an owned store for the block (a view that owns
    its runner enters it); ``await view.open()`` opens it now (the first
    operation does otherwise); ``await view.aclose()`` closes what the view
    owns. Operations are recorded in :attr:`meter` (see
    :mod:`pepperflow.sinks.metrics._meter`).
    """

    _binding: StoreBinding
    _own_runner: Runner | None
    #: Where the view's operations are recorded.
    meter: Meter

    def _init_view(self, binding: StoreBinding, own_runner: Runner | None, meter: Meter) -> None:
        self._binding = binding
        self._own_runner = own_runner
        self.meter = meter

    @property
    def store(self) -> Store[Any]:
        """The pepperflow store this is a view of (its change feed: ``store.changes()``)."""
        return self._binding.store

    @property
    def value_type(self) -> Any:
        """The type of the values (the store's ``type=``; ``Any`` when untyped)."""
        return self._binding.store.codec.value_type

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
        """Run the store for the block (open now); the block's end closes the view."""
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
        if self._own_runner is not None:
            self._own_runner.end_block()
        await self.aclose()

    # R055's and R058's delete and exists (a view is the first base of their
    # classes, so these implement the abstract methods).

    @measured("delete", outcome=_deleted)
    async def delete(self, key: str) -> bool:
        """Delete ``key``; return whether it was present (``outcome="not_found"`` if not)."""
        store = self._binding.ready or await self._binding.open()
        return await store.delete(key)

    @measured("exists")
    async def exists(self, key: str) -> bool:
        """Return whether ``key`` is present (and not expired)."""
        store = self._binding.ready or await self._binding.open()
        return await store.exists(key)
