"""RedisStore's own constructor options, checked at the edge (the store's constructor)."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Literal

from ..._durations import seconds

__all__ = ["Durability", "check_options", "replication_wait"]

#: When a write is acknowledged: once its primary has it, or once a replica has it too.
Durability = Literal["acknowledged", "replicated"]


def check_options(
    namespace: object, changelog_length: object, sweep_interval: object, driver: object
) -> None:
    """Raise ValueError for a bad constructor option."""
    if not isinstance(namespace, str) or not namespace or "{" in namespace or "}" in namespace:
        raise ValueError(
            f"RedisStore namespace must be a non-empty str without '{{' or '}}'"
            f" (it becomes the keys' hash tag), got {namespace!r}"
        )
    if type(changelog_length) is not int or changelog_length < 1:
        raise ValueError(f"changelog_length must be an int >= 1, got {changelog_length!r}")
    if not isinstance(sweep_interval, int | float) or not 0 < sweep_interval < math.inf:
        raise ValueError(f"sweep_interval must be positive seconds, got {sweep_interval!r}")
    if driver not in ("auto", "redis-py", "coredis"):
        raise ValueError(f"driver must be 'auto', 'redis-py' or 'coredis', got {driver!r}")


def replication_wait(durability: object, timeout: float | timedelta) -> tuple[int, int] | None:
    """``WAIT``'s arguments (one replica, the timeout in ms) for ``durability``.

    Raises:
        ValueError: an unknown durability.
        InvalidDuration: a timeout that is not positive seconds.
    """
    if durability not in ("acknowledged", "replicated"):
        raise ValueError(
            f"durability must be 'acknowledged' (the primary has the write) or 'replicated'"
            f" (a replica has it too), got {durability!r}"
        )
    milliseconds = max(1, round(seconds(timeout, "replication_timeout") * 1000))
    return (1, milliseconds) if durability == "replicated" else None
