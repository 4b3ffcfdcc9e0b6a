"""Sinks: what consumes a store's change stream and its operation results.

A sink is started and stopped with the task group or the store that owns
it; there is no global singleton and no thread of its own. The sinks are
metrics (with Prometheus and OpenTelemetry exporters as optional extras),
write-behind and mirrors into another store, and structured logging.

This ``__init__`` imports nothing: the store layer imports
:mod:`pepperflow.sinks.metrics`, so a sink that uses stores imported here
would make an import cycle. Import each sink from its module.
"""
