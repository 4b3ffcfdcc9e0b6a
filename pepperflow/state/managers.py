"""The PERSISTENT and SHARED state managers of R058, and the three managers' home.

* :class:`BaseStateManager` (from :mod:`pepperflow.state.base`) keeps
  EPHEMERAL state, by default in an in-process
  :class:`~pepperflow.stores.MemoryStore`.
* :class:`PersistentStateManager` keeps PERSISTENT state, by default in a
  :class:`~pepperflow.stores.SqliteStore` at
  :func:`~pepperflow.default_state_path`.
* :class:`SharedStateManager` keeps SHARED state and calls back on its
  changes, by key or by pattern (:mod:`pepperflow.state._watches`); shared
  across processes over a :class:`~pepperflow.stores.RedisStore`.
"""

from __future__ import annotations

import builtins
from typing import Any, TypeVar, overload

import anyio

from .._binding import StoreBinding
from .._patterns import compile_pattern
from .._store_specs import StoreSpec, default_state_path
from ..memory.stores import BaseMemoryStore
from ..sinks.metrics import MetricsRegistry, MetricsSink
from ..stores._checks import check_key
from ._types import StateType
from ._watches import StateCallback, Watch, Watches
from .base import STATE_TYPE_KEY, BaseStateManager

__all__ = [
    "STATE_TYPE_KEY",
    "BaseStateManager",
    "PersistentStateManager",
    "SharedStateManager",
    "StateCallback",
]

T = TypeVar("T")


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
        type: the values' type, as for :class:`BaseStateManager`: after a
            restart ``get`` gives a ``type`` instance again.
        metrics: see :class:`BaseStateManager`.
    """

    state_type = StateType.PERSISTENT

    def _default_store(self, value_type: Any, metrics: MetricsRegistry | None) -> StoreSpec:
        return default_state_path()


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
    logger), counted (``store.statistics().callback_errors``, and the
    operation ``notify`` with the exception's class name as its outcome),
    and never reaches the writer or the other callbacks.

    Subscriptions made before the store is open (a store that must run,
    like a RedisStore) start when it opens: on the first operation or
    ``await manager.open()``.

    Args:
        namespace: the manager's name (R058's ``namespace``): the namespace
            of a store it builds.
        store: by default a new in-process MemoryStore; or any store spec,
            as for :class:`BaseStateManager` (``"redis://host:6379/0"``).
        type: the values' type, as for :class:`BaseStateManager`; the
            callbacks get ``type`` instances too, from every process.
        metrics: see :class:`BaseStateManager`.
    """

    state_type = StateType.SHARED

    @overload
    def __init__(
        self: SharedStateManager[Any],
        namespace: str = "default",
        *,
        store: StoreSpec | BaseMemoryStore[Any] | None = None,
        metrics: MetricsSink | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        namespace: str = "default",
        *,
        store: StoreSpec | BaseMemoryStore[Any] | None = None,
        type: builtins.type[T],
        metrics: MetricsSink | None = None,
    ) -> None: ...

    def __init__(
        self,
        namespace: str = "default",
        *,
        store: StoreSpec | BaseMemoryStore[Any] | None = None,
        type: Any = Any,
        metrics: MetricsSink | None = None,
    ) -> None:
        self._setup_owned(store, namespace, metrics, type)

    def _bind(self, binding: StoreBinding) -> None:
        self._watches = Watches()
        binding.on_ready = self._watches.attach_all

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
        key = check_key(self.name, key)
        self._watch(key, None, callback)

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
        self._watch(None, pattern, callback)

    def unsubscribe_pattern(self, pattern: str | None, callback: StateCallback) -> None:
        """Remove one subscription of ``callback`` to ``pattern``.

        Raises:
            ValueError: ``callback`` is not subscribed to ``pattern``.
        """
        self._unwatch(None, pattern, callback)

    def subscriptions(self) -> builtins.list[tuple[str, str, StateCallback]]:
        """The subscriptions, oldest first: ``("key", key, callback)`` or ``("pattern", ...)``."""
        return self._watches.describe()

    def _watch(self, key: str | None, pattern: str | None, callback: object) -> None:
        if not callable(callback):
            raise TypeError(
                f"{self!r}: a subscriber must be callable as callback(key, value),"
                f" got {builtins.type(callback).__name__}: {callback!r}"
            )
        binding = self._binding
        if binding.closed:
            raise anyio.ClosedResourceError(f"{self!r} is closed")
        watch = Watch(key, pattern, callback, self.meter)
        self._watches.add(watch, binding.store if binding.usable else None)

    def _unwatch(self, key: str | None, pattern: str | None, callback: StateCallback) -> None:
        if not self._watches.remove(key, pattern, callback):
            what = f"key {key!r}" if key is not None else f"pattern {pattern!r}"
            raise ValueError(f"{self!r}: {callback!r} is not subscribed to {what}")
