"""The core of the write-behind and the mirror: a source's changes, batched into a target.

A :class:`Replication` runs from ``async with`` (or ``await
sink.__aenter__()``) to :meth:`Replication.aclose`, in a task group of its
own (no thread):

1. entering it opens a feed of the source (``source.changes(pattern, ...)``:
   from then on no change of a matching key is missed), after a
   write-behind loaded the target into its empty source
   (:meth:`Replication._prepare`);
2. its task catches the target up (:mod:`._catch_up`: the changes after the
   target's mark, or a resync), then follows the feed: it takes the changes
   the feed holds, keeps the last change of each key, and applies a batch
   (:mod:`._applier`: one atomic commit with the mark, retried while the
   target is down) when ``max_batch`` keys are pending or ``max_delay``
   seconds after the first pending change arrived, whichever comes first;
3. :meth:`Replication.flush` applies what was received so far, now;
   :meth:`Replication.aclose` ends the feed, applies everything it still
   holds, and returns once it is in the target.

While a batch is being applied (or retried), changes wait in the feed's
buffer (``buffer`` changes); a full buffer applies the feed's ``overflow``
policy (:mod:`pepperflow.stores.feed`): ``"block"`` makes writers wait,
``"latest_per_key"`` keeps the newest change of each key (nothing of the
final state is lost; writers wait at ``buffer`` distinct keys),
``"drop_oldest"`` drops changes (the target misses them until their key
changes again; counted in ``statistics().dropped``), ``"error"`` fails
the sink with :class:`~pepperflow.FeedOverflow`.

A sink fails on an error it does not retry (the target refusing a value,
an overflow with ``"error"``): it stops, the error is logged at ERROR on
``"pepperflow.sinks"``, its feed is closed (writers never wait for it), and
:meth:`Replication.flush` and :meth:`Replication.aclose` raise it.
"""

from __future__ import annotations

import logging
from typing import Any, Self

import anyio
import anyio.abc
import msgspec

from .._durations import seconds
from .._lifecycle import TaskRunner
from ..stores.base import Store
from ..stores.feed import Overflow
from ..streams.events import Change
from ._applier import Applier, TargetLost
from ._catch_up import CatchUp, log_lost
from .log import SINKS_LOGGER

__all__ = ["Replication", "SinkStatistics"]

logger = logging.getLogger(SINKS_LOGGER)


class SinkStatistics(msgspec.Struct, frozen=True):
    """A write-behind's or a mirror's figures at one moment (``sink.statistics()``).

    ``applied_seq`` is the source seq the target holds up to (-1: not
    caught up yet); ``received`` counts the changes taken from the feed,
    ``applied`` those written into the target (a key's changes within one
    batch are written once), ``pending`` those waiting for the next batch
    and ``buffered`` those still in the feed; ``dropped`` and ``conflated``
    are the feed's (overflow policies).
    """

    name: str
    source: str
    target: str
    applied_seq: int
    received: int
    applied: int
    batches: int
    retries: int
    resyncs: int
    pending: int
    buffered: int
    dropped: int
    conflated: int
    retrying: bool
    running: bool
    error: str | None


class Replication(anyio.abc.AsyncResource):
    """Copies the changes of ``source``'s keys matching ``pattern`` into ``target``.

    See the module docstring; :class:`~pepperflow.sinks.mirror.Mirror` and
    :class:`~pepperflow.sinks.write_behind.WriteBehind` are its two uses
    (their docstrings name the options).

    Raises:
        TypeError: ``source`` or ``target`` is not a store.
        ValueError: ``source`` is ``target``; ``max_batch`` is not an int
            >= 1; ``name`` is not a non-empty str; a bad pattern, buffer or
            overflow (the feed's errors).
        InvalidDuration: a bad ``max_delay``, ``retry_min`` or ``retry_max``.
    """

    #: How the default mark name and the repr call this sink.
    kind = "replication"

    def __init__(
        self,
        source: Store[Any],
        target: Store[Any],
        pattern: str | None = None,
        *,
        name: str | None = None,
        max_batch: int = 1000,
        max_delay: float = 0.1,
        buffer: int = 10_000,
        overflow: Overflow = "block",
        retry_min: float = 0.05,
        retry_max: float = 5.0,
    ) -> None:
        if not isinstance(source, Store) or not isinstance(target, Store):
            raise TypeError(
                f"a {self.kind} copies one store into another: source and target must be"
                f" stores, got {source!r} and {target!r}"
            )
        if source is target:
            raise ValueError(f"a {self.kind} into its own source would copy every change forever")
        if type(max_batch) is not int or max_batch < 1:
            raise ValueError(f"max_batch must be an int >= 1 (keys per batch), got {max_batch!r}")
        self._max_delay = seconds(max_delay, "max_delay")
        retry = (seconds(retry_min, "retry_min"), seconds(retry_max, "retry_max"))
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"name must be a non-empty str (the target's mark), got {name!r}")
        self._source, self._target = source, target
        self._pattern = pattern
        self._max_batch = max_batch
        # Checks pattern, buffer and overflow; subscribes when entered.
        self._feed = source.changes(pattern, buffer=buffer, overflow=overflow)
        self._match = self._feed.pattern.match
        #: The mark's name in the target.
        self.name = name or f"{self.kind}:{source.name}:{self._feed.pattern.source}"
        fields = {"sink": self.name, "source": source.name, "target": target.name}
        self._fields = fields
        self._applier = Applier(source, target, self.name, retry, fields)
        self._catch_up = CatchUp(source, self._applier, self._match, max_batch)
        self._tasks = TaskRunner(repr(self))
        self._pending: dict[str, Change] = {}
        self._upto = -1  # the seq of the newest pending change
        self._skip = -1  # live changes at or below this seq are in the target already
        self._first_at: float | None = None  # when the oldest pending change arrived
        self._waiting: anyio.CancelScope | None = None  # the wait for the feed
        self._flushes: list[tuple[int, anyio.Event]] = []  # (received wanted, done)
        self._state = "new"  # new -> running -> stopped (the task ended) / closed
        self._error: BaseException | None = None
        self._received = 0
        self._in_flight = 0  # the changes of the batch being applied

    # -- lifecycle -----------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._state != "new":
            raise RuntimeError(f"{self!r} was already started; make a new one")
        self._state = "running"
        try:
            await self._prepare()
            await self._feed.__aenter__()
            await self._tasks.open()
        except BaseException:
            self._state = "closed"
            self._feed.close()
            raise
        self._tasks.start_soon(self._run, name=repr(self))
        return self

    async def _prepare(self) -> None:
        """Before the feed opens: nothing here (a write-behind loads its source)."""

    async def aclose(self) -> None:
        """End the feed, apply every change it holds, and stop (idempotent).

        After it returns, every change of a write that returned before it was
        called is in the target. Cancelled, it stops at once (what was not
        applied yet is logged).

        Raises:
            Exception: the error the sink failed with.
        """
        if self._state in ("new", "closed"):
            self._state = "closed"
            return
        self._feed.close()  # the task takes what the feed holds, then sees its end
        self._wake()
        try:
            await self._tasks.aclose(cancel=False)
        finally:
            self._state = "closed"
        self._raise_error()

    async def flush(self) -> None:
        """Apply every change received so far now; return once it is in the target.

        Raises:
            RuntimeError: the sink is not running.
            Exception: the error the sink failed with.
        """
        self._raise_error()
        if self._state != "running":
            raise RuntimeError(f"{self!r} is not running; use it with `async with`")
        stats = self._feed.statistics()
        done = anyio.Event()
        self._flushes.append((self._received + stats.buffered + stats.replay_pending, done))
        self._wake()
        await done.wait()
        self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _wake(self) -> None:
        if self._waiting is not None:
            self._waiting.cancel()

    def statistics(self) -> SinkStatistics:
        """The sink's figures now (see :class:`SinkStatistics`)."""
        feed = self._feed.statistics()
        applier = self._applier
        return SinkStatistics(
            name=self.name,
            source=self._source.name,
            target=self._target.name,
            applied_seq=applier.applied_seq,
            received=self._received,
            applied=applier.applied,
            batches=applier.batches,
            retries=applier.retries,
            resyncs=self._catch_up.resyncs,
            pending=len(self._pending),
            buffered=feed.buffered + feed.replay_pending,
            dropped=feed.dropped,
            conflated=feed.conflated,
            retrying=applier.down,
            running=self._state == "running",
            error=None if self._error is None else repr(self._error),
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}: {self._source!r} -> {self._target!r}>"

    # -- the task ------------------------------------------------------------

    async def _run(self) -> None:
        try:
            self._skip = await self._catch_up.run()
            await self._follow()
        except anyio.get_cancelled_exc_class():
            self._log_unapplied()
            raise
        except Exception as exc:
            self._error = exc
            self._log_failure(exc)
        finally:
            if self._state == "running":
                self._state = "stopped"
            self._feed.close()  # no writer waits for a sink that stopped
            for _, done in self._flushes:
                done.set()
            self._flushes.clear()

    async def _resync(self) -> None:
        """Resync the target (it lost data); drop what the resync covered."""
        seq = self._skip = await self._catch_up.resync()
        self._pending = {key: c for key, c in self._pending.items() if c.seq > seq}

    async def _follow(self) -> None:
        """Batches of the feed's changes until the feed ends."""
        feed, size = self._feed, self._max_batch
        while True:
            changes = feed.take(size - len(self._pending))
            if not changes:
                try:
                    change = await self._next()
                except StopAsyncIteration:
                    await self._apply_pending()
                    return
                changes = [] if change is None else [change]
            self._add(changes)
            if len(self._pending) >= size or self._due() or self._flush_wanted():
                await self._apply_pending()

    async def _next(self) -> Change | None:
        """The feed's next change; ``None`` when the batch is due or a flush wakes it."""
        with anyio.CancelScope() as scope:
            if self._first_at is not None:
                scope.deadline = self._first_at + self._max_delay
            if self._flush_wanted():
                scope.cancel()
            self._waiting = scope
            try:
                return await anext(self._feed)
            finally:
                self._waiting = None
        return None

    def _add(self, changes: list[Change]) -> None:
        pending, skip = self._pending, self._skip
        for change in changes:
            if change.seq > skip:
                pending[change.key] = change
        if changes and changes[-1].seq > skip:  # (a feed's changes come in seq order)
            self._upto = changes[-1].seq
        self._received += len(changes)
        if pending and self._first_at is None:
            self._first_at = anyio.current_time()

    def _due(self) -> bool:
        first = self._first_at
        return first is not None and anyio.current_time() >= first + self._max_delay

    def _flush_wanted(self) -> bool:
        received = self._received
        return any(wanted <= received for wanted, _ in self._flushes)

    async def _apply_pending(self) -> None:
        """Apply the pending batch (if any), then release the flushes it covers."""
        received = self._received
        if self._pending:
            batch, upto = list(self._pending.values()), self._upto
            self._pending, self._first_at = {}, None
            self._in_flight = len(batch)
            try:
                await self._applier.apply(batch, upto)
            except TargetLost as lost:
                log_lost(self._applier, lost)
                await self._resync()
            self._in_flight = 0
        waiting = []
        for wanted, done in self._flushes:
            if wanted <= received:
                done.set()
            else:
                waiting.append((wanted, done))
        self._flushes = waiting

    # -- logs ----------------------------------------------------------------

    def _unapplied(self) -> int:
        """The changes received or waiting in the feed that are not in the target."""
        return self._in_flight + len(self._pending) + self._feed.statistics().buffered

    def _log_failure(self, exc: Exception) -> None:
        left = self._unapplied()
        logger.error(
            "sink %r failed and stopped: %s: %s (%d changes not applied)",
            self.name,
            type(exc).__name__,
            exc,
            left,
            exc_info=exc,
            extra={**self._fields, "error": type(exc).__name__, "changes": left},
        )

    def _log_unapplied(self) -> None:
        left = self._unapplied()
        if left:
            logger.error(
                "sink %r was cancelled with %d changes not applied to %r",
                self.name,
                left,
                self._target.name,
                extra={**self._fields, "changes": left},
            )
