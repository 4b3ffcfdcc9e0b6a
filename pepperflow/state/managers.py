"""The state managers of R058: views over one pepperflow store each.

A manager maps R058's methods onto a :class:`~pepperflow.stores.Store`: a
value is the store's value, its version, times and expiry are the store's,
and its state type is kept in the entry's metadata under ``"state_type"``
(the key is reserved). Every write is one change in the store's change
feed, so ``manager.store.changes()`` and ``manager.store.subscribe()`` see
the state's sets, deletes and expiries.

* :class:`BaseStateManager` keeps EPHEMERAL state, by default in an
  in-process :class:`~pepperflow.stores.MemoryStore`.
* :class:`PersistentStateManager` keeps PERSISTENT state, by default in a
  :class:`~pepperflow.stores.SqliteStore` at
  :func:`~pepperflow.default_state_path`.
* :class:`SharedStateManager` keeps SHARED state and calls back on its
  changes, by key or by pattern; shared across processes over a
  :class:`~pepperflow.stores.RedisStore`.

A manager that builds its store (no store given, or a URL or path) owns it:
``async with manager:`` runs it for a block; without it, the store opens
on first use and ``await manager.aclose()`` closes it (see
:mod:`pepperflow._hosting` for the rule on tasks).
"""

from __future__ import annotations

import builtins
import inspect
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self, TypeVar

import anyio

from .._hosting import Runner, StoreBinding, StoreView
from .._metrics import MetricsSink
from .._patterns import compile_pattern
from .._store_specs import StoreSpec, default_state_path, resolve
from ..memory.stores import BaseMemoryStore
from ..stores._checks import check_key
from ..stores.base import Entry, Store
from ..stores.memory import MemoryStore
from ..streams.events import Change, SetChange
from ._types import StateEntry, StateManager, StateType, as_state_type

__all__ = [
    "STATE_TYPE_KEY",
    "BaseStateManager",
    "PersistentStateManager",
    "SharedStateManager",
    "StateCallback",
]

T = TypeVar("T")

#: The metadata key where a manager keeps an entry's state type.
STATE_TYPE_KEY = "state_type"

#: A subscriber: called with ``(key, value)`` on a set and ``(key, None)`` on
#: a delete or an expiry; a function or a coroutine function.
StateCallback = Callable[[str, Any], "Awaitable[None] | None"]

_MISSING: Any = object()


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a {kind}'s name must be a non-empty str, got {name!r}")
    return name


class BaseStateManager(StateManager[T], StoreView):
    """EPHEMERAL state: R058's base manager, a view over one store.

    Args:
        store: by default a new in-process
            :class:`~pepperflow.stores.MemoryStore`; or a pepperflow store
            or an R055 memory store (the application's: it opens and closes
            it; a memory store lends its store), a store URL, a SQLite file
            path, or ``make(name) -> Store`` (the manager then owns the
            store it builds, named after the manager).
        name: the manager's name: the namespace of a store it builds, the
            ``manager`` label of its metrics.
        metrics: where ``state_manager_<operation>`` counters go (a
            :class:`~pepperflow.MetricsRegistry` the application owns);
            none are recorded without it.

    Metrics: ``state_manager_get`` (``success="false", reason="not_found"``
    on a miss), ``state_manager_set``, ``state_manager_delete``
    (``reason="not_found"``), ``state_manager_notify`` (shared managers'
    callbacks); any operation that raises is counted with
    ``success="false"`` and the exception's class name as ``reason``.
    """

    #: The state type this manager keeps.
    state_type: ClassVar[StateType] = StateType.EPHEMERAL

    def __init__(
        self,
        store: StoreSpec | BaseMemoryStore[Any] | None = None,
        *,
        name: str = "default",
        metrics: MetricsSink | None = None,
    ) -> None:
        self._setup_owned(store, name, metrics)

    # -- construction ----------------------------------------------------------

    def _default_store(self) -> StoreSpec:
        return MemoryStore

    def _setup_owned(self, spec: object, name: str, metrics: MetricsSink | None) -> None:
        kind = type(self).__name__
        _check_name(kind, name)
        if spec is None:
            spec = self._default_store()
        if isinstance(spec, BaseMemoryStore):
            spec = spec.store  # an R055 memory store lends its store (it stays its owner)
        owner = f"{kind} {name!r}"
        store, make = resolve(spec, name, what=f"{kind}(store=...)")
        runner = None if make is None else Runner(owner)
        binding = StoreBinding(owner, store, make=make, runner=runner)
        self._setup(name, binding, runner, metrics)

    @classmethod
    def _bound(cls, name: str, binding: StoreBinding, metrics: MetricsSink | None) -> Self:
        """A manager over ``binding`` (made by a factory, which runs the store)."""
        manager = cls.__new__(cls)
        manager._setup(name, binding, None, metrics)
        return manager

    def _setup(
        self,
        name: str,
        binding: StoreBinding,
        own_runner: Runner | None,
        metrics: MetricsSink | None,
    ) -> None:
        self.name = name
        self._init_view(binding, own_runner, metrics, "state_manager", {"manager": name})

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} over {self.store!r}>"

    # -- R058 --------------------------------------------------------------------

    async def get(self, key: str, default: T | None = None) -> T | None:
        try:
            store = await self._binding.use()
            value: T = await store.get(key, _MISSING)
        except BaseException as exc:
            self._failed("get", exc)
            raise
        if value is _MISSING:
            self._record("get", False, reason="not_found")
            return default
        self._record("get", True)
        return value

    async def set(
        self,
        key: str,
        value: T,
        type: StateType | None = None,
        metadata: Mapping[str, Any] | None = None,
        *,
        ttl: float | timedelta | None = None,
    ) -> None:
        """Set ``key`` to ``value``; see :meth:`StateManager.set`.

        ``ttl`` (seconds or a timedelta) makes the key expire; its expiry is
        a change like a delete.
        """
        try:
            meta = self._metadata(key, type, metadata)
            store = await self._binding.use()
            await store.set(key, value, ttl=ttl, metadata=meta)
        except BaseException as exc:
            self._failed("set", exc)
            raise
        self._record("set", True)

    async def delete(self, key: str) -> bool:
        return await self._delete(key)

    async def exists(self, key: str) -> bool:
        return await self._exists(key)

    async def list(
        self, pattern: str | None = None, type: StateType | None = None
    ) -> builtins.list[str]:
        try:
            kind = None if type is None else as_state_type(type)
            store = await self._binding.use()
            keys: builtins.list[str] = []
            async for key in store.scan(pattern):
                if kind is not None:
                    entry = await store.entry(key)
                    if entry is None or self._type_of(entry) is not kind:
                        continue
                keys.append(key)
        except BaseException as exc:
            self._failed("list", exc)
            raise
        keys.sort()
        return keys

    async def entry(self, key: str) -> StateEntry[T] | None:
        try:
            store = await self._binding.use()
            entry = await store.entry(key)
        except BaseException as exc:
            self._failed("entry", exc)
            raise
        if entry is None:
            return None
        metadata = dict(entry.metadata or {})
        metadata.pop(STATE_TYPE_KEY, None)
        return StateEntry(
            key=entry.key,
            value=entry.value,
            type=self._type_of(entry),
            metadata=metadata or None,
            created_at=_time(entry.created_at),
            updated_at=_time(entry.updated_at),
            version=entry.version,
            expires_at=None if entry.expires_at is None else _time(entry.expires_at),
        )

    # -- helpers -------------------------------------------------------------------

    def _metadata(
        self, key: str, type: object, metadata: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        kind = self.state_type if type is None else as_state_type(type)
        if kind is not self.state_type:
            raise ValueError(
                f"{self!r}: key {key!r}: this manager keeps {self.state_type.name} state,"
                f" not {kind.name}; set it on a {kind.value} manager"
                f" (factory.create_manager(name, {kind.value!r}))"
            )
        if metadata is None:
            return {STATE_TYPE_KEY: kind.value}
        if not isinstance(metadata, Mapping):
            raise TypeError(
                f"{self!r}: key {key!r}: metadata must be a mapping with str keys,"
                f" got {builtins.type(metadata).__name__}"
            )
        if STATE_TYPE_KEY in metadata:
            raise ValueError(
                f"{self!r}: key {key!r}: the metadata key {STATE_TYPE_KEY!r} is reserved"
                " for the state type; pass the type as `type=` and rename that key"
            )
        return {**metadata, STATE_TYPE_KEY: kind.value}

    def _type_of(self, entry: Entry) -> StateType:
        """The entry's state type (this manager's for entries written without one)."""
        label = (entry.metadata or {}).get(STATE_TYPE_KEY)
        try:
            return StateType(label)
        except ValueError:
            return self.state_type


class PersistentStateManager(BaseStateManager[T]):
    """PERSISTENT state: kept in a file, so it survives a restart of the process.

    Args:
        store: by default a :class:`~pepperflow.stores.SqliteStore` at
            :func:`~pepperflow.default_state_path` (``.pepperflow/state.db``
            in the working directory, or ``$PEPPERFLOW_HOME/state.db``) with
            ``name`` as its namespace; or any store spec, as for
            :class:`BaseStateManager` (an R055 memory store is accepted too:
            its store is used).
        name: the manager's name (the namespace in the file).
        metrics: see :class:`BaseStateManager`.
    """

    state_type = StateType.PERSISTENT

    def _default_store(self) -> StoreSpec:
        return default_state_path()


class _Watch:
    """One subscription of a shared manager: a key (or a pattern) and a callback."""

    __slots__ = ("callback", "key", "pattern", "subscription")

    def __init__(self, key: str | None, pattern: str | None, callback: StateCallback) -> None:
        self.key = key
        self.pattern = pattern
        self.callback = callback
        self.subscription: Any = None


def _escape(key: str) -> str:
    """``key`` as a pattern matching the keys that start with it, literally."""
    return "".join("\\" + c if c in "\\*?[" else c for c in key)


class SharedStateManager(BaseStateManager[T]):
    """SHARED state, with subscriptions to its changes.

    Every manager over the same store sees the same keys: by default an
    in-process :class:`~pepperflow.stores.MemoryStore` (shared through the
    factory, which returns one manager per name), or a Redis URL to share
    it with other processes.

    ``subscribe(key, callback)`` calls ``callback(key, value)`` after each
    set of exactly ``key``, and ``callback(key, None)`` after its delete or
    expiry, whichever process wrote it; ``subscribe_pattern(pattern,
    callback)`` does so for every key matching ``pattern``. Callbacks (sync
    or async) are awaited, in commit order, before the write that caused
    them returns in this process (a write in another process reaches them
    soon after). A callback that raises is logged (the ``"pepperflow"``
    logger), counted (``store.statistics().callback_errors`` and
    ``state_manager_notify`` with ``success="false"``), and never reaches
    the writer or the other callbacks.

    Subscriptions made before the store is open (a store that must run,
    like a RedisStore) start when it opens: on the first operation or
    ``await manager.open()``.

    Args:
        namespace: the manager's name (R058's ``namespace``): the namespace
            of a store it builds.
        store: by default a new in-process MemoryStore; or any store spec,
            as for :class:`BaseStateManager` (``"redis://host:6379/0"``).
        metrics: see :class:`BaseStateManager`.
    """

    state_type = StateType.SHARED

    def __init__(
        self,
        namespace: str = "default",
        *,
        store: StoreSpec | BaseMemoryStore[Any] | None = None,
        metrics: MetricsSink | None = None,
    ) -> None:
        self._setup_owned(store, namespace, metrics)

    def _setup(
        self,
        name: str,
        binding: StoreBinding,
        own_runner: Runner | None,
        metrics: MetricsSink | None,
    ) -> None:
        super()._setup(name, binding, own_runner, metrics)
        self._watches: builtins.list[_Watch] = []
        binding.on_ready = self._attach_all

    @property
    def namespace(self) -> str:
        """R058's name for the manager's name."""
        return self.name

    def subscribe(self, key: str, callback: StateCallback) -> None:
        """Call ``callback(key, value)`` on every change of exactly ``key``.

        Subscribing the same callback twice calls it twice.

        Raises:
            InvalidKey: ``key`` is not a non-empty str.
            TypeError: ``callback`` is not callable.
        """
        check_key(self.name, key)
        self._watch(_Watch(key, _escape(key), self._checked(callback)))

    def unsubscribe(self, key: str, callback: StateCallback) -> None:
        """Remove one subscription of ``callback`` to ``key``.

        Raises:
            ValueError: ``callback`` is not subscribed to ``key``.
        """
        self._unwatch(key, None, callback)

    def subscribe_pattern(self, pattern: str | None, callback: StateCallback) -> None:
        """Call ``callback(key, value)`` on every change of a key matching ``pattern``.

        ``pattern`` follows the one rule (a plain string is a prefix, ``*``,
        ``?`` and ``[...]`` a glob over the whole key); ``None`` matches
        every key.

        Raises:
            InvalidPattern: a malformed glob.
            TypeError: ``callback`` is not callable.
        """
        compile_pattern(pattern)
        self._watch(_Watch(None, pattern, self._checked(callback)))

    def unsubscribe_pattern(self, pattern: str | None, callback: StateCallback) -> None:
        """Remove one subscription of ``callback`` to ``pattern``.

        Raises:
            ValueError: ``callback`` is not subscribed to ``pattern``.
        """
        self._unwatch(None, pattern, callback)

    def subscriptions(self) -> builtins.list[tuple[str, str, StateCallback]]:
        """The subscriptions, oldest first: ``("key", key, callback)`` or ``("pattern", ...)``."""
        return [
            ("key", w.key, w.callback)
            if w.key is not None
            else ("pattern", w.pattern or "", w.callback)
            for w in self._watches
        ]

    # -- helpers -------------------------------------------------------------------

    def _checked(self, callback: object) -> StateCallback:
        if not callable(callback):
            raise TypeError(
                f"{self!r}: a subscriber must be callable as callback(key, value),"
                f" got {builtins.type(callback).__name__}: {callback!r}"
            )
        if self._binding.closed:
            raise anyio.ClosedResourceError(f"{self!r} is closed")
        return callback

    def _watch(self, watch: _Watch) -> None:
        self._watches.append(watch)
        if self._binding.usable:
            self._attach(self._binding.store, watch)

    def _unwatch(self, key: str | None, pattern: str | None, callback: StateCallback) -> None:
        for i, watch in enumerate(self._watches):
            same = watch.key == key and (key is not None or watch.pattern == pattern)
            if same and watch.callback == callback:
                del self._watches[i]
                if watch.subscription is not None:
                    watch.subscription.unsubscribe()
                return
        what = f"key {key!r}" if key is not None else f"pattern {pattern!r}"
        raise ValueError(f"{self!r}: {callback!r} is not subscribed to {what}")

    def _attach_all(self, store: Store) -> None:
        for watch in self._watches:
            if watch.subscription is None:
                self._attach(store, watch)

    def _attach(self, store: Store, watch: _Watch) -> None:
        exact, callback, record = watch.key, watch.callback, self._record

        async def deliver(change: Change) -> None:
            if exact is not None and change.key != exact:
                return
            value = change.value if type(change) is SetChange else None
            try:
                result = callback(change.key, value)
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:
                record("notify", False, reason=type(exc).__name__)
                raise
            record("notify", True)

        watch.subscription = store.subscribe(watch.pattern, deliver)
