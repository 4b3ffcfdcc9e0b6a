"""ProviderMonitor: the metrics sink of a ProviderManager, and R084's ``record_operation``."""

from __future__ import annotations

from ..sinks.metrics import MetricsRegistry, MetricsSink
from ..sinks.metrics._meter import PROVIDER_DURATION, PROVIDER_OPERATIONS
from ._types import ProviderType

__all__ = ["ProviderMonitor"]


class ProviderMonitor:
    """Where a :class:`~pepperflow.ProviderManager`'s operations are measured.

    Given to ``ProviderManager(monitor=...)``, its :attr:`metrics` sink
    receives every register, unregister (also those of cleanup and close),
    reload and ping in pepperflow's one metrics vocabulary: the counter
    ``pepperflow_operations`` and the histogram
    ``pepperflow_operation_seconds``, labels ``component="provider"``,
    ``operation``, ``outcome`` (``"ok"`` or the error's class name),
    ``provider`` (the name) and ``type``.

    :meth:`record_operation` is R084's call, kept as a thin alias in R084's
    own series: ``provider_operations`` and ``provider_duration``.

    Args:
        metrics: where the metrics go; a new :class:`~pepperflow.MetricsRegistry`
            by default (read it back from :attr:`metrics`).
    """

    def __init__(self, metrics: MetricsSink | None = None) -> None:
        self.metrics: MetricsSink = MetricsRegistry() if metrics is None else metrics

    async def record_operation(
        self,
        operation: str,
        provider_type: str | ProviderType,
        success: bool = True,
        duration: float = 0.0,
        **labels: str,
    ) -> None:
        """Record one ``operation`` on a provider of ``provider_type`` in R084's series.

        Adds 1 to the counter ``provider_operations`` (labels ``operation``,
        ``type``, ``success`` as ``"true"``/``"false"``, and ``labels``);
        a success also observes ``duration`` in the histogram
        ``provider_duration`` (the same labels but ``success``).

        Raises:
            TypeError: a label value that is not a str, or a non-number duration.
            ValueError: a negative duration.
        """
        kind = provider_type.value if isinstance(provider_type, ProviderType) else provider_type
        if not isinstance(operation, str) or not isinstance(kind, str):
            raise TypeError(
                f"operation and provider_type must be str, got {operation!r} and {provider_type!r}"
            )
        if isinstance(duration, bool) or not isinstance(duration, int | float):
            raise TypeError(f"duration must be a number of seconds, got {duration!r}")
        if not duration >= 0:
            raise ValueError(f"duration must be seconds >= 0, got {duration!r}")
        self.metrics.counter(
            PROVIDER_OPERATIONS,
            1,
            operation=operation,
            type=kind,
            success="true" if success else "false",
            **labels,
        )
        if success:
            self.metrics.histogram(
                PROVIDER_DURATION, duration, operation=operation, type=kind, **labels
            )

    def __repr__(self) -> str:
        return f"<ProviderMonitor {self.metrics!r}>"
