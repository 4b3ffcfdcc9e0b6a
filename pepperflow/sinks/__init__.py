"""Sinks: what consumes a store's change stream and its operation results.

A sink is started and stopped with the task group or the store that owns
it; there is no global singleton and no thread of its own. The sinks are:

- :mod:`.metrics`: the registry every store, manager and monitor reports
  into, with Prometheus and OpenTelemetry exporters as optional extras;
- :class:`WriteBehind` (:mod:`.write_behind`): a fast store in front of a
  durable one, written to it in batches, with a stated guarantee;
- :class:`Mirror` (:mod:`.mirror`): a live one-way copy of a pattern of one
  store into another, resuming where it stopped;
- :func:`log_changes` (:mod:`.log`): changes as structured ``logging`` records.

The store layer imports :mod:`pepperflow.sinks.metrics`, and the sinks
above use stores, so this package imports them when first asked for
(``from pepperflow.sinks import WriteBehind`` works), never at import.
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from ._replication import SinkStatistics as SinkStatistics
    from .log import log_changes as log_changes
    from .mirror import Mirror as Mirror
    from .write_behind import WriteBehind as WriteBehind

__all__ = ["Mirror", "SinkStatistics", "WriteBehind", "log_changes"]

#: Each public name and the module that defines it.
_HOMES = {
    "Mirror": ".mirror",
    "SinkStatistics": "._replication",
    "WriteBehind": ".write_behind",
    "log_changes": ".log",
}


def __getattr__(name: str) -> typing.Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home, __name__), name)
    globals()[name] = value
    return value
