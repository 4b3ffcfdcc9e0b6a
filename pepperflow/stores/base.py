"""The store contract: one API, implemented by every backend.

A store maps ``str`` keys to values msgspec can encode. Every write commits
one :data:`~pepperflow.streams.Change` per key in one total order (its
``seq``), and the store's state is the fold of those changes.

Rules every backend keeps (and :func:`pepperflow.testing.check_store`
checks):

* **Keys** are non-empty ``str``; anything else raises
  :class:`~pepperflow.InvalidKey`.
* **Values and metadata** must be encodable by msgspec (``None``, bool, int,
  float, str, bytes, lists, dicts with str keys, Structs, dataclasses, ...);
  anything else raises :class:`~pepperflow.UnencodableValue`. A failed write
  stores nothing and emits nothing.
* **TTL** is a positive number of seconds or a ``timedelta``; an expired key
  is never returned, and its expiry emits exactly one
  :class:`~pepperflow.streams.ExpireChange`: within a small bounded delay of
  the deadline while the store runs (``async with store:``), or on the first
  access after it otherwise.
* **Compare-and-set**: ``if_version=n`` commits only when the key's version
  is ``n`` (0: the key must not exist), else raises
  :class:`~pepperflow.VersionConflict`.
* **Patterns** follow one rule everywhere (:mod:`pepperflow._patterns`): a
  plain string is a prefix, ``*``/``?``/``[...]`` make a glob over the
  whole key, ``\\`` escapes.
* **Subscriptions**: callbacks run in commit order and are awaited before
  the write returns; a failing callback is logged and counted, never raised
  into the writer or the other subscribers. Observers subscribed through
  ``store.changes(...).subscribe_async`` get ``aclose()`` when the store
  closes: every backend's ``aclose`` is wrapped (in
  :meth:`Store.__init_subclass__`) to end them after it returned.
* **Not checkpoints**: store operations do not yield to the scheduler
  unless they must wait (a subscriber's callback awaits, a full feed
  blocks, I/O on a remote backend), like ``anyio.Lock(fast_acquire=True)``.
  A loop of writes on an in-process store does not let other tasks run
  and cannot be cancelled between writes; add
  ``await anyio.lowlevel.checkpoint()`` in such a loop when it must.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from datetime import timedelta
from types import TracebackType
from typing import Any, Self

import msgspec

from .._durations import seconds
from .._errors import InvalidKey, InvalidTTL, UnencodableValue
from .._patterns import compile_pattern
from ..streams.events import Change, SetChange
from ._hub import ChangeHub, Subscription
from .feed import ChangeFeed, Overflow, _ObserverFeed

__all__ = ["Entry", "Snapshot", "Store", "StoreStatistics"]


class Entry(msgspec.Struct, frozen=True):
    """A key's value with its bookkeeping (``store.entry(key)``).

    Times are seconds since the epoch; ``expires_at`` is ``None`` without a
    ttl. ``version`` counts the sets since the key was created.
    """

    key: str
    value: Any
    version: int
    created_at: float
    updated_at: float
    expires_at: float | None = None
    metadata: dict[str, Any] | None = None

    @classmethod
    def from_change(cls, change: SetChange) -> Entry:
        return cls(
            change.key,
            change.value,
            change.version,
            change.created_at,
            change.committed_at,
            change.expires_at,
            change.metadata,
        )


class Snapshot(msgspec.Struct, frozen=True):
    """A store's live entries at one ``seq``; encodable, restorable anywhere."""

    store: str
    seq: int
    taken_at: float
    entries: list[Entry]


class StoreStatistics(msgspec.Struct, frozen=True):
    """A store's figures at one moment (``store.statistics()``).

    ``keys`` counts stored keys, including those past their deadline whose
    expiry has not been committed yet.
    """

    store: str
    backend: str
    keys: int
    seq: int
    ttl_keys: int
    subscriptions: int
    feeds: int
    callback_errors: int
    expired: int
    running: bool
    closed: bool


#: A change callback: a function or coroutine function of one change.
Callback = Callable[[Change], object]

_ENCODER = msgspec.msgpack.Encoder()
# Values whose encodability needs no check; ints need only a range check.
_SCALARS: frozenset[type] = frozenset({str, bytes, float, bool, type(None)})
INT_MIN, INT_MAX = -(2**63), 2**64 - 1


class Store(ABC):
    """The contract every store implements; see the module docstring.

    Subclasses implement the data operations and call :meth:`_publish` (or
    :meth:`_publish_all`) after each commit. Subscriptions and feeds are
    implemented here, once.
    """

    #: The backend's short name (``"memory"``, ``"sqlite"``, ``"redis"``).
    backend: str = ""

    def __init__(self, name: str = "default") -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a store's name must be a non-empty str, got {name!r}")
        self.name = name
        self._hub = ChangeHub(name)
        self._feeds: set[ChangeFeed] = set()
        self._unended: list[_ObserverFeed] = []  # observers to aclose once closed

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Wrap a backend's ``aclose`` so that, after it, the feed observers end."""
        super().__init_subclass__(**kwargs)
        aclose = cls.__dict__.get("aclose")
        if aclose is None or getattr(aclose, "_ends_observers", False):
            return

        @functools.wraps(aclose)
        async def aclose_and_end_observers(self: Store) -> None:
            try:
                await aclose(self)
            finally:
                await self._end_observers()

        aclose_and_end_observers._ends_observers = True  # type: ignore[attr-defined]
        cls.aclose = aclose_and_end_observers  # type: ignore[method-assign]

    # -- reading -------------------------------------------------------------

    @abstractmethod
    async def get(self, key: str, default: Any = None) -> Any:
        """Return the value of ``key``, or ``default`` when it is absent or expired.

        Raises:
            InvalidKey: ``key`` is not a non-empty str.
        """

    @abstractmethod
    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """Return ``{key: value}`` for the keys of ``keys`` that are present."""

    @abstractmethod
    async def exists(self, key: str) -> bool:
        """Return whether ``key`` is present (and not expired)."""

    @abstractmethod
    async def entry(self, key: str) -> Entry | None:
        """Return the :class:`Entry` of ``key``, or ``None`` when it is absent."""

    @abstractmethod
    def scan(self, pattern: str | None = None, *, batch_size: int = 100) -> AsyncIterator[str]:
        """Iterate over the keys matching ``pattern``, fetched ``batch_size`` at a time.

        Keys present for the whole scan are yielded exactly once; keys added
        or removed during it may or may not be. The scan yields to the
        scheduler between batches.
        """

    # -- writing -------------------------------------------------------------

    async def set(
        self,
        key: str,
        value: Any,
        *,
        ttl: float | timedelta | None = None,
        metadata: Mapping[str, Any] | None = None,
        if_version: int | None = None,
    ) -> int:
        """Set ``key`` to ``value`` and return its new version.

        ``ttl`` makes the key expire after that many seconds (or that
        timedelta); ``None`` keeps it until deleted. A set replaces the
        previous ttl and metadata. ``if_version`` makes the write a
        compare-and-set.

        Raises:
            InvalidKey, InvalidTTL, UnencodableValue: bad input; nothing stored.
            VersionConflict: ``if_version`` did not match; nothing stored.
        """
        # The input is checked here, once, for every backend; the checks of
        # the common cases are inlined (every write takes this path).
        name = self.name
        if type(key) is not str or not key:
            raise bad_key(name, key)
        kind = type(value)
        if kind not in _SCALARS and not (kind is int and INT_MIN <= value <= INT_MAX):
            check_value(name, key, value)
        ttl_s: float | None = None
        if ttl is not None:
            if (type(ttl) is float or type(ttl) is int) and 0 < ttl < math.inf:
                ttl_s = float(ttl)
            else:
                ttl_s = ttl_seconds(name, key, ttl)
        meta = None if metadata is None else check_metadata(name, key, metadata)
        if if_version is not None:
            check_version(name, key, if_version)
        return await self._set(key, value, ttl_s, meta, if_version)

    async def set_many(
        self,
        items: Mapping[str, Any] | Iterable[tuple[str, Any]],
        *,
        ttl: float | timedelta | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Set every key of ``items`` at once (all or nothing on bad input).

        A key given twice is set to its last value.
        """
        name = self.name
        pairs = list(items.items() if isinstance(items, Mapping) else items)
        for key, value in pairs:
            check_key(name, key)
            check_value(name, key, value)
        first = pairs[0][0] if pairs else ""
        meta = None if metadata is None else check_metadata(name, first, metadata)
        ttl_s = None if ttl is None else ttl_seconds(name, first, ttl)
        await self._set_many(pairs, ttl_s, meta)

    async def delete(self, key: str, *, if_version: int | None = None) -> bool:
        """Delete ``key``; return whether it was present.

        Raises:
            VersionConflict: ``if_version`` did not match; nothing deleted.
        """
        check_key(self.name, key)
        if if_version is not None:
            check_version(self.name, key, if_version)
        return await self._delete(key, if_version)

    # -- commits: what each backend implements, on checked input --------------

    @abstractmethod
    async def _set(
        self,
        key: str,
        value: Any,
        ttl: float | None,
        metadata: dict[str, Any] | None,
        if_version: int | None,
    ) -> int:
        """Commit one set of checked input (``ttl`` in seconds); return the new version.

        Raises:
            VersionConflict: ``if_version`` did not match; nothing stored.
        """

    @abstractmethod
    async def _set_many(
        self,
        items: list[tuple[str, Any]],
        ttl: float | None,
        metadata: dict[str, Any] | None,
    ) -> None:
        """Commit the sets of checked ``items`` together (``ttl`` in seconds)."""

    @abstractmethod
    async def _delete(self, key: str, if_version: int | None) -> bool:
        """Commit the delete of a checked key; return whether it was present.

        Raises:
            VersionConflict: ``if_version`` did not match; nothing deleted.
        """

    @abstractmethod
    async def _restore(self, snapshot: Snapshot) -> None:
        """Commit :meth:`restore` of a checked snapshot."""

    @abstractmethod
    async def clear(self, pattern: str | None = None) -> int:
        """Delete every key matching ``pattern`` (all keys when ``None``); return the count."""

    # -- whole state ---------------------------------------------------------

    @abstractmethod
    async def snapshot(self) -> Snapshot:
        """Return every live entry and the ``seq`` they are consistent with."""

    async def restore(self, snapshot: Snapshot) -> None:
        """Make the store's state equal to ``snapshot``, emitting the changes.

        Keys absent from the snapshot are deleted; each entry is set with
        its value, metadata, created_at and expires_at (entries already
        expired are skipped). Versions continue from the store's own, so
        they stay monotonic.

        Raises:
            TypeError: ``snapshot`` is not a :class:`Snapshot`.
            InvalidKey, UnencodableValue: a bad entry; nothing restored.
        """
        if not isinstance(snapshot, Snapshot):
            raise TypeError(
                f"restore() takes a Snapshot (from store.snapshot()), got {type(snapshot).__name__}"
            )
        name = self.name
        for item in snapshot.entries:
            check_key(name, item.key)
            check_value(name, item.key, item.value)
            if item.metadata is not None:
                check_metadata(name, item.key, item.metadata)
        await self._restore(snapshot)

    @abstractmethod
    def statistics(self) -> StoreStatistics:
        """Return the store's figures now, as a frozen record."""

    # -- change feed ---------------------------------------------------------

    def subscribe(self, pattern: str | None, callback: Callback) -> Subscription:
        """Call ``callback(change)`` for every change of a key matching ``pattern``.

        The callback (a function or a coroutine function) is awaited in
        commit order before the write returns. If it raises, the error is
        logged on the ``"pepperflow"`` logger and counted in
        ``statistics().callback_errors``; the writer and the other
        subscribers never see it. The callback runs in the writer's task:
        if the writer is cancelled while the callback awaits, the callback
        sees the cancellation, and the other subscribers still get the
        change. Returns a :class:`Subscription`; call its ``unsubscribe()``
        or use it as a context manager.
        """
        self._check_open()
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        return self._hub.subscribe(compile_pattern(pattern), callback)

    def changes(
        self,
        pattern: str | None = None,
        *,
        replay: bool = False,
        buffer: int = 1024,
        overflow: Overflow = "block",
    ) -> ChangeFeed:
        """A change feed of the keys matching ``pattern``; use ``async with``.

        See :mod:`pepperflow.stores.feed` for ``replay``, ``buffer`` and the
        ``overflow`` policies.
        """
        return ChangeFeed(self, pattern, replay=replay, buffer=buffer, overflow=overflow)

    async def _attach_feed(self, feed: ChangeFeed) -> None:
        """Subscribe ``feed`` and hand it the current state, atomically.

        In-process stores take both at one commit point; remote backends
        override this to read the state at an offset and follow from it.
        """
        self._check_open()
        replay = self._current_state(feed.pattern.match) if feed.replay else ()
        sub = self._hub.add(feed.pattern, feed.deliver)
        feed.attach(sub, replay)
        self._feeds.add(feed)

    def _current_state(self, match: Callable[[str], bool]) -> list[SetChange]:
        """The live sets of the keys ``match`` accepts, in commit order (in-process stores)."""
        raise NotImplementedError(f"{type(self).__name__} must override _attach_feed")

    def _close_feeds(self) -> None:
        for feed in list(self._feeds):
            if isinstance(feed, _ObserverFeed):
                if feed.store_closed():
                    self._unended.append(feed)
            else:
                feed.close()
        self._feeds.clear()

    async def _end_observers(self) -> None:
        """``aclose()`` the observers of the feeds :meth:`_close_feeds` ended."""
        while self._unended:
            await self._unended.pop(0).end()

    # -- lifecycle -----------------------------------------------------------

    @abstractmethod
    def _check_open(self) -> None:
        """Raise ``anyio.ClosedResourceError`` when the store is closed."""

    @abstractmethod
    async def aclose(self) -> None:
        """Stop background work, end the feeds and release resources (idempotent)."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


# -- input checks shared by the backends ---------------------------------------


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
    if type(value) in _SCALARS or (type(value) is int and INT_MIN <= value <= INT_MAX):
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
