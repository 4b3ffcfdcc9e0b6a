"""The ledger: every record a manager writes, and what follows from each write.

A resource's :class:`~pepperflow.ResourceRecord` lives in the manager's
store at ``<prefix><id>`` (a :class:`~pepperflow.ResourceRecord` in a
store of that type, the manager's own; a dict in an untyped one). Every change of a record goes
through :meth:`Ledger.write` (set it, an active one with its ttl) or
:meth:`Ledger.drop` (forget the held resource, delete its record). Each is
a transition from the status last written to the next (``None``: no
record), and the figures follow from the transitions, in one place: the
per-kind counts of ``monitor()['by_kind']`` and the
:class:`~pepperflow.ResourceMetrics`. A transition is counted before its
write is awaited, so a store that fails leaves the figures right.

The ttl of an active record is the smaller of its kind's ``idle_timeout``
and what is left of its ``ttl`` (``expires_at`` in the record); a use
(:meth:`Ledger.touch`) sets the record again with a fresh ttl. The store's
TTL is the only deadline structure; :mod:`._expiry` follows its expiries.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import msgspec

from ..stores.base import Store
from ._expiry import Expiries
from ._held import Held
from ._kinds import Kind
from ._types import ResourceRecord, ResourceStatus
from .metrics import ResourceMetrics

__all__ = ["Ledger", "closed_error"]

_ACTIVE = ResourceStatus.ACTIVE
_ACQUIRING = ResourceStatus.ACQUIRING
_replace = msgspec.structs.replace
# Unregistered kinds without resources are kept (for their next acquire) up to this many.
_KINDS_KEPT = 256
# The ttl of a record whose ttl ran out while its factory ran: it expires at once.
_DUE = 1e-6


def closed_error() -> anyio.ClosedResourceError:
    """The error of an operation on a closed manager."""
    return anyio.ClosedResourceError("this DefaultResourceManager is closed; create a new one")


class Ledger:
    """A manager's held resources, its kinds, and the writes of their records.

    Args:
        store: where the records are kept.
        prefix: the records' key prefix.
        clock: seconds since the epoch, for the records' times.
        metrics: the figures the transitions are counted into.
        defaults: the manager's ``(idle_timeout, ttl)`` for kinds nobody registered.
    """

    __slots__ = (
        "clock",
        "closed",
        "defaults",
        "expiry",
        "held",
        "kinds",
        "metrics",
        "prefix",
        "store",
    )

    def __init__(
        self,
        store: Store[Any],
        prefix: str,
        clock: Callable[[], float],
        metrics: ResourceMetrics,
        defaults: tuple[float | None, float | None],
    ) -> None:
        self.store = store
        self.prefix = prefix
        self.clock = clock
        self.metrics = metrics
        self.defaults = defaults
        self.held: dict[str, Held] = {}
        self.kinds: dict[str, Kind] = {}
        self.expiry = Expiries(store, prefix, self.held)
        self.closed = False

    def check_open(self) -> None:
        if self.closed:
            raise closed_error()

    # -- kinds and held resources ------------------------------------------------

    def new_kind(self, name: str) -> Kind:
        """A kind nobody registered, with the manager's defaults; :meth:`adopt` keeps it."""
        idle, ttl = self.defaults
        return Kind(name, self.metrics.sink, idle_timeout=idle, ttl=ttl)

    def adopt(self, resource_id: str, kind: Kind, *, bare: bool) -> Held:
        """A new :class:`Held` for ``resource_id``, kept (with its kind) from now on.

        It takes a slot of its kind's limit if one is free (:meth:`drop`
        frees it). A bare one with room is ``active`` at once, any other
        ``acquiring``.
        """
        kind = self.kinds.setdefault(kind.name, kind)
        held = self.held[resource_id] = Held(
            resource_id,
            kind,
            self.prefix + resource_id,
            self.clock(),
            _ACTIVE if bare else _ACQUIRING,
        )
        limiter = kind.limiter
        if limiter is not None:
            try:
                limiter.acquire_on_behalf_of_nowait(held)
                held.limited = True
            except anyio.WouldBlock:
                held.record = _replace(held.record, status=_ACQUIRING)
        return held

    # -- record changes ------------------------------------------------------------

    def write(
        self,
        held: Held,
        status: ResourceStatus,
        *,
        error: str | None = None,
        cleaned: bool = False,
        errors: int = 0,
    ) -> Awaitable[int]:
        """Set ``held``'s record to ``status`` (an active one with its ttl).

        The transition is counted now; the store's write is returned, to be
        awaited (a plain function: one coroutine less on the hot path).
        ``cleaned``, ``errors``: as for :meth:`drop`.
        """
        record = held.record
        before = record.status if held.stored else None
        if status is not record.status or error is not None:
            record = held.record = _replace(record, status=status, error=error)
        held.stored = True
        if before is None:
            held.kind.count += 1
        self.metrics.observe(held.kind.name, before, status, cleaned, errors)
        ttl = None
        if status is _ACTIVE and held.kind.timed:
            ttl = _ttl(record, held.kind.idle_timeout, self.clock())
            self.expiry.watch(held.kind.name)
        return self.store.set(held.key, record, ttl=ttl)

    async def touch(self, held: Held) -> None:
        """A use of active ``held``, whose kind has an idle timeout: a fresh ttl.

        A record whose ``ttl`` ran out is left to expire.
        """
        record = held.record
        now = self.clock()
        if record.expires_at is not None and record.expires_at <= now:
            return
        await self.store.set(held.key, record, ttl=_ttl(record, held.kind.idle_timeout, now))
        held.due = False  # an expiry committed before this set is outdated

    def drop(self, held: Held, *, cleaned: bool = False, errors: int = 0) -> Awaitable[bool]:
        """Forget ``held`` now (freeing its limit slot); return the delete of its record.

        ``cleaned``: removed by cleanup, sweep, expiry or close, not ``release``;
        ``errors``: its cleanup's errors, for the figures.
        """
        if self.held.get(held.id) is held:
            del self.held[held.id]
        if held.limited:
            held.limited = False
            limiter = held.kind.limiter
            assert limiter is not None
            limiter.release_on_behalf_of(held)
        held.due = False
        if held.stored:
            held.stored = False
            kind = held.kind
            kind.count -= 1
            if not kind.count and not kind.registered and len(self.kinds) > _KINDS_KEPT:
                self._forget(kind)
            self.metrics.observe(kind.name, held.record.status, None, cleaned, errors)
        return self.store.delete(held.key)

    def _forget(self, kind: Kind) -> None:
        """Drop an unregistered kind without resources (past ``_KINDS_KEPT`` kinds)."""
        if self.kinds.get(kind.name) is kind:
            del self.kinds[kind.name]


def _ttl(record: ResourceRecord, idle_timeout: float | None, now: float) -> float:
    """An active record's ttl: the idle timeout or what is left of its ttl, the smaller."""
    left = math.inf if record.expires_at is None else record.expires_at - now
    idle = math.inf if idle_timeout is None else idle_timeout
    return max(min(left, idle), _DUE)
