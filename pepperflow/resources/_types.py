"""The resource manager contract (R045) and the status record of a resource."""

from __future__ import annotations

import enum
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from typing import Any

from anyio.abc import AsyncResource

from ..stores._stored import StoredRecord

__all__ = ["Cleanup", "Factory", "ResourceManager", "ResourceRecord", "ResourceStatus"]

#: Creates a resource: ``factory(resource_id, **kwargs)`` returns the resource,
#: an awaitable of it, or is an async generator that yields it once (the code
#: after the ``yield`` is its cleanup).
Factory = Callable[..., Any]

#: Releases a resource: ``cleanup(resource)``, a function or coroutine function.
Cleanup = Callable[[Any], "Awaitable[None] | None"]


class ResourceManager(AsyncResource):
    """Acquire, release, clean up and monitor resources named by ids like ``"db:main"``.

    An async context manager (anyio's ``AsyncResource``): the end of
    ``async with`` awaits :meth:`aclose`.
    """

    @abstractmethod
    async def acquire(self, resource_id: str, /, **kwargs: Any) -> Any:
        """Return the resource ``resource_id``, creating it when it is not active.

        Raises:
            InvalidKey: ``resource_id`` is not a non-empty str.
            anyio.ClosedResourceError: the manager is closed.
            Exception: whatever the resource's factory raised (nothing is kept then).
        """

    @abstractmethod
    async def release(self, resource_id: str) -> None:
        """Clean up and remove ``resource_id``; releasing what is not active does nothing.

        Raises:
            Exception: whatever the resource's cleanup raised (the resource is
                removed anyway).
        """

    @abstractmethod
    async def cleanup(self, pattern: str | None = None) -> int:
        """Release every active resource whose id matches ``pattern`` (all when ``None``).

        ``pattern`` follows the stores' one rule (a prefix, or a glob with
        ``*``, ``?``, ``[...]``). Returns how many were removed.

        Raises:
            ExceptionGroup: the errors of the cleanups that raised (every
                matching resource is removed anyway).
        """

    @abstractmethod
    async def monitor(self) -> dict[str, Any]:
        """The manager's figures: at least ``active_resources``, ``resource_errors``
        and ``cleanup_runs``."""

    async def aclose(self) -> None:
        """Release every resource; the default calls :meth:`cleanup`."""
        await self.cleanup()


class ResourceStatus(enum.StrEnum):
    """Where a resource is: ``acquiring`` (waiting for its kind's limit or its
    factory), ``active``, ``releasing`` (its cleanup runs), ``failed`` (its
    factory raised or the acquire was cancelled; the record is deleted right
    after). A released resource's record is deleted."""

    ACQUIRING = "acquiring"
    ACTIVE = "active"
    RELEASING = "releasing"
    FAILED = "failed"


class ResourceRecord(StoredRecord, frozen=True, kw_only=True):
    """A resource's record, the value of ``resource:<id>`` in the manager's
    store (a dict in an untyped store the application passed).

    Times are seconds since the epoch; ``expires_at`` is the end of its
    kind's ``ttl`` (``acquired_at + ttl``), ``None`` without one. An active
    record of a kind with an ``idle_timeout`` or a ``ttl`` also carries a
    ttl in the store (the idle timeout, renewed on each use, or what is
    left of ``ttl``, the smaller); its expiry releases the resource.
    """

    id: str
    kind: str
    status: ResourceStatus
    acquired_at: float
    expires_at: float | None = None
    error: str | None = None
