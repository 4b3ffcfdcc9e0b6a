"""The log sink: changes and errors as structured records of the standard ``logging``.

::

    with log_changes(store, "order:", level=logging.INFO):
        await store.set("order:1", {"total": 12})

Each change of a key matching the pattern becomes one record on the logger
``"pepperflow.changes"`` (or the one you name), at ``level``, with the
message ``store 'app': set 'order:1' (version 1, seq 7)`` and the change's
fields as ``extra=`` (:mod:`pepperflow._log_fields`: ``store``, ``key``,
``seq``, ``kind``, ``version``, ``committed_at``, ``expires_at``; with
``values=True`` also ``value`` and ``metadata``), so a handler or a JSON
formatter reads them as attributes of the record. The records are made in
the writer's task, in commit order, before the write returns (the sink is a
subscription: no task, no buffer); a logger that does not log ``level``
costs one check per change.

Errors are records too, never printed:

- a store's failing change callback: on ``"pepperflow"`` at ERROR, with
  the change's fields and the traceback;
- the write-behind and mirror sinks (:mod:`pepperflow.sinks.mirror`): on
  ``"pepperflow.sinks"``, a WARNING for each retry while the target is
  down and an ERROR when the sink fails, with the fields :data:`SINK_FIELDS`.
"""

from __future__ import annotations

import logging
from typing import Any

from .._log_fields import change_fields
from ..stores import Store, Subscription
from ..streams.events import Change

__all__ = ["CHANGES_LOGGER", "SINKS_LOGGER", "SINK_FIELDS", "log_changes"]

#: The logger of :func:`log_changes` unless another is named.
CHANGES_LOGGER = "pepperflow.changes"
#: The logger of the write-behind and mirror sinks' events.
SINKS_LOGGER = "pepperflow.sinks"
#: The ``extra=`` fields of a sink's record: its name, the source and target
#: stores' names, then for a failed batch the error (its class name), the
#: attempt, the seconds until the next (``retry_in``; ``None`` when the sink
#: gives up), and the batch: ``changes``, ``first_seq``, ``last_seq``.
SINK_FIELDS = (
    "sink",
    "source",
    "target",
    "error",
    "attempt",
    "retry_in",
    "changes",
    "first_seq",
    "last_seq",
)


def log_changes(
    store: Store[Any],
    pattern: str | None = None,
    *,
    logger: str | logging.Logger = CHANGES_LOGGER,
    level: int = logging.INFO,
    values: bool = False,
) -> Subscription:
    """Log every change of ``store`` to a key matching ``pattern``; see the module docstring.

    Returns the :class:`~pepperflow.stores.Subscription`: call its
    ``unsubscribe()`` or use it as a context manager; it ends when the store
    closes.

    Raises:
        TypeError: ``logger`` is not a name or a ``logging.Logger``, or
            ``level`` not an int.
    """
    if isinstance(logger, str):
        logger = logging.getLogger(logger)
    elif not isinstance(logger, logging.Logger):
        raise TypeError(f"logger must be a logger's name or a logging.Logger, got {logger!r}")
    if type(level) is not int:
        raise TypeError(f"level must be a logging level (an int, e.g. logging.INFO), got {level!r}")
    return store.subscribe(pattern, _ChangeRecords(logger, level, values))


class _ChangeRecords:
    """The callback of :func:`log_changes`: one record per change."""

    __slots__ = ("_level", "_logger", "_values")

    def __init__(self, logger: logging.Logger, level: int, values: bool) -> None:
        self._logger = logger
        self._level = level
        self._values = values

    def __call__(self, change: Change) -> None:
        logger = self._logger
        if not logger.isEnabledFor(self._level):
            return
        fields = change_fields(change, values=self._values)
        logger.log(
            self._level,
            "store %r: %s %r (version %d, seq %d)",
            change.store,
            fields["kind"],
            change.key,
            change.version,
            change.seq,
            extra=fields,
        )
