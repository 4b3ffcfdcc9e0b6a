"""The live provider objects of one manager, by name, in order of registration.

Provider objects are not encodable, so they cannot live in the store with
their records: this is the cache of them beside the records. It knows
which names are taken (registered, or being registered by a task that has
not finished), hands out the provider registered under a name, serializes
the calls on one provider, and lets the manager wait for registrations in
flight when it closes. It holds no status: that is the records' job.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio

from .._errors import DuplicateProvider, UnknownProvider
from ._tenant import Tenant

__all__ = ["Registry"]


class Registry:
    """Registered and registering providers (as :class:`Tenant`\\ s), by name."""

    __slots__ = ("_pending", "_pending_done", "_tenants")

    def __init__(self) -> None:
        self._tenants: dict[str, Tenant] = {}
        self._pending: dict[str, Tenant] = {}
        self._pending_done: anyio.Event | None = None

    def tenants(self) -> list[Tenant]:
        """The registered providers, in order of registration."""
        return list(self._tenants.values())

    def names(self) -> list[str]:
        """The names of the registered providers, in order of registration."""
        return list(self._tenants)

    def get(self, name: str) -> Tenant | None:
        """The provider registered as ``name``, or ``None``."""
        return self._tenants.get(name)

    def registered(self, name: str) -> Tenant:
        """The provider registered as ``name``.

        Raises:
            UnknownProvider: there is none (a ValueError naming the registered ones).
            TypeError: ``name`` is not a str.
        """
        tenant = self._tenants.get(name)
        if tenant is None:
            if not isinstance(name, str):
                raise TypeError(f"provider names are str, got {type(name).__name__}: {name!r}")
            raise UnknownProvider(name, self.names())
        return tenant

    def holds(self, tenant: Tenant) -> bool:
        """Whether ``tenant`` is the provider registered under its name."""
        return self._tenants.get(tenant.name) is tenant

    def reserve(self, tenant: Tenant) -> None:
        """Take ``tenant``'s name for its registration.

        Raises:
            DuplicateProvider: the name is registered or being registered.
        """
        name = tenant.name
        if name in self._tenants or name in self._pending:
            raise DuplicateProvider(name)
        self._pending[name] = tenant

    def release(self, tenant: Tenant) -> None:
        """``tenant``'s registration ended (registered or not)."""
        del self._pending[tenant.name]
        if not self._pending and self._pending_done is not None:
            self._pending_done.set()

    def admit(self, tenant: Tenant) -> None:
        """Register ``tenant`` (reserved, initialized)."""
        self._tenants[tenant.name] = tenant

    def dismiss(self, tenant: Tenant) -> None:
        """Remove ``tenant`` from the registered providers, if it is there."""
        if self.holds(tenant):
            del self._tenants[tenant.name]

    @asynccontextmanager
    async def serialized(self, name: str) -> AsyncIterator[Tenant]:
        """Hold provider ``name``'s lock; raise ``UnknownProvider`` if it left meanwhile."""
        tenant = self.registered(name)
        async with tenant.lock:
            if not self.holds(tenant):
                raise UnknownProvider(name, self.names())
            yield tenant

    async def registrations_ended(self) -> None:
        """Wait until no registration is in flight."""
        if self._pending:
            self._pending_done = anyio.Event()
            await self._pending_done.wait()

    def __contains__(self, name: object) -> bool:
        return name in self._tenants

    def __len__(self) -> int:
        return len(self._tenants)
