"""A wall clock the test moves by hand, for stores and managers that take ``clock=``."""

from __future__ import annotations

from datetime import UTC, datetime


class Clock:
    """Seconds since the epoch; the test sets or advances :attr:`now`."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def at(seconds: float) -> datetime:
    """``seconds`` since the epoch as an aware datetime (UTC), as the façades give times."""
    return datetime.fromtimestamp(seconds, UTC)
