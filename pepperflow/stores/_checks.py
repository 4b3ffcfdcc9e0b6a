"""The checks of a write's input, made once at the edge (:class:`~pepperflow.stores.Store`),
and of the store options every backend takes (``callback_timeout``).

Each raises the error that names the store, the key and the fix; nothing
is stored when one fails.
"""

from __future__ import annotations

from .._durations import seconds
from .._errors import InvalidKey, InvalidTTL

__all__ = [
    "bad_key",
    "callback_seconds",
    "check_key",
    "check_version",
    "ttl_seconds",
]


def bad_key(store: str, key: object) -> InvalidKey:
    """The error for a key that is not a non-empty str."""
    if isinstance(key, str):
        return InvalidKey(f"store {store!r}: keys must be non-empty; got an empty key")
    return InvalidKey(
        f"store {store!r}: keys must be str, got {type(key).__name__}: {key!r};"
        " convert it, e.g. str(key)"
    )


def check_key(store: str, key: object) -> str:
    if type(key) is not str or not key:
        raise bad_key(store, key)
    return key


def ttl_seconds(store: str, key: str, ttl: object) -> float:
    """Seconds in ``ttl`` (a positive number or timedelta of at most
    :data:`~pepperflow._durations.MAX_SECONDS`), or InvalidTTL."""
    if isinstance(ttl, int | float) and not isinstance(ttl, bool) and not ttl > 0:
        raise InvalidTTL(
            f"store {store!r}, key {key!r}: ttl must be positive, got {ttl!r};"
            " use delete() to remove a key now, or ttl=None to keep it"
        )
    return seconds(ttl, f"store {store!r}, key {key!r}: ttl", error=InvalidTTL)


def check_version(store: str, key: str, if_version: object) -> int:
    if type(if_version) is not int or if_version < 0:
        raise ValueError(
            f"store {store!r}, key {key!r}: if_version must be an int >= 0"
            f" (0: the key must not exist), got {if_version!r}"
        )
    return if_version


def callback_seconds(store: str, callback_timeout: object) -> float | None:
    """A store's ``callback_timeout`` in seconds (``None``: no bound), or InvalidDuration."""
    if callback_timeout is None:
        return None
    return seconds(
        callback_timeout,
        f"store {store!r}: callback_timeout (the seconds a change callback may take;"
        " None for no bound)",
    )
