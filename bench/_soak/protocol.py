"""What the soak's parent and its child processes say to each other.

The child first prints ``"ready"`` once its store is open and its
subscribers have their replay. The parent then writes one command a line on
the child's stdin (``go``, ``tick``, ``stop``, ``check``; see ``child.py``);
the child answers ``tick`` and ``stop`` with a :class:`Tick` and ``check``
with a :class:`Verdict`, one JSON line on its stdout (``go`` has no
answer). Everything else a child says goes to its stderr.
"""

from __future__ import annotations

import os
from typing import Literal

import msgspec

__all__ = [
    "Backend",
    "EXPECTED_ERRORS",
    "ChildConfig",
    "Loop",
    "SubscriberVerdict",
    "Tick",
    "Verdict",
    "rss_bytes",
]

Backend = Literal["sqlite", "redis"]
Loop = Literal["asyncio", "trio"]

#: The exception types a writer may meet on each backend while faults are
#: injected (a lost race, a lost connection, a file locked too long); any
#: other one is a finding.
EXPECTED_ERRORS: dict[Backend, frozenset[str]] = {
    "sqlite": frozenset({"VersionConflict", "OperationalError"}),
    "redis": frozenset({"VersionConflict", "StoreUnavailable"}),
}


class ChildConfig(msgspec.Struct, frozen=True):
    """One child process's part: its store and its load."""

    slot: str  # "A" or "B"
    backend: Backend
    loop: Loop
    target: str  # the SQLite file's path, or the Redis server's URL
    namespace: str
    seed: int
    keys: int = 500  # keys "k:0".. set, set_many and delete pick from
    ttl_keys: int = 100  # keys "t:0".. the ttl writer sets
    counters: int = 10  # keys "c:0".. the compare-and-set writer increments
    value_bytes: int = 200  # at most this many padding bytes per value


class Tick(msgspec.Struct, frozen=True):
    """A child's counters so far (since it started) and its memory now."""

    ops: dict[str, int]  # completed writes by kind
    errors: dict[str, int]  # failed writes by "kind:ExceptionType"
    slowest: float  # seconds of its slowest write since the last tick (one in flight: so far)
    received: int  # changes its subscribers received (replays included)
    seq: int  # the newest seq its store knows of (statistics().seq)
    delivered: int  # the seq its all-keys callback has received up to
    rss: int  # resident set size, bytes
    logged: dict[str, int]  # log records by "LEVEL logger"


class SubscriberVerdict(msgspec.Struct, frozen=True):
    """One subscriber's folded state against the store's snapshot."""

    name: str
    pattern: str
    received: int
    keys: int  # keys in its state
    expected_keys: int  # keys of the snapshot its pattern matches
    mismatched: int  # keys missing, extra or different
    out_of_order: int  # changes whose seq was not above the one before
    ended: str  # why it stopped early ("" while it runs)
    examples: list[str]  # a few of the mismatches, for the report

    @property
    def ok(self) -> bool:
        return self.mismatched == 0 and self.out_of_order == 0 and not self.ended


class Verdict(msgspec.Struct, frozen=True):
    """A child's check after the writers stopped and the store went quiet."""

    slot: str
    seq: int  # the snapshot's seq
    digest: str  # of the snapshot's entries (every child should agree)
    keys: int
    counters: int  # the sum of the compare-and-set counters' values
    settled: bool  # the store went quiet and every subscriber caught up in time
    waited: float  # seconds the check waited for that
    subscribers: list[SubscriberVerdict]
    tick: Tick


def rss_bytes(pid: int | None = None) -> int:
    """The resident set size of process ``pid`` (this one by default), in bytes; 0 if gone."""
    try:
        with open(f"/proc/{pid or 'self'}/statm") as statm:
            resident = int(statm.read().split()[1])
    except (OSError, ValueError, IndexError):
        return 0
    return resident * os.sysconf("SC_PAGE_SIZE")
