"""What a provider is: its type, its metadata, its base class and its status record."""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

import msgspec

from ..stores._stored import StoredRecord

__all__ = [
    "Provider",
    "ProviderMetadata",
    "ProviderRecord",
    "ProviderStatus",
    "ProviderType",
]

T = TypeVar("T")


class ProviderType(enum.Enum):
    """What a provider provides (R084's four kinds)."""

    MEMORY = "memory"
    STORAGE = "storage"
    CAPABILITY = "capability"
    CUSTOM = "custom"


class ProviderMetadata(msgspec.Struct, frozen=True):
    """A provider's identity: its unique ``name``, ``type``, and what it offers.

    ``capabilities`` are free-form strings looked up with
    ``ProviderManager.get_providers_by_capability``; ``labels`` are str to
    str and travel with the provider's status record and metrics.

    Raises:
        ValueError: an empty ``name``.
        TypeError: a field of the wrong type (checked at construction).
    """

    name: str
    type: ProviderType
    description: str = ""
    version: str = ""
    capabilities: list[str] = []
    labels: dict[str, str] = {}

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"ProviderMetadata.name must be a non-empty str, got {self.name!r}")
        where = f"provider {self.name!r}"
        if not isinstance(self.type, ProviderType):
            raise TypeError(
                f"{where}: type must be a ProviderType (e.g. ProviderType.MEMORY),"
                f" got {self.type!r}"
            )
        for field in ("description", "version"):
            if not isinstance(getattr(self, field), str):
                raise TypeError(f"{where}: {field} must be a str, got {getattr(self, field)!r}")
        if not isinstance(self.capabilities, list) or not all(
            isinstance(c, str) for c in self.capabilities
        ):
            raise TypeError(
                f"{where}: capabilities must be a list of str, got {self.capabilities!r}"
            )
        if not isinstance(self.labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.labels.items()
        ):
            raise TypeError(f"{where}: labels must be a dict of str to str, got {self.labels!r}")


class Provider(ABC, Generic[T]):
    """A registered component with a lifecycle: LLM clients, stores, content sources.

    Subclasses implement :meth:`initialize` and :meth:`cleanup`; they may
    override :meth:`validate` (checked before :meth:`initialize`) and
    :meth:`reload`, and may define ``async def ping(self) -> None``, a health
    check that raises when the provider is unhealthy
    (``ProviderManager.check_health``).

    Args:
        metadata: the provider's :class:`ProviderMetadata`.
        config: anything the provider needs; kept as given.
    """

    def __init__(self, metadata: ProviderMetadata, config: T) -> None:
        if not isinstance(metadata, ProviderMetadata):
            raise TypeError(
                f"{type(self).__name__}: metadata must be a ProviderMetadata,"
                f" got {type(metadata).__name__}"
            )
        self._metadata = metadata
        self._config = config
        self._state: dict[str, Any] = {}

    @property
    def metadata(self) -> ProviderMetadata:
        """The provider's metadata (its name, type, capabilities, labels)."""
        return self._metadata

    @property
    def config(self) -> T:
        """The configuration the provider was created with."""
        return self._config

    @property
    def state(self) -> dict[str, Any]:
        """A dict the provider may keep its runtime state in (never persisted)."""
        return self._state

    @abstractmethod
    async def initialize(self) -> None:
        """Acquire what the provider needs; it is ready when this returns.

        If it raises (or is cancelled) the manager calls :meth:`cleanup` to
        release what was acquired so far, so :meth:`cleanup` must cope with a
        partial initialize.
        """

    @abstractmethod
    async def cleanup(self) -> None:
        """Release what :meth:`initialize` acquired.

        Must be idempotent: it may run after a failed :meth:`initialize` and
        again on a provider already cleaned up. The manager runs it shielded
        from cancellation, so a started cleanup always finishes.
        """

    async def validate(self) -> None:
        """Check the metadata and config before :meth:`initialize`; raise to refuse.

        The default accepts everything. Nothing is acquired yet when this
        runs, so a refusal needs no cleanup.
        """

    async def reload(self) -> None:
        """Re-acquire everything: :meth:`cleanup`, then :meth:`initialize`."""
        await self.cleanup()
        await self.initialize()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._metadata.name!r}>"


class ProviderStatus(enum.StrEnum):
    """Where a provider is in its lifecycle::

        registered -> initializing -> ready -> reloading -> ready
                                 \\             \\
                                  -> failed      -> failed
        ready | failed -> closed (unregistered)
    """

    REGISTERED = "registered"
    INITIALIZING = "initializing"
    READY = "ready"
    FAILED = "failed"
    RELOADING = "reloading"
    CLOSED = "closed"


class ProviderRecord(StoredRecord, frozen=True, kw_only=True):
    """A provider's status as kept in the manager's store (``provider:<name>``).

    Times are seconds since the epoch. ``error`` is the text of the last
    failure (of validate, initialize, reload, cleanup or the health check),
    ``None`` once the provider is ready again or healthy. ``healthy`` is
    ``None`` until a health check ran.
    """

    name: str
    type: ProviderType
    status: ProviderStatus
    description: str = ""
    version: str = ""
    capabilities: list[str] = msgspec.field(default_factory=list)
    labels: dict[str, str] = msgspec.field(default_factory=dict)
    registered_at: float
    changed_at: float
    error: str | None = None
    healthy: bool | None = None
    checked_at: float | None = None
