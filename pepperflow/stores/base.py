"""The store contract: one API, implemented by every backend.

A store maps ``str`` keys to values msgspec can encode. Every write commits
one :data:`~pepperflow.streams.Change` per key in one total order (its
``seq``), and the store's state is the fold of those changes.

Rules every backend keeps (:func:`pepperflow.testing.check_store` checks):

* **Keys** are non-empty ``str`` of valid Unicode text, else
  :class:`~pepperflow.InvalidKey` (:mod:`pepperflow.stores._checks`).
* **Values and metadata** are of the store's types (``type=``,
  ``metadata_type=``), else :class:`~pepperflow.InvalidValue` or
  :class:`~pepperflow.UnencodableValue`; a failed write stores and emits
  nothing. Every backend gives the same value back (:mod:`._codec`).
* **TTL** is a positive number of seconds or a ``timedelta``; an expired key
  is never returned, and its expiry emits exactly one
  :class:`~pepperflow.streams.ExpireChange`: within a small bounded delay of
  the deadline while the store runs (``async with store:``), or on the first
  access after it otherwise.
* **Compare-and-set**: ``if_version=n`` commits only when the key's version
  is ``n`` (0: absent), else raises :class:`~pepperflow.VersionConflict`.
* **Patterns** follow one rule everywhere (:mod:`pepperflow._patterns`).
* **Subscriptions**: callbacks run in commit order and are awaited before
  the write returns; a failing callback (or one that overruns
  ``callback_timeout``) is logged and counted, never raised into the writer
  or the other subscribers; who waits for what:
  :mod:`pepperflow.stores._delivery`. Feeds end when the store closes, and
  observers subscribed through ``store.changes(...).subscribe_async`` get
  ``aclose()``: :meth:`Store.aclose` does it after :meth:`Store._shutdown`.
* **Indexes**: with ``index=terms``, ``find(lookup)`` (:mod:`._searchable`).
* **Not checkpoints**: an operation yields only when it must wait (a
  callback, a full feed, I/O), so a loop of in-process writes lets no other
  task run: add ``await anyio.lowlevel.checkpoint()`` where it must.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from datetime import timedelta
from typing import Any, Self, TypeVar, overload

import msgspec

from .._durations import MAX_SECONDS
from .._lifecycle import Holdable
from .._patterns import compile_pattern, exact_pattern
from ..sinks.metrics import MetricsRegistry
from ..sinks.metrics._stores import metered_class, store_probe
from ..streams.events import Change, SetChange
from ._apply import AppliesChanges
from ._checks import callback_seconds, check_key, check_version, item_pairs, ttl_seconds
from ._codec import INT_MAX, INT_MIN, SCALARS, Codec, Metadata
from ._hub import ChangeHub, Feed, Subscription
from ._lookup import IndexTerms, check_index, check_terms
from ._records import Entry as Entry
from ._records import Snapshot as Snapshot
from ._records import StoreStatistics as StoreStatistics
from ._searchable import Searchable
from ._shown import Shown
from .feed import ChangeFeed, Overflow

__all__ = ["Entry", "Snapshot", "Store", "StoreStatistics"]


#: A change callback: a function or coroutine function of one change.
Callback = Callable[[Change], object]
T = TypeVar("T")
D = TypeVar("D")


class Store(Holdable, AppliesChanges, Searchable[T], Shown):
    """The contract every store implements; see the module docstring.

    ``T`` is the store's value type (``type=``; ``Any`` by default): every
    value set must be a ``T`` and every read gives one, on every backend
    (:mod:`pepperflow.stores._codec` states the rules, typed and untyped).

    The public writes check their input here, once, then call the
    backend's commit (:meth:`_set`, :meth:`_set_many`, :meth:`_delete`,
    :meth:`_restore`), which hands each change to ``self._hub`` (the
    subscriptions and feeds, in commit order). A backend implements the
    reads, the commits, :meth:`_shutdown` and a feed's replay point
    (:meth:`_current_state`, or :meth:`_attach_feed` for a remote store).
    """

    #: The backend's short name (``"memory"``, ``"sqlite"``, ``"redis"``).
    backend: str = ""

    def __new__(cls, *args: Any, metrics: object = None, **kwargs: Any) -> Self:
        # With metrics=, a subclass that counts the operations (sinks.metrics._stores).
        store: Self = super().__new__(cls if metrics is None else metered_class(cls))
        return store

    def __init__(
        self,
        name: str = "default",
        *,
        type: Any = Any,
        metadata_type: Any = Metadata,
        callback_timeout: float | timedelta | None = None,
        metrics: MetricsRegistry | None = None,
        index: IndexTerms | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a store's name must be a non-empty str, got {name!r}")
        self.name = name
        self.index = check_index(name, index)
        #: The value and metadata types, with their encoders and decoders.
        self.codec: Codec[T] = Codec(name, type, metadata_type)
        self._typed = self.codec.typed
        # Immutable scalars are their own copies, admitted as they are: of any
        # of those types in an untyped store, of exactly its type in a typed one.
        self._as_is = SCALARS if not self._typed else SCALARS & {type}
        self._int_as_is = not self._typed or type is int
        self._hub = ChangeHub(name, callback_seconds(name, callback_timeout))
        self._probe = store_probe(self, metrics)

    def _admit_as_is(self, kind: type) -> None:
        """Keep values of exactly ``kind`` (a frozen Struct of scalars) as they
        are, unchecked: for the façade that made this store, which builds its
        records from checked parts (a resource manager's own store)."""
        self._as_is = self._as_is | {kind}

    # -- reading -------------------------------------------------------------

    @overload
    async def get(self, key: str) -> T | None: ...

    @overload
    async def get(self, key: str, default: D) -> T | D: ...

    @abstractmethod
    async def get(self, key: str, default: Any = None) -> Any:
        """Return the value of ``key``, or ``default`` when it is absent or expired.

        Raises:
            InvalidKey: ``key`` is not a non-empty str.
        """

    @abstractmethod
    async def get_many(self, keys: Iterable[str]) -> dict[str, T]:
        """Return ``{key: value}`` for the keys of ``keys`` that are present."""

    @abstractmethod
    async def exists(self, key: str) -> bool:
        """Return whether ``key`` is present (and not expired)."""

    @abstractmethod
    async def entry(self, key: str) -> Entry[T] | None:
        """Return the :class:`Entry` of ``key``, or ``None`` when it is absent."""

    @abstractmethod
    def scan(self, pattern: str | None = None, *, batch_size: int = 100) -> AsyncIterator[str]:
        """Iterate over the keys matching ``pattern``, fetched ``batch_size`` at a time.

        Keys present for the whole scan are yielded exactly once; keys added
        or removed during it may or may not be. The scan yields to the
        scheduler between batches.
        """

    # -- writing -------------------------------------------------------------

    def set(
        self,
        key: str,
        value: Any,
        *,
        ttl: float | timedelta | None = None,
        metadata: Any = None,
        if_version: int | None = None,
    ) -> Coroutine[Any, Any, int]:
        """Set ``key`` to ``value``; await it for the key's new version.

        ``ttl`` makes the key expire after that many seconds (or that
        timedelta); ``None`` keeps it until deleted. A set replaces the
        previous ttl and metadata. ``if_version`` makes the write a
        compare-and-set.

        Raises:
            InvalidKey, InvalidTTL, UnencodableValue: bad input; nothing stored.
            ValueError: ``if_version`` is not an int >= 0; nothing stored.
            VersionConflict: ``if_version`` did not match; nothing stored.
        """
        # The input is checked here, once, for every backend, when set() is
        # called; the coroutine returned is the backend's commit. Every write
        # takes this path: a plain function (no coroutine frame of its own)
        # whose checks of the common cases are inlined.
        name = self.name
        if type(key) is not str or not key or not key.isascii():
            key = check_key(name, key)
        kind = type(value)
        if kind is int:
            if not (self._int_as_is and INT_MIN <= value <= INT_MAX):
                value = self.codec.admit(key, value)
        elif kind not in self._as_is or (kind is str and not value.isascii()):
            value = self.codec.admit(key, value)
        ttl_s: float | None = None
        if ttl is not None:
            if (type(ttl) is float or type(ttl) is int) and 0 < ttl <= MAX_SECONDS:
                ttl_s = float(ttl)
            else:
                ttl_s = ttl_seconds(name, key, ttl)
        meta = None if metadata is None else self.codec.admit_metadata(key, metadata)
        if self.index is not None:
            check_terms(name, key, self.index(value, meta))
        if if_version is not None:
            check_version(name, key, if_version)
        commit = self._set(key, value, ttl_s, meta, if_version)
        probe = self._probe
        if probe is None:
            return commit
        probe.left -= 1  # counted down to the next timed set
        return commit if probe.left else probe.timed_set(commit)

    async def set_many(
        self,
        items: Mapping[str, Any] | Iterable[tuple[str, Any]],
        *,
        ttl: float | timedelta | None = None,
        metadata: Any = None,
    ) -> None:
        """Set every key of ``items`` (a mapping, or ``(key, value)`` pairs) at once.

        All or nothing on bad input. A key given twice is set to its last value.
        """
        name = self.name
        pairs = self.codec.admit_items(item_pairs(name, items))
        first = pairs[0][0] if pairs else ""
        meta = None if metadata is None else self.codec.admit_metadata(first, metadata)
        self._check_terms((key, value, meta) for key, value in pairs)
        ttl_s = None if ttl is None else ttl_seconds(name, first, ttl)
        await self._set_many(pairs, ttl_s, meta)

    def delete(self, key: str, *, if_version: int | None = None) -> Coroutine[Any, Any, bool]:
        """Delete ``key``; await it for whether it was present (checked as ``set`` is).

        Raises:
            VersionConflict: ``if_version`` did not match; nothing deleted.
        """
        if type(key) is not str or not key or not key.isascii():
            key = check_key(self.name, key)
        if if_version is not None:
            check_version(self.name, key, if_version)
        return self._delete(key, if_version)

    # -- commits: what each backend implements, on checked input --------------

    @abstractmethod
    async def _set(
        self,
        key: str,
        value: Any,
        ttl: float | None,
        metadata: Any,
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
        metadata: Any,
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
        entries = [self.codec.admit_entry(item) for item in snapshot.entries]
        self._check_terms((item.key, item.value, item.metadata) for item in entries)
        await self._restore(msgspec.structs.replace(snapshot, entries=entries))

    @abstractmethod
    def statistics(self) -> StoreStatistics:
        """Return the store's figures now, as a frozen record."""

    # -- change feed ---------------------------------------------------------

    def subscribe(
        self, pattern: str | None, callback: Callback, *, exact: bool = False
    ) -> Subscription:
        """Call ``callback(change)`` for every change of a key matching ``pattern``.

        ``exact=True`` takes ``pattern`` as one whole key (else InvalidKey),
        literally, not the keys it is a prefix of: one lookup for any number.
        The callback (a function or a coroutine function) is awaited in commit
        order before the write returns, in the writer's task (see
        :mod:`pepperflow.stores._delivery` for cancellation and a callback
        that never returns). If it raises or overruns the store's
        ``callback_timeout``, that is logged on the ``"pepperflow"`` logger
        and counted in ``statistics().callback_errors``; the writer and the
        other subscribers never see it. Returns a :class:`Subscription`;
        call its ``unsubscribe()`` or use it as a context manager.
        """
        self._check_open()
        if not callable(callback):
            raise TypeError(f"callback must be callable, got {callback!r}")
        if exact:
            return self._hub.subscribe(exact_pattern(check_key(self.name, pattern)), callback)
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
        return ChangeFeed(
            self._attach_feed, self.name, pattern, replay=replay, buffer=buffer, overflow=overflow
        )

    async def _attach_feed(self, feed: Feed) -> None:
        """Subscribe ``feed`` and hand it the current state, atomically.

        In-process stores take both at one commit point; remote backends
        override this to read the state at an offset and follow from it.
        """
        self._check_open()
        replay = self._current_state(feed.pattern.match) if feed.replay else ()
        feed.attach(self._hub.add_feed(feed), replay)

    def _current_state(self, match: Callable[[str], bool]) -> list[SetChange[Any, Any]]:
        """The live sets of the keys ``match`` accepts, in commit order (in-process stores)."""
        raise NotImplementedError(f"{type(self).__name__} must override _attach_feed")

    # -- lifecycle -----------------------------------------------------------

    @abstractmethod
    def _check_open(self) -> None:
        """Raise ``anyio.ClosedResourceError`` when the store is closed."""

    @abstractmethod
    async def _shutdown(self) -> None:
        """Stop the backend's background work and release its resources (idempotent)."""

    async def aclose(self) -> None:
        """Stop background work, end the feeds and release resources (idempotent).

        Feeds still open end: an iterating consumer gets what was buffered,
        then the end of the iteration; a ``subscribe_async`` observer gets
        ``aclose()``. A store held by a host task (``await open_store(url)``,
        a store a manager runs) is closed by its host: ``aclose()`` in another
        task asks it to and waits (:class:`~pepperflow._lifecycle.Holdable`).
        """
        if await self._closed_by_holder():
            return
        try:
            await self._shutdown()
        finally:
            for feed in self._hub.close_feeds():
                await feed.end()
