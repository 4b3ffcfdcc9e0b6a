"""ResourceMetrics: the figures of resource managers, derived from their record transitions."""

from __future__ import annotations

from ..sinks.metrics import MetricsSink
from ..sinks.metrics._meter import (
    ACTIVE_RESOURCES,
    CLEANUP_RUNS,
    RESOURCE_ERRORS,
    RESOURCES_ACQUIRED,
    RESOURCES_RELEASED,
)
from ._types import ResourceStatus

__all__ = ["ResourceMetrics"]

_ACTIVE = ResourceStatus.ACTIVE


class ResourceMetrics:
    """Counts of what :class:`~pepperflow.DefaultResourceManager` instances did.

    A manager creates its own unless one is passed in; pass the same one to
    several managers to add their figures up. The figures follow the
    records: a manager hands every transition of a record it writes to
    :meth:`observe` (``None`` -> ``active`` is an acquire, ``active`` ->
    ``releasing``, ``failed`` or deleted is a release, with the errors of
    that step). Only cleanup runs and waits for a limit, which are not
    record changes, are counted by :meth:`on_cleanup_run` and
    :meth:`on_wait`.

    With a ``sink`` (a :class:`~pepperflow.MetricsRegistry` or an exporter),
    the figures also go there, labelled by kind: the counters
    ``pepperflow_resources_acquired``, ``pepperflow_resources_released``,
    ``pepperflow_resource_errors``, ``pepperflow_cleanup_runs`` and the gauge
    ``pepperflow_active_resources``.

    Attributes:
        active_resources: resources acquired and not yet released.
        acquired: resources created (acquiring an active id again is not counted).
        released: resources removed, by release, cleanup, sweep, expiry or close.
        cleaned: of those, removed by ``cleanup``, ``sweep``, expiry or close.
        resource_errors: factories and cleanups that raised.
        cleanup_runs: calls of ``cleanup`` and ``sweep`` (the periodic cleanup).
        waits: acquires that waited for their kind's limit.
    """

    __slots__ = (
        "_by_kind",
        "acquired",
        "active_resources",
        "cleaned",
        "cleanup_runs",
        "released",
        "resource_errors",
        "sink",
        "waits",
    )

    def __init__(self, sink: MetricsSink | None = None) -> None:
        self.sink = sink
        self.active_resources = 0
        self.acquired = 0
        self.released = 0
        self.cleaned = 0
        self.resource_errors = 0
        self.cleanup_runs = 0
        self.waits = 0
        self._by_kind: dict[str, int] = {}  # active resources per kind, for the gauge

    def snapshot(self) -> dict[str, int]:
        """The figures now, by attribute name."""
        return {
            "active_resources": self.active_resources,
            "acquired": self.acquired,
            "released": self.released,
            "cleaned": self.cleaned,
            "resource_errors": self.resource_errors,
            "cleanup_runs": self.cleanup_runs,
            "waits": self.waits,
        }

    def observe(
        self,
        kind: str,
        before: ResourceStatus | None,
        after: ResourceStatus | None,
        cleaned: bool = False,
        errors: int = 0,
    ) -> None:
        """Count one record transition of a resource of ``kind``.

        ``before``/``after`` are its statuses (``None``: no record). A
        release counts as ``cleaned`` when ``cleanup``, ``sweep``, an expiry
        or closing the manager removed it; ``errors`` are the factory or
        cleanup errors of the step.
        """
        # One straight function: it runs twice per acquire+release.
        step = 0
        if after is _ACTIVE:
            if before is not _ACTIVE:
                step = 1
                self.acquired += 1
        elif before is _ACTIVE:
            step = -1
            self.released += 1
            self.cleaned += cleaned
        if step:
            self.active_resources += step
            by_kind = self._by_kind
            active = by_kind.get(kind, 0) + step
            if active > 0:
                by_kind[kind] = active
            else:
                del by_kind[kind]
            if self.sink is not None:
                self._send(kind, step, active)
        if errors:
            self.resource_errors += errors
            if self.sink is not None:
                self.sink.counter(RESOURCE_ERRORS, errors, kind=kind)

    def _send(self, kind: str, step: int, active: int) -> None:
        assert self.sink is not None
        self.sink.counter(RESOURCES_ACQUIRED if step > 0 else RESOURCES_RELEASED, 1, kind=kind)
        self.sink.gauge(ACTIVE_RESOURCES, active, kind=kind)

    # -- aliases: one figure at a time -------------------------------------------

    def on_acquired(self, kind: str, kind_active: int | None = None) -> None:
        """A resource of ``kind`` became active (``kind_active`` is not used: the
        gauge is this object's count of active resources of the kind)."""
        self.observe(kind, None, _ACTIVE)

    def on_released(self, kind: str, kind_active: int | None = None, cleaned: bool = False) -> None:
        """An active resource of ``kind`` was removed (``cleaned``: not by ``release``)."""
        self.observe(kind, _ACTIVE, None, cleaned=cleaned)

    def on_error(self, kind: str) -> None:
        """A factory or cleanup of ``kind`` raised."""
        self.observe(kind, None, None, errors=1)

    def on_cleanup_run(self) -> None:
        """``cleanup`` was called or ``sweep`` ran."""
        self.cleanup_runs += 1
        if self.sink is not None:
            self.sink.counter(CLEANUP_RUNS, 1)

    def on_wait(self, kind: str) -> None:
        """An acquire of ``kind`` waited for the kind's limit."""
        self.waits += 1

    def __repr__(self) -> str:
        return f"<ResourceMetrics {self.snapshot()}>"
