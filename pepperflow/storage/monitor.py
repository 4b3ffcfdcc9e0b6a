"""R065's StorageMonitor: storage operations and sizes, on ``pepperflow.sinks`` metrics.

::

    monitor = StorageMonitor(metrics=registry)
    async with anyio.create_task_group() as tg:
        await tg.start(monitor.follow, provider)  # until the provider's store closes
        ...
    await monitor.record_operation("artifact", "save", True)  # R065's calls, as they are
    await monitor.record_size("artifact", 1000)

As a sink on a provider's change stream (:meth:`StorageMonitor.follow`, a
watch of every item: the current items first, then each change, from every
process on SQLite and Redis) it keeps, per content type:

* ``storage_items`` (gauge): the live items;
* ``storage_size`` (gauge): the bytes of their data, as msgpack;
* ``storage_changes`` (counter, label ``change``: ``added``, ``updated``,
  ``removed``): the changes followed (the current items count as added).

R065's own calls record into the same vocabulary
(:mod:`pepperflow.sinks.metrics._meter`): :meth:`~StorageMonitor.record_operation`
counts ``storage_operations`` (labels ``content_type``, ``operation``,
``success`` as ``"true"``/``"false"``), :meth:`~StorageMonitor.record_size`
sets ``storage_size``. A provider's own operations, with their outcomes, are
``pepperflow_operations{component="storage"}`` when it is given ``metrics=``.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.abc
import msgspec

from ..sinks.metrics import MetricsRegistry, MetricsSink
from ..sinks.metrics._meter import (
    STORAGE_CHANGES,
    STORAGE_ITEMS,
    STORAGE_OPERATIONS,
    STORAGE_SIZE,
    checked_sink,
)
from ._types import StorageEvent, StorageQuery
from .provider import StorageProvider

__all__ = ["StorageMonitor"]

_encode = msgspec.msgpack.Encoder().encode


class StorageMonitor:
    """Where storage operations and sizes are measured; see the module docstring.

    Args:
        metrics: where the metrics go; a new :class:`~pepperflow.MetricsRegistry`
            by default (read it back from :attr:`metrics`).
    """

    def __init__(self, metrics: MetricsSink | None = None) -> None:
        checked = checked_sink(metrics)
        self.metrics: MetricsSink = MetricsRegistry() if checked is None else checked

    async def record_operation(
        self, content_type: str, operation: str, success: bool = True, **labels: str
    ) -> None:
        """Count one ``operation`` on items of ``content_type`` (R065's call).

        Raises:
            TypeError: ``content_type``, ``operation`` or a label is not a str,
                or ``success`` is not a bool.
        """
        _check_str(content_type=content_type, operation=operation, **labels)
        if type(success) is not bool:
            raise TypeError(f"success must be a bool, got {success!r}")
        self.metrics.counter(
            STORAGE_OPERATIONS,
            1,
            content_type=content_type,
            operation=operation,
            success="true" if success else "false",
            **labels,
        )

    async def record_size(self, content_type: str, size: int, **labels: str) -> None:
        """Set the size (bytes) of the items of ``content_type`` (R065's call).

        Raises:
            TypeError: ``content_type`` or a label is not a str, or ``size`` not an int.
            ValueError: ``size`` is negative.
        """
        _check_str(content_type=content_type, **labels)
        if type(size) is not int:
            raise TypeError(f"size must be an int of bytes, got {size!r}")
        if size < 0:
            raise ValueError(f"size must be bytes >= 0, got {size}")
        self.metrics.gauge(STORAGE_SIZE, size, content_type=content_type, **labels)

    async def follow(
        self,
        provider: StorageProvider[Any],
        *,
        task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Follow every item of ``provider`` until its store closes, keeping the
        gauges and the counter of the module docstring. With ``await
        task_group.start(monitor.follow, provider)``, it has taken the current
        items (and follows every later change) when ``start`` returns."""
        live: dict[str, tuple[str, int]] = {}  # key -> content type, bytes
        totals: dict[str, list[int]] = {}  # content type -> [items, bytes]
        async with provider.watch(StorageQuery()) as events:
            task_status.started()
            async for event in events:
                for content_type in self._follow_one(event, live, totals):
                    items, size = totals[content_type]
                    self.metrics.gauge(STORAGE_ITEMS, items, content_type=content_type)
                    self.metrics.gauge(STORAGE_SIZE, size, content_type=content_type)

    def _follow_one(
        self,
        event: StorageEvent[Any],
        live: dict[str, tuple[str, int]],
        totals: dict[str, list[int]],
    ) -> set[str]:
        """Take one event into ``live`` and ``totals``; the content types it changed."""
        content_type = event.item.metadata.content_type
        self.metrics.counter(STORAGE_CHANGES, 1, content_type=content_type, change=event.kind)
        changed = {content_type}
        old = live.pop(event.key, None)
        if old is not None:
            changed.add(old[0])
            total = totals[old[0]]
            total[0] -= 1
            total[1] -= old[1]
        if event.kind != "removed":
            size = len(_encode(event.item.data))
            live[event.key] = (content_type, size)
            total = totals.setdefault(content_type, [0, 0])
            total[0] += 1
            total[1] += size
        return changed

    def __repr__(self) -> str:
        return f"<StorageMonitor {self.metrics!r}>"


def _check_str(**values: object) -> None:
    for name, value in values.items():
        if not isinstance(value, str):
            raise TypeError(f"{name} must be a str, got {type(value).__name__}: {value!r}")
