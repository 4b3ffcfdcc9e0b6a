"""R058's vocabulary: StateType, StateEntry and the StateManager contract."""

from __future__ import annotations

import builtins
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Generic, TypeVar

__all__ = ["StateEntry", "StateManager", "StateType", "as_state_type"]

T = TypeVar("T")


class StateType(Enum):
    """Where a piece of state lives and who sees it.

    * ``EPHEMERAL``: in process memory; gone when the process ends.
    * ``PERSISTENT``: in a SQLite file by default; survives restarts.
    * ``SHARED``: seen, with its changes, by every manager of the same name
      that shares its store (across processes when that store is Redis).
    """

    EPHEMERAL = "ephemeral"
    PERSISTENT = "persistent"
    SHARED = "shared"


def as_state_type(value: object) -> StateType:
    """``value`` as a :class:`StateType` (a member, or its value: ``"persistent"``).

    Raises:
        ValueError: any other value.
    """
    if isinstance(value, StateType):
        return value
    if isinstance(value, str):
        try:
            return StateType(value.lower())
        except ValueError:
            pass
    raise ValueError(
        f"unknown state type {value!r}; use StateType.EPHEMERAL, StateType.PERSISTENT or"
        " StateType.SHARED (or 'ephemeral', 'persistent', 'shared')"
    )


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StateEntry(Generic[T]):
    """A key's state with its bookkeeping (``await manager.entry(key)``).

    Times are timezone-aware UTC datetimes, taken from the store's change
    log: ``created_at`` when the key was created, ``updated_at`` when it was
    last set, ``expires_at`` its deadline (``None`` without a ttl).
    ``version`` is 1 for a new key and grows by one per set. ``metadata``
    is what the last set passed (``None`` when it passed none). Defaults,
    for entries built by hand, are taken when the entry is made.
    """

    key: str
    value: T
    type: StateType
    metadata: dict[str, Any] | None = None
    created_at: datetime = field(default_factory=_now)
    updated_at: datetime = field(default_factory=_now)
    version: int = 1
    expires_at: datetime | None = None


class StateManager(ABC, Generic[T]):
    """The state contract of R058: values by key, with a type, metadata and versions.

    Implementations: :class:`~pepperflow.BaseStateManager` (ephemeral),
    :class:`~pepperflow.PersistentStateManager`,
    :class:`~pepperflow.SharedStateManager`, all views over a pepperflow
    store. Keys are non-empty ``str``; values and metadata anything msgspec
    encodes.
    """

    @abstractmethod
    async def get(self, key: str, default: T | None = None) -> T | None:
        """Return the value of ``key``, or ``default`` when it is absent or expired.

        Raises:
            InvalidKey: ``key`` is not a non-empty str.
        """

    @abstractmethod
    async def set(
        self,
        key: str,
        value: T,
        type: StateType | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Set ``key`` to ``value``; its version grows by one.

        ``type`` defaults to the manager's own type; a manager refuses a type
        it does not keep. ``metadata`` replaces the previous metadata.

        Raises:
            InvalidKey, UnencodableValue: bad input; nothing stored.
            ValueError: a type this manager does not keep.
        """

    @abstractmethod
    async def delete(self, key: str) -> bool:
        """Delete ``key``; return whether it was present."""

    @abstractmethod
    async def exists(self, key: str) -> bool:
        """Return whether ``key`` is present (and not expired)."""

    @abstractmethod
    async def list(
        self, pattern: str | None = None, type: StateType | None = None
    ) -> builtins.list[str]:
        """The keys matching ``pattern`` (and of ``type`` when given), sorted.

        A plain pattern is a prefix; ``*``, ``?`` and ``[...]`` make a glob
        over the whole key; ``\\`` escapes (the rule of every pepperflow store).

        Raises:
            InvalidPattern: a malformed glob.
        """

    @abstractmethod
    async def entry(self, key: str) -> StateEntry[T] | None:
        """Return the :class:`StateEntry` of ``key``, or ``None`` when it is absent."""
