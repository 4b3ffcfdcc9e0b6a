"""What a store's index answers: a :class:`Lookup`, and the one rule of what it matches.

A store opened with ``index=terms`` keeps, for every live entry, the *terms*
``terms(value, metadata)`` returns (strings, e.g. ``"type:report"``), and
its times. :meth:`Store.find <pepperflow.stores.Store.find>` takes a
:class:`Lookup` and gives the entries that match it, in its order, through
the index (cost follows the matches, not the entries).

An entry matches a lookup when **all** of these hold (an unset field holds
for every entry):

* every term of ``terms`` is among the entry's terms;
* its key matches ``pattern`` (the store's one pattern rule: a prefix, or a
  glob with ``*``, ``?``, ``[...]``);
* ``created_after <= created_at <= created_before``;
* ``expires_after <= expires_at <= expires_before``; an entry without a
  ttl has no ``expires_at`` and matches neither bound;
* it has not expired.

Times compare at microsecond precision, as the datetimes the entry's times
give (:func:`instant`): what ``datetime.fromtimestamp(t, UTC)`` shows is
what is compared, so a check made on the datetimes agrees with the index.
Bounds must be timezone-aware datetimes.

Results are ordered by ``order_by`` (``"created_at"``, ``"updated_at"``,
``"expires_at"`` or ``"key"``; entries without a ttl after the others for
``"expires_at"``), ties broken by key; ``descending`` reverses that order.
Then ``offset`` entries are skipped and at most ``limit`` given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeAlias, get_args

import msgspec

from .._patterns import compile_pattern
from ..streams.events import SetChange

__all__ = [
    "IndexTerms",
    "Lookup",
    "Order",
    "Selection",
    "check_index",
    "check_terms",
    "instant",
    "micros",
    "micros_at",
]

#: The index function of a store: an entry's terms from its value and metadata.
IndexTerms: TypeAlias = Callable[[Any, Any], Iterable[str]]

#: What find() orders by.
Order = Literal["created_at", "updated_at", "expires_at", "key"]
_ORDERS = get_args(Order)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
_RANGES = ("created_after", "created_before", "expires_after", "expires_before")


def instant(seconds: float) -> datetime:
    """A store time (seconds since the epoch) as the UTC datetime entries show."""
    return datetime.fromtimestamp(seconds, UTC)


def micros(moment: datetime) -> int:
    """An aware datetime as whole microseconds since the epoch (exact)."""
    return (moment - _EPOCH) // _MICRO


def micros_at(seconds: float) -> int:
    """A store time as microseconds, exactly as :func:`instant` shows it."""
    return micros(instant(seconds))


def check_terms(store: str, key: str, terms: object) -> frozenset[str]:
    """What an index function returned, as a set of terms.

    Raises:
        TypeError: it is not an iterable of ``str`` (a lone ``str`` included).
    """
    if isinstance(terms, str | bytes) or not isinstance(terms, Iterable):
        raise TypeError(
            f"store {store!r}, key {key!r}: the index function returned"
            f" {type(terms).__name__} {terms!r}; it must return an iterable of str terms"
            " (a list or set), e.g. ['type:report']"
        )
    found = frozenset(terms)
    for term in found:
        if type(term) is not str:
            raise TypeError(
                f"store {store!r}, key {key!r}: the index function returned the term"
                f" {term!r} ({type(term).__name__}); terms must be str"
            )
    return found


def check_index(store: str, index: object) -> IndexTerms | None:
    """A store's ``index=``: ``None`` or a function.

    Raises:
        TypeError: anything else.
    """
    if index is not None and not callable(index):
        raise TypeError(
            f"store {store!r}: index must be a function (value, metadata) -> terms, or"
            f" None; got {type(index).__name__}: {index!r}"
        )
    return index


def check_moment(what: str, moment: object) -> None:
    """Raise unless ``moment`` is ``None`` or a timezone-aware datetime."""
    if moment is None:
        return
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime or None, got {type(moment).__name__}")
    if moment.utcoffset() is None:
        raise ValueError(
            f"{what} must be timezone-aware, got the naive {moment!r}; use"
            " datetime.now(UTC) or a datetime with tzinfo (dt.astimezone() for local time)"
        )


def check_page(order_by: object, descending: object, offset: object, limit: object) -> None:
    """Raise unless the order and the page are valid."""
    if order_by not in _ORDERS:
        raise ValueError(f"order_by must be one of {list(_ORDERS)}, got {order_by!r}")
    if type(descending) is not bool:
        raise TypeError(f"descending must be a bool, got {descending!r}")
    if type(offset) is not int or offset < 0:
        raise ValueError(f"offset must be an int >= 0, got {offset!r}")
    if limit is not None and (type(limit) is not int or limit < 0):
        raise ValueError(f"limit must be None or an int >= 0, got {limit!r}")


class Selection(msgspec.Struct, frozen=True, kw_only=True):
    """The fields a store lookup and R065's StorageQuery share: a key pattern,
    time bounds, an order and a page; checked when made."""

    pattern: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    expires_after: datetime | None = None
    expires_before: datetime | None = None
    order_by: Order = "created_at"
    descending: bool = False
    offset: int = 0
    limit: int | None = None

    def __post_init__(self) -> None:
        what = type(self).__name__
        compile_pattern(self.pattern)
        for name in _RANGES:
            check_moment(f"{what}.{name}", getattr(self, name))
        check_page(self.order_by, self.descending, self.offset, self.limit)


class Lookup(Selection, frozen=True, kw_only=True):
    """What :meth:`Store.find <pepperflow.stores.Store.find>` looks for; see the module docstring.

    Checked when made: a bad field raises ``TypeError`` or ``ValueError``
    naming it (a malformed ``pattern``:
    :class:`~pepperflow.InvalidPattern`).
    """

    terms: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.terms, frozenset) or not all(
            type(term) is str for term in self.terms
        ):
            raise TypeError(f"terms must be a frozenset of str, got {self.terms!r}")
        super().__post_init__()

    def bounds(self) -> tuple[int | None, int | None, int | None, int | None]:
        """The time bounds in microseconds: created lo, hi, expires lo, hi (inclusive)."""
        return (
            None if self.created_after is None else micros(self.created_after),
            None if self.created_before is None else micros(self.created_before),
            None if self.expires_after is None else micros(self.expires_after),
            None if self.expires_before is None else micros(self.expires_before),
        )

    def accepts(self, change: SetChange[Any, Any], terms: frozenset[str]) -> bool:
        """Whether the entry ``change`` sets, with its ``terms``, matches (expiry aside)."""
        return self.matcher()(change, terms)

    def matcher(self) -> Callable[[SetChange[Any, Any], frozenset[str]], bool]:
        """:meth:`accepts` with the lookup's pattern and bounds worked out once."""
        wanted = self.terms
        match = compile_pattern(self.pattern).match if self.pattern else None
        created_lo, created_hi, expires_lo, expires_hi = self.bounds()
        created = created_lo is not None or created_hi is not None
        expires = expires_lo is not None or expires_hi is not None

        def accepts(change: SetChange[Any, Any], terms: frozenset[str]) -> bool:
            if not wanted <= terms or (match is not None and not match(change.key)):
                return False
            if created and not _within(micros_at(change.created_at), created_lo, created_hi):
                return False
            if not expires:
                return True
            at = change.expires_at
            return at is not None and _within(micros_at(at), expires_lo, expires_hi)

        return accepts


def _within(value: int, lo: int | None, hi: int | None) -> bool:
    return (lo is None or lo <= value) and (hi is None or value <= hi)
