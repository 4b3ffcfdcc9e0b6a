"""Change events: what every store emits, one per committed write.

A change is a frozen msgspec ``Struct`` of a tagged union (tag field
``"kind"``): :class:`SetChange` (``"set"``), :class:`DeleteChange`
(``"delete"``) and :class:`ExpireChange` (``"expire"``). They encode to
msgpack and JSON and decode back with ``msgspec.msgpack.decode(data,
type=Change)``. New fields are only ever added with defaults (msgspec's
schema-evolution rules), so stored and wire changes stay readable.

Every change carries:

``store``
    the store's name (its namespace).
``key``
    the key changed.
``version``
    for a set, the key's version after it (1 for a new key, then +1 per
    set); for a delete or an expire, the version of the entry removed. A key
    that is deleted and set again starts again at 1.
``seq``
    the store-wide sequence number: strictly increasing, one per change,
    the changelog offset.
``committed_at``
    when the change was committed, in seconds since the epoch.

A set also carries ``value``, ``metadata``, ``expires_at`` (seconds since
the epoch, or ``None``) and ``created_at`` (when the key was created), so
the state of a store is the fold of its changes (:func:`fold`).
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any, Generic, TypeAlias, TypeVar

import msgspec

from .._html import record_html

__all__ = ["Change", "DeleteChange", "ExpireChange", "SetChange", "apply", "fold"]

T = TypeVar("T")
M = TypeVar("M")


class SetChange(msgspec.Struct, Generic[T, M], frozen=True, tag="set", tag_field="kind"):
    """A key was set to ``value`` (created when ``version == 1``).

    Generic in the store's value type ``T`` and metadata type ``M``: a
    store decodes its changes as ``SetChange[T, M]`` (``store.codec``).
    """

    store: str
    key: str
    version: int
    seq: int
    committed_at: float
    value: T
    created_at: float
    metadata: M | None = None
    expires_at: float | None = None

    _repr_html_ = record_html


class DeleteChange(msgspec.Struct, frozen=True, tag="delete", tag_field="kind"):
    """A key was deleted (by ``delete``, ``clear`` or ``restore``)."""

    store: str
    key: str
    version: int
    seq: int
    committed_at: float

    _repr_html_ = record_html


class ExpireChange(msgspec.Struct, frozen=True, tag="expire", tag_field="kind"):
    """A key reached its ``expires_at`` and was removed; emitted exactly once."""

    store: str
    key: str
    version: int
    seq: int
    committed_at: float

    _repr_html_ = record_html


Change: TypeAlias = SetChange[Any, Any] | DeleteChange | ExpireChange
"""Any change event; decode with ``msgspec.msgpack.decode(data, type=Change)``."""


def apply(state: MutableMapping[str, SetChange[Any, Any]], change: Change) -> None:
    """Apply one change to ``state``, a mapping of key to its latest set.

    A delete or an expire removes the key; any set (a ``SetChange`` or a
    subclass of it) becomes the key's latest.
    """
    kind = type(change)
    if kind is DeleteChange or kind is ExpireChange:
        state.pop(change.key, None)
    else:
        state[change.key] = change  # type: ignore[assignment]


def fold(changes: Iterable[Change]) -> dict[str, SetChange[Any, Any]]:
    """The state a sequence of changes leaves: the latest set per live key."""
    state: dict[str, SetChange[Any, Any]] = {}
    for change in changes:
        apply(state, change)
    return state
