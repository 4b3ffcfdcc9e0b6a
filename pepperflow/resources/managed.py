"""managed_resource: a resource held for one call or one ``async with`` block.

::

    # R045's decorator: the method gets a resource of self.resource_manager
    class Agent:
        def __init__(self, resources: ResourceManager) -> None:
            self.resource_manager = resources

        @managed_resource("session")
        async def answer(self, session, question): ...

    # with the manager named: an async context manager, or a function decorator
    async with managed_resource("session", resources) as session: ...

    @managed_resource("session", resources)
    async def answer(session, question): ...

Each use acquires a new id ``"<kind>:<unique>"`` (or the fixed
``resource_id`` given) and releases it when the call or block ends, whether
it returns, raises or is cancelled.
"""

from __future__ import annotations

import functools
import itertools
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar, overload

from ._types import Factory, ResourceManager
from .manager import DefaultResourceManager

__all__ = ["ManagedResource", "managed_resource"]

P = ParamSpec("P")
S = TypeVar("S")
T = TypeVar("T")

# Ids unique in this process and, with the random part, across processes
# sharing a store.
_PROCESS = uuid.uuid4().hex[:12]
_COUNTER = itertools.count(1)


def _check_kind(kind: object) -> str:
    if not isinstance(kind, str) or not kind or ":" in kind:
        raise ValueError(
            f"managed_resource takes a kind, a non-empty str without ':' (e.g. 'db'), got {kind!r}"
        )
    return kind


async def _acquire(
    manager: ResourceManager, resource_id: str, factory: Factory | None, kwargs: dict[str, Any]
) -> Any:
    if factory is None:
        return await manager.acquire(resource_id, **kwargs)
    if not isinstance(manager, DefaultResourceManager):
        raise TypeError(
            f"managed_resource(factory=...) needs a DefaultResourceManager, got"
            f" {type(manager).__name__}; register the factory on the manager instead"
        )
    return await manager.acquire(resource_id, factory, **kwargs)


class _Uses:
    """What every form shares: the kind, a fixed id or none, the factory and its kwargs."""

    def __init__(
        self, kind: str, resource_id: str | None, factory: Factory | None, kwargs: dict[str, Any]
    ) -> None:
        self.kind = _check_kind(kind)
        if resource_id is not None and (not isinstance(resource_id, str) or not resource_id):
            raise ValueError(f"resource_id must be a non-empty str or None, got {resource_id!r}")
        if factory is not None and not callable(factory):
            raise TypeError(f"factory must be callable or None, got {factory!r}")
        self.resource_id = resource_id
        self.factory = factory
        self.kwargs = kwargs

    def next_id(self) -> str:
        if self.resource_id is not None:
            return self.resource_id
        return f"{self.kind}:{_PROCESS}-{next(_COUNTER)}"


class _MethodDecorator(_Uses):
    """``@managed_resource(kind)``: the method's ``self.resource_manager`` provides."""

    def __call__(
        self, func: Callable[Concatenate[S, Any, P], Awaitable[T]]
    ) -> Callable[Concatenate[S, P], Coroutine[Any, Any, T]]:
        uses = self

        @functools.wraps(func)
        async def wrapper(self: S, /, *args: P.args, **kwargs: P.kwargs) -> T:
            manager = getattr(self, "resource_manager", None)
            if not isinstance(manager, ResourceManager):
                raise TypeError(
                    f"@managed_resource({uses.kind!r}) on {func.__qualname__} needs"
                    f" self.resource_manager to be a ResourceManager, got {manager!r};"
                    " set it, or name the manager: managed_resource(kind, manager)"
                )
            resource_id = uses.next_id()
            resource = await _acquire(manager, resource_id, uses.factory, uses.kwargs)
            try:
                return await func(self, resource, *args, **kwargs)
            finally:
                await manager.release(resource_id)

        return wrapper


class ManagedResource(_Uses):
    """``managed_resource(kind, manager)``: an async context manager and a function decorator."""

    def __init__(
        self,
        kind: str,
        manager: ResourceManager,
        resource_id: str | None,
        factory: Factory | None,
        kwargs: dict[str, Any],
    ) -> None:
        super().__init__(kind, resource_id, factory, kwargs)
        if not isinstance(manager, ResourceManager):
            raise TypeError(
                f"managed_resource({kind!r}, manager): manager must be a ResourceManager,"
                f" got {type(manager).__name__}"
            )
        self.manager = manager
        self._held: str | None = None

    async def __aenter__(self) -> Any:
        """Acquire a resource; the block's end releases it."""
        if self._held is not None:
            raise RuntimeError(
                f"this managed_resource({self.kind!r}, ...) is already in use; create one"
                " per `async with` (or use it as a decorator)"
            )
        resource_id = self.next_id()
        resource = await _acquire(self.manager, resource_id, self.factory, self.kwargs)
        self._held = resource_id
        return resource

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        resource_id, self._held = self._held, None
        if resource_id is not None:
            await self.manager.release(resource_id)

    def __call__(
        self, func: Callable[Concatenate[Any, P], Awaitable[T]]
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        """Decorate ``func(resource, *args, **kwargs)``: each call gets its own resource."""
        uses = self

        @functools.wraps(func)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            resource_id = uses.next_id()
            resource = await _acquire(uses.manager, resource_id, uses.factory, uses.kwargs)
            try:
                return await func(resource, *args, **kwargs)
            finally:
                await uses.manager.release(resource_id)

        return wrapper


@overload
def managed_resource(
    resource_type: str,
    /,
    *,
    resource_id: str | None = None,
    factory: Factory | None = None,
    **kwargs: Any,
) -> _MethodDecorator: ...


@overload
def managed_resource(
    resource_type: str,
    manager: ResourceManager,
    /,
    *,
    resource_id: str | None = None,
    factory: Factory | None = None,
    **kwargs: Any,
) -> ManagedResource: ...


def managed_resource(
    resource_type: str,
    manager: ResourceManager | None = None,
    /,
    *,
    resource_id: str | None = None,
    factory: Factory | None = None,
    **kwargs: Any,
) -> _MethodDecorator | ManagedResource:
    """Hold a resource of kind ``resource_type`` for one call or one ``async with`` block.

    Without ``manager``: a decorator for methods (R045's shape): the method
    is called as ``method(self, resource, *args, **kwargs)`` with a resource
    acquired from ``self.resource_manager``. With ``manager``: an async
    context manager yielding the resource, and a decorator for functions
    called as ``func(resource, *args, **kwargs)``.

    Args:
        resource_type: the kind; each use acquires a new ``"<kind>:<unique>"``.
        manager: the resource manager to use.
        resource_id: a fixed id instead (its resource is then shared by
            concurrent uses, and released after each).
        factory: the factory for these acquires (else the kind's).
        kwargs: passed to the factory.

    Raises:
        ValueError: ``resource_type`` is not a non-empty str without ``:``.
    """
    if manager is None:
        return _MethodDecorator(resource_type, resource_id, factory, kwargs)
    return ManagedResource(resource_type, manager, resource_id, factory, kwargs)
