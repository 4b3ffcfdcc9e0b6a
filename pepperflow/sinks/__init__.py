"""Sinks: what consumes a store's change stream and its operation results.

A sink is started and stopped with the task group or the store that owns
it; there is no global singleton and no thread of its own. The sinks are
metrics (with Prometheus and OpenTelemetry exporters as optional extras),
write-behind and mirrors into another store, and structured logging.

- :class:`WriteBehind` (:mod:`.write_behind`): a fast store in front of a
  durable one, written to it in batches, with a stated guarantee;
- :class:`Mirror` (:mod:`.mirror`): a live one-way copy of a pattern of one
  store into another, resuming where it stopped;
- :func:`log_changes` (:mod:`.log`): changes as structured ``logging`` records.
"""

from ._replication import SinkStatistics as SinkStatistics
from .log import log_changes as log_changes
from .mirror import Mirror as Mirror
from .write_behind import WriteBehind as WriteBehind

__all__ = ["Mirror", "SinkStatistics", "WriteBehind", "log_changes"]
