"""The one duration parser: seconds from a number or a ``timedelta``.

Every duration pepperflow takes (a store's ttl, a resource's idle timeout,
a cleanup interval, an operator's window) is a positive, finite number of
seconds or a :class:`~datetime.timedelta`, at most :data:`MAX_SECONDS`
(100 years), checked here once, at the edge. The bound is the same on every
backend, so a duration one store accepts is one every store can keep (a
Redis expiry is in milliseconds and SQLite's in a float).

Where a duration comes as text (the ``pepperflow`` command's ``--ttl``),
:func:`seconds_from_text` reads it: a number of seconds, or a number with
one unit (``500ms``, ``30s``, ``5m``, ``2h``, ``1d``), then checks it the
same way.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

from ._errors import InvalidDuration

__all__ = ["MAX_SECONDS", "seconds", "seconds_from_text"]

#: The longest duration pepperflow takes: 100 years, in seconds.
MAX_SECONDS = 100 * 365.25 * 24 * 3600


def seconds(value: object, what: str, *, error: type[InvalidDuration] = InvalidDuration) -> float:
    """``value`` in seconds, or ``error`` naming ``what`` and the fix.

    Accepts a positive ``int``/``float`` (not ``bool``) or ``timedelta`` of
    at most :data:`MAX_SECONDS`.
    """
    if isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        result = math.inf if value > MAX_SECONDS else float(value)
    else:
        raise error(
            f"{what} must be seconds (int or float) or a timedelta,"
            f" got {type(value).__name__}: {value!r}"
        )
    if not 0 < result <= MAX_SECONDS:
        shown = f"{value!r}" if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        raise error(
            f"{what} must be positive and at most 100 years ({MAX_SECONDS:.0f} seconds),"
            f" got {shown}"
        )
    return result


#: The units :func:`seconds_from_text` reads, in seconds.
UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_TEXT = re.compile(r"\s*(-?\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)?\s*", re.IGNORECASE)


def seconds_from_text(
    text: str, what: str, *, error: type[InvalidDuration] = InvalidDuration
) -> float:
    """``text`` (``"90"``, ``"1.5"``, ``"500ms"``, ``"30s"``, ``"5m"``, ``"2h"``,
    ``"1d"``) in seconds, checked as :func:`seconds` does; or ``error`` naming
    ``what`` and the forms it takes."""
    found = _TEXT.fullmatch(text)
    if found is None:
        shown = text if len(text) <= 40 else f"{text[:37]}..."
        raise error(
            f"{what} must be a number of seconds, or a number with a unit"
            f" (500ms, 30s, 5m, 2h, 1d), got {shown!r}"
        )
    number, unit = found.groups()
    return seconds(float(number) * UNITS[(unit or "s").lower()], what, error=error)
