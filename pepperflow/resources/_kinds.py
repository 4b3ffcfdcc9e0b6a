"""Kinds: what a manager knows of the resources whose ids start ``"<kind>:"``.

A :class:`Kind` is the configuration ``register_factory`` validated once
(factory, cleanup, limit, idle timeout, ttl), the limiter that enforces its
limit, the :class:`~pepperflow.sinks.metrics._meter.Meter` its operations are measured
with (component ``"resource"``, label ``kind``), and how many of its
resources have a record in the store (``count``, kept by the ledger from
the records it writes). A kind nobody registered is made on its first
acquire, with the manager's defaults, and forgotten when its last resource
goes.
"""

from __future__ import annotations

from datetime import timedelta

import anyio

from .._durations import seconds
from ..sinks.metrics import MetricsSink
from ..sinks.metrics._meter import Meter
from ._types import Cleanup, Factory

__all__ = ["Kind", "duration", "registered_kind"]


def duration(value: float | timedelta | None, what: str) -> float | None:
    """``None``, or ``value`` in seconds (the one duration parser)."""
    return None if value is None else seconds(value, what)


class Kind:
    """A kind's configuration, its limiter, its meter and its count of records.

    ``idle_timeout`` and ``ttl`` are seconds or ``None`` (already defaulted
    to the manager's). ``registered`` is false for a kind made by an
    acquire without ``register_factory``.
    """

    __slots__ = (
        "cleanup",
        "count",
        "factory",
        "idle_timeout",
        "limiter",
        "meter",
        "name",
        "registered",
        "timed",
        "ttl",
    )

    def __init__(
        self,
        name: str,
        sink: MetricsSink | None,
        *,
        factory: Factory | None = None,
        cleanup: Cleanup | None = None,
        limit: int | None = None,
        idle_timeout: float | None = None,
        ttl: float | None = None,
        registered: bool = False,
    ) -> None:
        self.name = name
        self.factory = factory
        self.cleanup = cleanup
        self.limiter = None if limit is None else anyio.CapacityLimiter(limit)
        self.idle_timeout = idle_timeout
        self.ttl = ttl
        self.registered = registered
        # Whether its active records carry a ttl in the store.
        self.timed = idle_timeout is not None or ttl is not None
        self.meter = Meter(sink, "resource", kind=name)
        self.count = 0  # resources of this kind with a record (any status)

    @property
    def waiting(self) -> int:
        """Acquires waiting for the kind's limit now."""
        return 0 if self.limiter is None else self.limiter.statistics().tasks_waiting

    def __repr__(self) -> str:
        return f"<Kind {self.name!r} {self.count} held>"


def registered_kind(
    name: str,
    factory: Factory | None,
    cleanup: Cleanup | None,
    limit: int | None,
    idle_timeout: float | timedelta | None,
    ttl: float | timedelta | None,
    *,
    defaults: tuple[float | None, float | None],
    sink: MetricsSink | None,
) -> Kind:
    """The :class:`Kind` ``register_factory`` asks for, its input checked.

    ``defaults`` are the manager's ``(idle_timeout, ttl)`` in seconds.

    Raises:
        ValueError: ``name`` is not a non-empty str without ``:``; a bad limit.
        TypeError: a factory or cleanup that is not callable.
        InvalidDuration: a bad ``idle_timeout`` or ``ttl``.
    """
    if not isinstance(name, str) or not name or ":" in name:
        raise ValueError(
            f"a kind is the part of ids before the first ':', a non-empty str without"
            f" ':'; got {name!r}"
        )
    if factory is not None and not callable(factory):
        raise TypeError(f"kind {name!r}: factory must be callable or None, got {factory!r}")
    if cleanup is not None and not callable(cleanup):
        raise TypeError(f"kind {name!r}: cleanup must be callable or None, got {cleanup!r}")
    if limit is not None and (type(limit) is not int or limit < 1):
        raise ValueError(f"kind {name!r}: limit must be an int >= 1 or None, got {limit!r}")
    idle = duration(idle_timeout, f"kind {name!r}: idle_timeout")
    lifetime = duration(ttl, f"kind {name!r}: ttl")
    return Kind(
        name,
        sink,
        factory=factory,
        cleanup=cleanup,
        limit=limit,
        idle_timeout=defaults[0] if idle is None else idle,
        ttl=defaults[1] if lifetime is None else lifetime,
        registered=True,
    )
