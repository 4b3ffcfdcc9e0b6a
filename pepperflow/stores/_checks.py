"""The checks of an operation's input, made once at the edge (:class:`~pepperflow.stores.Store`),
and of the store options every backend takes (``callback_timeout``).

Each raises the error that names the store, the key and the fix; nothing
is stored when one fails.

A key is a non-empty ``str`` of valid Unicode text: one every backend can
store, so it must encode to UTF-8 (a lone surrogate such as ``"\\ud800"``,
which ``errors="surrogateescape"`` decoding makes, cannot). An instance of
a ``str`` subclass (a ``StrEnum`` member, ...) is taken as the plain ``str``
of its text, on every backend: what is stored, scanned and carried by
changes is a ``str``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._durations import seconds
from .._errors import NOT_UNICODE_FIX, InvalidKey, InvalidTTL

if TYPE_CHECKING:
    pass

__all__ = [
    "bad_key",
    "callback_seconds",
    "check_key",
    "check_seq",
    "check_version",
    "item_pairs",
    "key_iterable",
    "surrogate_at",
    "ttl_seconds",
]


def surrogate_at(text: str) -> int | None:
    """The index of the first character of ``text`` that UTF-8 cannot encode
    (a lone surrogate), or ``None`` when it all encodes."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def bad_key(store: str, key: object) -> InvalidKey:
    """The error for a key that is not a non-empty str of valid Unicode text."""
    if not isinstance(key, str):
        return InvalidKey(
            f"store {store!r}: keys must be str, got {type(key).__name__}: {key!r};"
            " convert it, e.g. str(key)"
        )
    if not key:
        return InvalidKey(f"store {store!r}: keys must be non-empty; got an empty key")
    return InvalidKey(
        f"store {store!r}: keys must be valid Unicode text, got {key!r}, whose character"
        f" at position {surrogate_at(key)} is a lone surrogate (UTF-8 cannot encode it);"
        f" {NOT_UNICODE_FIX}"
    )


def check_key(store: str, key: object) -> str:
    """``key`` as a plain ``str`` (a str subclass's text), or :class:`InvalidKey`."""
    if type(key) is not str:
        if not isinstance(key, str):
            raise bad_key(store, key)
        key = str.__str__(key)
    if not key or surrogate_at(key) is not None:
        raise bad_key(store, key)
    return key


def key_iterable(store: str, keys: object) -> Iterable[Any]:
    """``get_many``'s ``keys`` if it is an iterable of keys (each checked as
    it is read), not one str; a TypeError saying so otherwise."""
    if isinstance(keys, str | bytes) or not isinstance(keys, Iterable):
        raise TypeError(
            f"store {store!r}: get_many() takes an iterable of keys, not one"
            f" {type(keys).__name__} ({keys!r}); use get() for one key"
        )
    return keys


def item_pairs(store: str, items: object) -> Iterable[tuple[Any, Any]]:
    """The ``(key, value)`` pairs of ``set_many``'s ``items``: a mapping, or an
    iterable of 2-tuples (or 2-lists); a TypeError saying so otherwise."""
    if isinstance(items, Mapping):
        return items.items()
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise TypeError(
            f"store {store!r}: set_many() takes a mapping or an iterable of (key, value)"
            f" pairs, got {type(items).__name__}: {items!r}"
        )
    pairs = list(items)
    for pair in pairs:
        if type(pair) not in (tuple, list) or len(pair) != 2:
            raise TypeError(
                f"store {store!r}: set_many() takes (key, value) pairs, got"
                f" {type(pair).__name__}: {pair!r}; pass a dict or a list of 2-tuples"
            )
    return pairs


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


def check_seq(seq: object) -> int:
    """``seq`` (a store's seq, as ``changes_since`` takes it), or ValueError."""
    if type(seq) is not int or seq < 0:
        raise ValueError(f"seq must be an int >= 0, got {seq!r}")
    return seq
