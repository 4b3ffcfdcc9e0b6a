"""The one duration parser: seconds from a number or a ``timedelta``.

Every duration pepperflow takes (a store's ttl, a resource's idle timeout,
a cleanup interval, an operator's window) is a positive, finite number of
seconds or a :class:`~datetime.timedelta`, checked here once, at the edge.
"""

from __future__ import annotations

import math
from datetime import timedelta

from ._errors import InvalidDuration

__all__ = ["seconds"]


def seconds(value: object, what: str, *, error: type[InvalidDuration] = InvalidDuration) -> float:
    """``value`` in seconds, or ``error`` naming ``what`` and the fix.

    Accepts a positive, finite ``int``/``float`` (not ``bool``) or
    ``timedelta``.
    """
    if isinstance(value, timedelta):
        result = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        result = float(value)
    else:
        raise error(
            f"{what} must be seconds (int or float) or a timedelta,"
            f" got {type(value).__name__}: {value!r}"
        )
    if not 0 < result < math.inf:
        raise error(f"{what} must be positive and finite, got {value!r}")
    return result
