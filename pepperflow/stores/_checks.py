"""The checks of a write's input, made once at the edge (:class:`~pepperflow.stores.Store`).

Each raises the error that names the store, the key and the fix; nothing
is stored when one fails.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import msgspec

from .._durations import seconds
from .._errors import InvalidKey, InvalidTTL, UnencodableValue

__all__ = [
    "INT_MAX",
    "INT_MIN",
    "SCALARS",
    "bad_key",
    "check_key",
    "check_metadata",
    "check_value",
    "check_version",
    "ttl_seconds",
]

_ENCODER = msgspec.msgpack.Encoder()
# Values whose encodability needs no check; ints need only a range check.
SCALARS: frozenset[type] = frozenset({str, bytes, float, bool, type(None)})
INT_MIN, INT_MAX = -(2**63), 2**64 - 1


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
    """Seconds in ``ttl`` (a positive finite number or timedelta), or InvalidTTL."""
    if isinstance(ttl, int | float) and not isinstance(ttl, bool) and not 0 < ttl < math.inf:
        raise InvalidTTL(
            f"store {store!r}, key {key!r}: ttl must be positive and finite, got {ttl!r};"
            " use delete() to remove a key now, or ttl=None to keep it"
        )
    return seconds(ttl, f"store {store!r}, key {key!r}: ttl", error=InvalidTTL)


def check_value(store: str, key: str, value: object) -> None:
    """Raise UnencodableValue unless msgspec can encode ``value``."""
    if type(value) in SCALARS or (type(value) is int and INT_MIN <= value <= INT_MAX):
        return
    try:
        _ENCODER.encode(value)
    except (TypeError, OverflowError, ValueError) as exc:
        raise UnencodableValue(
            f"store {store!r}, key {key!r}: msgspec cannot encode the value"
            f" ({type(value).__name__}): {exc}; store plain data (dict, list, str,"
            " int, float, bool, None, bytes) or a msgspec Struct / dataclass"
        ) from exc


def check_metadata(store: str, key: str, metadata: object) -> dict[str, Any]:
    """A private dict copy of ``metadata`` (a mapping with str keys, encodable)."""
    if not isinstance(metadata, Mapping):
        raise UnencodableValue(
            f"store {store!r}, key {key!r}: metadata must be a mapping with str keys,"
            f" got {type(metadata).__name__}"
        )
    copy = dict(metadata)
    for name in copy:
        if type(name) is not str:
            raise UnencodableValue(
                f"store {store!r}, key {key!r}: metadata keys must be str, got {name!r}"
            )
    try:
        _ENCODER.encode(copy)
    except (TypeError, OverflowError, ValueError) as exc:
        raise UnencodableValue(
            f"store {store!r}, key {key!r}: msgspec cannot encode the metadata: {exc}"
        ) from exc
    return copy


def check_version(store: str, key: str, if_version: object) -> int:
    if type(if_version) is not int or if_version < 0:
        raise ValueError(
            f"store {store!r}, key {key!r}: if_version must be an int >= 0"
            f" (0: the key must not exist), got {if_version!r}"
        )
    return if_version
