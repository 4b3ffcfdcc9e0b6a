"""SqliteStore's constructor options, checked once, when the store is made.

:func:`check_options` turns what the caller passed (to ``SqliteStore(...)``
or in a ``sqlite://`` URL, which ``open_store`` passes through) into
:class:`Options`, or raises an error naming the option, the value and what
it may be, before any file is touched. Durations go through the one parser,
:func:`pepperflow._durations.seconds`.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any, Literal

import msgspec

from ..._durations import seconds
from ..._errors import InvalidDuration

__all__ = [
    "MAX_BUSY_TIMEOUT",
    "MIN_POLL_INTERVAL",
    "SYNCHRONOUS",
    "Durability",
    "Options",
    "check_options",
]

Durability = Literal["normal", "full"]
#: SQLite's ``PRAGMA synchronous`` of each durability.
SYNCHRONOUS = {"normal": "NORMAL", "full": "FULL"}

#: The shortest poll for other processes' writes: each poll is a query on the
#: connection's thread, so a shorter one would keep a CPU busy.
MIN_POLL_INTERVAL = 0.001
#: The longest wait for another process's write lock: SQLite takes it as an
#: int of milliseconds (at most 2**31 - 1, about 24.8 days).
MAX_BUSY_TIMEOUT = 24 * 24 * 3600.0
#: The largest ``retain``: SQLite's integers have 64 bits.
MAX_RETAIN = 2**63 - 1


class Options(msgspec.Struct, frozen=True):
    """The checked options of one SqliteStore."""

    path: str
    durability: Durability
    busy_timeout: float
    poll_interval: float
    retain: int


def check_options(
    path: object, durability: object, busy_timeout: object, poll_interval: object, retain: object
) -> Options:
    """The options as :class:`Options`, or the error that says which one is wrong and why.

    Raises:
        TypeError: ``path`` is not a str or ``os.PathLike``.
        ValueError: ``path`` names no file, or ``durability`` or ``retain`` is
            not one it may be.
        InvalidDuration: ``busy_timeout`` or ``poll_interval`` is not a
            duration it may be (a ``ValueError`` and a ``TypeError``).
    """
    return Options(
        path=_path(path),
        durability=_durability(durability),
        busy_timeout=_busy_timeout(busy_timeout),
        poll_interval=_poll_interval(poll_interval),
        retain=_retain(retain),
    )


def _path(path: object) -> str:
    try:
        name: Any = os.fspath(path)  # type: ignore[call-overload]
    except TypeError:
        raise TypeError(
            f"SqliteStore path must be a str or os.PathLike naming the database file,"
            f" got {type(path).__name__}: {path!r}"
        ) from None
    if not isinstance(name, str):
        raise TypeError(f"SqliteStore path must be a str path, not bytes, got {name!r}")
    if not name or name == ":memory:" or "\0" in name:
        raise ValueError(
            f"SqliteStore path must name a database file, e.g. 'state/app.db', got {name!r}"
            " (SqliteStore keeps its state in a file; for a store in memory use MemoryStore)"
        )
    return name


def _durability(durability: object) -> Durability:
    if durability not in SYNCHRONOUS:
        raise ValueError(f"SqliteStore durability must be 'normal' or 'full', got {durability!r}")
    return durability  # type: ignore[return-value]


def _busy_timeout(value: object) -> float:
    what = "SqliteStore busy_timeout (seconds a write waits for another process's lock)"
    if (type(value) in (int, float) or isinstance(value, timedelta)) and not value:
        return 0.0  # fail at once when another process holds the lock
    try:
        result = seconds(value, what)
    except InvalidDuration as error:
        raise InvalidDuration(f"{error}; 0 makes a write fail at once instead") from None
    if result > MAX_BUSY_TIMEOUT:
        raise InvalidDuration(
            f"{what} must be at most {MAX_BUSY_TIMEOUT:.0f} seconds (24 days: SQLite's"
            f" limit), got {value!r}"
        )
    return result


def _poll_interval(value: object) -> float:
    what = "SqliteStore poll_interval (seconds between checks for other processes' writes)"
    result = seconds(value, what)
    if result < MIN_POLL_INTERVAL:
        raise InvalidDuration(
            f"{what} must be at least {MIN_POLL_INTERVAL} (1 ms: each check is a query),"
            f" got {value!r}"
        )
    return result


def _retain(value: object) -> int:
    if type(value) is not int or not 0 <= value <= MAX_RETAIN:
        raise ValueError(
            "SqliteStore retain must be an int from 0 to 2**63 - 1 (changes kept whole in"
            f" the changelog; 0 turns automatic compaction off), got {value!r}"
        )
    return value
