"""ResourceMetrics: the figures of a resource manager, optionally sent to a metrics sink."""

from __future__ import annotations

from .._metrics import MetricsSink

__all__ = ["ResourceMetrics"]


class ResourceMetrics:
    """Counts of what a :class:`~pepperflow.DefaultResourceManager` did.

    A manager creates its own unless one is passed in; pass the same one to
    several managers to add their figures up. With a ``sink`` (a
    :class:`~pepperflow.MetricsRegistry` or an exporter), every change is
    also recorded there, labelled by kind: the counters
    ``pepperflow_resources_acquired``, ``pepperflow_resources_released``,
    ``pepperflow_resource_errors``, ``pepperflow_cleanup_runs`` and the gauge
    ``pepperflow_active_resources``.

    Attributes:
        active_resources: resources acquired and not yet released.
        acquired: resources created (acquiring an active id again is not counted).
        released: resources removed, by release, cleanup, sweep or close.
        cleaned: of those, removed by ``cleanup``, the periodic cleanup or close.
        resource_errors: factories and cleanups that raised.
        cleanup_runs: calls of ``cleanup`` and runs of the periodic cleanup.
        waits: acquires that waited for their kind's limit.
    """

    __slots__ = (
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

    # -- called by the manager -------------------------------------------------

    def on_acquired(self, kind: str, kind_active: int) -> None:
        self.acquired += 1
        self.active_resources += 1
        if self.sink is not None:
            self.sink.counter("pepperflow_resources_acquired", 1, kind=kind)
            self.sink.gauge("pepperflow_active_resources", kind_active, kind=kind)

    def on_released(self, kind: str, kind_active: int, cleaned: bool) -> None:
        self.released += 1
        self.active_resources -= 1
        if cleaned:
            self.cleaned += 1
        if self.sink is not None:
            self.sink.counter("pepperflow_resources_released", 1, kind=kind)
            self.sink.gauge("pepperflow_active_resources", kind_active, kind=kind)

    def on_error(self, kind: str) -> None:
        self.resource_errors += 1
        if self.sink is not None:
            self.sink.counter("pepperflow_resource_errors", 1, kind=kind)

    def on_cleanup_run(self) -> None:
        self.cleanup_runs += 1
        if self.sink is not None:
            self.sink.counter("pepperflow_cleanup_runs", 1)

    def on_wait(self, kind: str) -> None:
        self.waits += 1

    def __repr__(self) -> str:
        return f"<ResourceMetrics {self.snapshot()}>"
