"""StateManagerFactory: one state manager per name, over the stores chosen per state type.

::

    async with StateManagerFactory(shared="redis://127.0.0.1:6379/0") as factory:
        settings = factory.create_manager("settings", "persistent")
        await settings.set("theme", "dark")  # in .pepperflow/state.db

The factory builds each manager's store from the spec given for its type
(see :mod:`pepperflow._store_specs`), named after the manager, and runs and
closes the stores it built. Defaults:

* EPHEMERAL: ``"memory://"``, an in-process MemoryStore per manager;
* PERSISTENT: a SqliteStore in :func:`~pepperflow.default_state_path`
  (``.pepperflow/state.db`` in the working directory, or
  ``$PEPPERFLOW_HOME/state.db``), one namespace per manager;
* SHARED: ``"memory://"``, shared within the process through this factory;
  give a Redis URL to share it across processes.
"""

from __future__ import annotations

import builtins
from typing import Any, Literal, Self, TypeVar, overload

import anyio
import anyio.abc

from .._binding import StoreBinding
from .._runner import Runner, close_each
from .._store_specs import StoreSpec, check_spec, default_state_path, resolve, type_name
from ..sinks.metrics import MetricsSink
from ..sinks.metrics._meter import store_registry
from ._types import StateType, as_state_type
from .managers import BaseStateManager, PersistentStateManager, SharedStateManager

__all__ = ["StateManagerFactory"]

T = TypeVar("T")

_KINDS: dict[StateType, type[BaseStateManager[Any]]] = {
    StateType.EPHEMERAL: BaseStateManager,
    StateType.PERSISTENT: PersistentStateManager,
    StateType.SHARED: SharedStateManager,
}


def _same(
    manager: BaseStateManager[Any], kind: StateType, value_type: Any
) -> BaseStateManager[Any]:
    """``manager`` (made earlier under its name) if it keeps ``kind`` and ``value_type``."""
    name = manager.name
    if manager.state_type is not kind:
        raise ValueError(
            f"state manager {name!r} exists and keeps {manager.state_type.name}"
            f" state; give the {kind.name} one another name"
        )
    if value_type is not Any and manager.value_type != value_type:
        raise TypeError(
            f"state manager {name!r} exists and keeps values of type"
            f" {type_name(manager.value_type)}, not {type_name(value_type)}; give this one"
            " another name"
        )
    return manager


class StateManagerFactory(anyio.abc.AsyncResource):
    """Makes (once per name) and closes the state managers of an application.

    Args:
        ephemeral: the store spec of EPHEMERAL managers (``"memory://"``).
        persistent: the store spec of PERSISTENT managers; by default a
            SQLite file at :func:`~pepperflow.default_state_path`, read
            when the factory is made.
        shared: the store spec of SHARED managers (``"memory://"``; a
            ``redis://`` URL shares them across processes).
        metrics: the metrics sink every manager records into (none by
            default). When it is a :class:`~pepperflow.MetricsRegistry`, the
            stores the factory builds report the standard store metrics
            into it too (one series per manager's store, labelled with its
            name); another :class:`~pepperflow.MetricsSink` gets the
            managers' operations only.

    A store spec is a store URL or a SQLite file path (each manager gets a
    store of its own, named after it: ``?namespace=app`` in the URL makes
    it ``app:<manager>``), a function ``make(name) -> Store``, or a
    pepperflow store (every manager of that type is a view of that one
    store, which the application opens and closes).

    Use ``async with StateManagerFactory(...) as factory:``: the stores
    the factory builds run in its task group and close with it. Without
    ``async with`` (a notebook, a REPL) a store that must run (SQLite,
    Redis) is opened on first use in a host task of its own, detached from
    the task that used it, and ``await factory.aclose()``, from any task
    (a later cell), closes it; the end of the event loop's run closes what
    was left open.
    """

    def __init__(
        self,
        *,
        ephemeral: StoreSpec = "memory://",
        persistent: StoreSpec | None = None,
        shared: StoreSpec = "memory://",
        metrics: MetricsSink | None = None,
    ) -> None:
        if persistent is None:
            persistent = default_state_path()
        for what, spec in (
            ("ephemeral", ephemeral),
            ("persistent", persistent),
            ("shared", shared),
        ):
            check_spec(spec, what=f"StateManagerFactory({what}=...)")
        self._specs: dict[StateType, StoreSpec] = {
            StateType.EPHEMERAL: ephemeral,
            StateType.PERSISTENT: persistent,
            StateType.SHARED: shared,
        }
        self.metrics = metrics
        self._runner = Runner("StateManagerFactory")
        self._managers: dict[str, BaseStateManager[Any]] = {}

    def __repr__(self) -> str:
        return f"<StateManagerFactory {len(self._managers)} managers>"

    @overload
    def create_manager(
        self, name: str, type: Literal[StateType.PERSISTENT, "persistent"]
    ) -> PersistentStateManager[Any]: ...

    @overload
    def create_manager(
        self,
        name: str,
        type: Literal[StateType.PERSISTENT, "persistent"],
        *,
        value_type: builtins.type[T],
    ) -> PersistentStateManager[T]: ...

    @overload
    def create_manager(
        self, name: str, type: Literal[StateType.SHARED, "shared"]
    ) -> SharedStateManager[Any]: ...

    @overload
    def create_manager(
        self, name: str, type: Literal[StateType.SHARED, "shared"], *, value_type: builtins.type[T]
    ) -> SharedStateManager[T]: ...

    @overload
    def create_manager(
        self, name: str, type: StateType | str = StateType.EPHEMERAL
    ) -> BaseStateManager[Any]: ...

    @overload
    def create_manager(
        self,
        name: str,
        type: StateType | str = StateType.EPHEMERAL,
        *,
        value_type: builtins.type[T],
    ) -> BaseStateManager[T]: ...

    def create_manager(
        self, name: str, type: StateType | str = StateType.EPHEMERAL, *, value_type: Any = Any
    ) -> BaseStateManager[Any]:
        """The manager named ``name`` keeping state of ``type``, made on first call.

        The same name returns the same manager. Its store is opened on its
        first operation (or ``await manager.open()``). ``value_type`` is
        the type of its values (``Any`` by default), as ``type=`` of
        :class:`~pepperflow.BaseStateManager`: a store the factory builds
        keeps that type; a store given to the factory must have it.

        Raises:
            ValueError: an unknown type, an empty name, or a name already
                used by a manager of another type.
            TypeError: a name already used by a manager of another
                ``value_type``, or a given store of another type.
            anyio.ClosedResourceError: the factory is closed.
        """
        if self._runner.closed:
            raise anyio.ClosedResourceError("this StateManagerFactory is closed")
        kind = as_state_type(type)
        if not isinstance(name, str) or not name:
            raise ValueError(f"a state manager's name must be a non-empty str, got {name!r}")
        manager = self._managers.get(name)
        if manager is not None:
            return _same(manager, kind, value_type)
        cls = _KINDS[kind]
        owner = f"{cls.__name__} {name!r}"
        store, make = resolve(
            self._specs[kind],
            name,
            what=f"StateManagerFactory({kind.value}=...)",
            value_type=value_type,
            metrics=store_registry(self.metrics),
        )
        binding = StoreBinding(
            owner, store, make=make, runner=None if make is None else self._runner
        )
        manager = self._managers[name] = cls._bound(name, binding, self.metrics)
        return manager

    async def __aenter__(self) -> Self:
        """Run the factory's task group for the block (refused when it runs already)."""
        await self._runner.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._runner.end_block()
        await self.aclose()

    async def aclose(self) -> None:
        """Close every manager, the last made first, and the stores the factory built.

        Idempotent. Stores given as they are stay open (the application's).
        One failure to close is raised as itself, several as one
        ``ExceptionGroup``.
        """
        self._runner.refuse()
        try:
            managers = reversed(list(self._managers.values()))
            await close_each((repr(manager), manager.aclose) for manager in managers)
        finally:
            await self._runner.aclose()
