"""R058's base state manager: EPHEMERAL state, a view over one pepperflow store.

A manager maps R058's methods onto a :class:`~pepperflow.stores.Store`: a
value is the store's value, its version, times and expiry are the store's,
and its state type is kept in the entry's metadata under ``"state_type"``
(the key is reserved). Every write is one change in the store's change
feed, so ``manager.store.changes()`` and ``manager.store.subscribe()`` see
the state's sets, deletes and expiries. :mod:`pepperflow.state.managers`
builds the PERSISTENT and SHARED managers on this one.

A manager that builds its store (no store given, or a URL or path) owns it:
``async with manager:`` runs it for a block; without it, the store opens
on first use and ``await manager.aclose()`` closes it (see
:mod:`pepperflow._runner` for the rule on tasks).
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Self, TypeVar, overload

from .._binding import StoreBinding
from .._runner import Runner
from .._store_specs import StoreSpec, default_memory, resolve
from .._view import StoreView, view_meter
from ..memory.stores import BaseMemoryStore
from ..sinks.metrics import MetricsRegistry, MetricsSink
from ..sinks.metrics._meter import measured, store_registry
from ..stores.base import Entry
from ._types import StateEntry, StateManager, StateType, as_state_type

__all__ = ["STATE_TYPE_KEY", "BaseStateManager"]

T = TypeVar("T")

#: The metadata key where a manager keeps an entry's state type.
STATE_TYPE_KEY = "state_type"

_MISSING: Any = object()


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"a {kind}'s name must be a non-empty str, got {name!r}")
    return name


def _found(value: object) -> str:
    return "not_found" if value is _MISSING else "ok"


class BaseStateManager(StoreView, StateManager[T]):
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
        type: the values' type (``Any`` by default): a store the manager
            builds keeps values of that type, so ``get``, ``entry`` and the
            callbacks give ``type`` instances on every backend, after a
            restart and in other processes, and a value that is not one is
            refused (:class:`~pepperflow.InvalidValue`). A store given as it
            is must have been built with the same ``type=``; without
            ``type=`` the manager keeps the store's type.
        metrics: where the manager's operations are recorded (a
            :class:`~pepperflow.MetricsRegistry` the application owns);
            none are recorded without it. A store the manager builds (by
            default, or from a URL or a path) reports the standard store
            metrics into it too when it is a ``MetricsRegistry``; another
            :class:`~pepperflow.MetricsSink` gets the operations only.

    Metrics (see :mod:`pepperflow.sinks.metrics._meter`): the counter
    ``pepperflow_operations`` and the histogram
    ``pepperflow_operation_seconds``, labelled ``component="state"``,
    ``manager`` (its name), ``operation`` (``get``, ``set``, ``delete``,
    ``exists``, ``list``, ``entry``; ``notify`` for a shared manager's
    callbacks) and ``outcome``: ``"ok"``, ``"not_found"`` for a ``get`` or
    ``delete`` of a key absent or expired, or the class name of the
    exception an operation (or a callback) raised.
    """

    #: The state type this manager keeps.
    state_type: ClassVar[StateType] = StateType.EPHEMERAL

    @overload
    def __init__(
        self: BaseStateManager[Any],
        store: StoreSpec | BaseMemoryStore[Any] | None = None,
        *,
        name: str = "default",
        metrics: MetricsSink | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        store: StoreSpec | BaseMemoryStore[Any] | None = None,
        *,
        name: str = "default",
        type: builtins.type[T],
        metrics: MetricsSink | None = None,
    ) -> None: ...

    def __init__(
        self,
        store: StoreSpec | BaseMemoryStore[Any] | None = None,
        *,
        name: str = "default",
        type: Any = Any,
        metrics: MetricsSink | None = None,
    ) -> None:
        self._setup_owned(store, name, metrics, type)

    # -- construction ----------------------------------------------------------

    def _default_store(self, value_type: Any, metrics: MetricsRegistry | None) -> StoreSpec:
        return default_memory(value_type, metrics)

    def _setup_owned(
        self, spec: object, name: str, metrics: MetricsSink | None, value_type: Any
    ) -> None:
        kind = type(self).__name__
        _check_name(kind, name)
        if isinstance(value_type, StateType):
            raise TypeError(
                f"{kind}(type=...) is the values' type (e.g. str, or a msgspec Struct);"
                f" a {kind} keeps {self.state_type.name} state: to keep {value_type.name}"
                f" state use a {value_type.value} manager"
            )
        registry = store_registry(metrics)
        if spec is None:
            spec = self._default_store(value_type, registry)
        if isinstance(spec, BaseMemoryStore):
            spec = spec.store  # an R055 memory store lends its store (it stays its owner)
        owner = f"{kind} {name!r}"
        what = f"{kind}(store=...)"
        store, make = resolve(spec, name, what=what, value_type=value_type, metrics=registry)
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
        self._init_view(binding, own_runner, view_meter(metrics, "state", manager=name))
        self._bind(binding)

    def _bind(self, binding: StoreBinding) -> None:
        """What the manager does with its binding once set up (a shared one: callbacks)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} over {self.store!r}>"

    # -- R058 --------------------------------------------------------------------

    async def get(self, key: str, default: T | None = None) -> T | None:
        value: T = await self._get(key)
        return default if value is _MISSING else value

    @measured("get", outcome=_found)
    async def _get(self, key: str) -> Any:
        """The value of ``key``, or ``_MISSING``."""
        store = self._binding.ready or await self._binding.open()
        return await store.get(key, _MISSING)

    @measured("set")
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
        meta = self._metadata(key, type, metadata)
        store = self._binding.ready or await self._binding.open()
        await store.set(key, value, ttl=ttl, metadata=meta)

    @measured("list")
    async def list(
        self, pattern: str | None = None, type: StateType | None = None
    ) -> builtins.list[str]:
        kind = None if type is None else as_state_type(type)
        store = self._binding.ready or await self._binding.open()
        keys: builtins.list[str] = []
        async for key in store.scan(pattern):
            if kind is not None:
                entry = await store.entry(key)
                if entry is None or self._type_of(entry) is not kind:
                    continue
            keys.append(key)
        keys.sort()
        return keys

    @measured("entry")
    async def entry(self, key: str) -> StateEntry[T] | None:
        store = self._binding.ready or await self._binding.open()
        entry = await store.entry(key)
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

    def _type_of(self, entry: Entry[Any]) -> StateType:
        """The entry's state type (this manager's for entries written without one)."""
        label = (entry.metadata or {}).get(STATE_TYPE_KEY)
        try:
            return StateType(label)
        except ValueError:
            return self.state_type
