"""The target side of a sink: batches applied with their mark, retried while the target is down.

:meth:`Applier.apply` commits one batch of source changes into the target
with ``target.apply_changes(batch, mark=...)`` (one atomic commit: see
:mod:`pepperflow.stores._apply`). When the target is unreachable (a
:class:`~pepperflow.StoreUnavailable`, an ``OSError``, SQLite's
``OperationalError``) the batch is retried with exponential backoff from
``retry_min`` to ``retry_max`` seconds, for as long as it takes, each
failure logged as a WARNING on ``"pepperflow.sinks"``. A write whose reply
was lost may have been applied: before each retry the applier reads the
target's mark, and a mark at or past the batch means it was (so no batch is
applied twice). A mark behind what this applier applied means the target
lost data (a Redis server restarted without persistence, a file replaced):
:class:`TargetLost` tells the sink to resync. Any other error (the target
refusing a value of another type, or access) is not retried: it fails the
sink.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio

from .._errors import StoreAccessDenied
from ..stores._apply import Mark
from ..stores.base import Store
from ..stores.sqlite import SqliteStore
from ..streams.events import Change
from .log import SINKS_LOGGER

__all__ = ["TRANSIENT", "Applier", "TargetLost", "source_id"]

logger = logging.getLogger(SINKS_LOGGER)

R = TypeVar("R")

#: What a down target raises (StoreUnavailable is a ConnectionError, an OSError).
TRANSIENT: tuple[type[Exception], ...] = (OSError, sqlite3.OperationalError)


def source_id(source: Store[Any]) -> str:
    """What a mark records of its source, so a sink resumes only from its own source."""
    if isinstance(source, SqliteStore):
        return f"sqlite:{os.path.abspath(source.path)}#{source.name}"
    return f"{source.backend}:{source.name}"


class TargetLost(Exception):
    """The target's mark went back: it lost changes this sink had applied."""


class Applier:
    """Applies batches of ``source``'s changes into ``target`` under the mark ``name``.

    A batch holds one change per key. ``fields`` are the log records'
    ``extra=`` fields naming the sink. ``applied_seq`` is the source seq the
    target holds up to, as far as this applier knows; the counters feed the
    sink's statistics.

    The changes come from the source's feed or history: their keys, values
    and metadata are the source's checked copies. When both stores have the
    same value and metadata types, the target would admit each value as it
    is, so the applier commits through the target's ``_apply`` and skips
    ``apply_changes``'s edge (input is checked once, where it entered the
    source); otherwise ``apply_changes`` checks every value against the
    target's types.
    """

    def __init__(
        self,
        source: Store[Any],
        target: Store[Any],
        name: str,
        retry: tuple[float, float],
        fields: dict[str, Any],
    ) -> None:
        self.target = target
        self.name = name
        self.source = source_id(source)
        same = (source.codec.value_type, source.codec.metadata_type) == (
            target.codec.value_type,
            target.codec.metadata_type,
        )
        self._commit = target._apply if same else self._checked
        self._retry_min, self._retry_max = retry
        self.fields = fields
        self.applied_seq = -1  # none yet
        self.applied = self.batches = self.retries = 0
        self.down = False

    async def read_mark(self) -> Mark | None:
        """The target's mark of this sink (retried while the target is down);
        ``None`` when it has none or one of another source."""
        return await self.retrying(self._read_mark)

    async def _read_mark(self) -> Mark | None:
        mark = await self.target.mark(self.name)
        return mark if mark is not None and mark.source == self.source else None

    async def apply(self, changes: list[Change], upto: int | None) -> None:
        """Apply ``changes`` and the mark ``upto`` (a source seq; ``None``: no
        mark) into the target.

        Raises:
            TargetLost: the target's mark went behind what was applied.
            Exception: what the target raised, when it is not a down target's error.
        """
        mark = None if upto is None else Mark(self.name, upto, self.source)
        attempt = 0

        async def once() -> None:
            nonlocal attempt
            attempt += 1
            if attempt > 1 and upto is not None and await self._check_mark(upto):
                return  # applied by the attempt whose reply was lost
            await self._commit(changes, mark)

        await self.retrying(once, changes)
        if upto is not None:
            self.applied_seq = upto
        self.applied += len(changes)
        self.batches += 1

    async def _checked(self, changes: list[Change], mark: Mark | None) -> None:
        await self.target.apply_changes(changes, mark=mark)

    async def _check_mark(self, upto: int) -> bool:
        """Whether the batch up to ``upto`` is in the target (TargetLost if the
        target lost what was applied before it)."""
        found = await self._read_mark()
        seq = -1 if found is None else found.seq
        if seq >= upto:
            return True
        if seq < self.applied_seq:
            raise TargetLost(
                f"the target's mark {self.name!r} is at seq {seq}, behind the"
                f" {self.applied_seq} this sink applied: it lost data"
            )
        return False

    async def retrying(self, fn: Callable[[], Awaitable[R]], changes: Sequence[Change] = ()) -> R:
        """``await fn()``, retried with backoff while a store it uses is down
        (``changes``: the batch it applies, for the log)."""
        delay = self._retry_min
        attempt = 0
        while True:
            try:
                result = await fn()
            except StoreAccessDenied:
                raise
            except TRANSIENT as exc:
                attempt += 1
                self.retries += 1
                self.down = True
                self._log_retry(exc, attempt, delay, changes)
                await anyio.sleep(delay)
                delay = min(delay * 2, self._retry_max)
                continue
            self.down = False
            return result

    def _log_retry(
        self, exc: Exception, attempt: int, delay: float, changes: Sequence[Change]
    ) -> None:
        logger.warning(
            "sink %r: a store is unreachable (%s: %s); attempt %d, retrying in %.2f s",
            self.fields["sink"],
            type(exc).__name__,
            exc,
            attempt,
            delay,
            extra={
                **self.fields,
                "error": type(exc).__name__,
                "attempt": attempt,
                "retry_in": delay,
                "changes": len(changes),
                "first_seq": changes[0].seq if changes else None,
                "last_seq": changes[-1].seq if changes else None,
            },
        )
