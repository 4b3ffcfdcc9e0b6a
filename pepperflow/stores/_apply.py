"""Applying another store's changes, with a mark of how far: the store side of the sinks.

A write-behind or a mirror (:mod:`pepperflow.sinks`) copies the changes of
one store (the source) into another (the target). The target takes them
with :meth:`AppliesChanges.apply_changes`: a batch of the source's changes,
committed as one atomic write, together with a :class:`Mark` that records
the source's ``seq`` the target has applied up to. Because the mark commits
with the batch (in the same SQLite transaction, the same Redis script, the
same synchronous step in memory), the target's state is always the source's
state at the mark's ``seq``: a sink that restarts reads the mark
(:meth:`AppliesChanges.mark`) and resumes after it, with no gap and no
change applied twice.

Applying a change means, in the target:

- a :class:`~pepperflow.streams.SetChange` sets its key to the change's
  value and metadata, with its ``expires_at`` (the same deadline, not a new
  ttl) and its ``created_at``; one whose deadline has passed removes the key;
- a :class:`~pepperflow.streams.DeleteChange` or
  :class:`~pepperflow.streams.ExpireChange` removes the key if present (as
  an expiry if its deadline has passed here, else as a delete).

The target's versions and ``seq`` are its own. A key given twice in one
batch takes its last change only.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from typing import Any

import msgspec

from ..streams.events import Change, DeleteChange, ExpireChange, SetChange
from ._checks import check_key
from ._codec import Codec

__all__ = ["AppliesChanges", "Mark", "decode_mark", "encode_mark"]


class Mark(msgspec.Struct, frozen=True):
    """How far a sink has applied a source's changes into a store.

    ``name`` names the sink (one store may hold the marks of many);
    ``seq`` is the source's seq applied up to (every change of the source
    with a seq at or below it is in the store); ``source`` identifies the
    source (a sink resumes only from a mark of the same source).
    """

    name: str
    seq: int
    source: str = ""


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(Mark).decode


def encode_mark(mark: Mark) -> bytes:
    """A mark as a backend stores it (msgpack)."""
    return _encode(mark)


def decode_mark(data: bytes) -> Mark:
    """A mark from what :func:`encode_mark` made."""
    return _decode(data)


_KINDS = (SetChange, DeleteChange, ExpireChange)


class AppliesChanges:
    """The part of the store contract a sink writes through (see the module docstring).

    :class:`~pepperflow.stores.Store` inherits it; a backend implements
    :meth:`_apply` (one atomic commit of checked changes and the mark) and
    :meth:`_read_mark`.
    """

    name: str
    codec: Codec[Any]

    async def apply_changes(self, changes: Iterable[Change], *, mark: Mark | None = None) -> None:
        """Apply another store's ``changes`` here in one atomic commit, with ``mark``.

        Each change is one of :class:`~pepperflow.streams.SetChange`,
        :class:`~pepperflow.streams.DeleteChange` or
        :class:`~pepperflow.streams.ExpireChange`; its value and metadata
        must fit this store's types. ``mark`` (when given) is recorded in
        the same commit, so :meth:`mark` never says more was applied than
        was. An empty batch with a mark records only the mark.

        Raises:
            TypeError: an item is not a change, or ``mark`` not a :class:`Mark`.
            InvalidKey, InvalidValue, UnencodableValue: a bad change; nothing applied.
        """
        if mark is not None:
            _check_mark(self.name, mark)
        checked: dict[str, Change] = {}
        for change in changes:
            if not isinstance(change, _KINDS):
                raise TypeError(
                    f"store {self.name!r}: apply_changes() takes change events (SetChange,"
                    f" DeleteChange, ExpireChange), got {type(change).__name__}: {change!r}"
                )
            key = check_key(self.name, change.key)
            checked.pop(key, None)  # a key's last change, in the order of the last
            checked[key] = self._admit_change(key, change)
        await self._apply(list(checked.values()), mark)

    def _admit_change(self, key: str, change: Change) -> Change:
        if not isinstance(change, SetChange):
            return change if key == change.key else msgspec.structs.replace(change, key=key)
        codec = self.codec
        value = codec.admit(key, change.value, exact=False)
        meta = None if change.metadata is None else codec.admit_metadata(key, change.metadata)
        return msgspec.structs.replace(change, key=key, value=value, metadata=meta)

    async def mark(self, name: str) -> Mark | None:
        """The mark recorded under ``name`` by :meth:`apply_changes`, or ``None``.

        Raises:
            ValueError: ``name`` is not a non-empty str.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"store {self.name!r}: a mark's name is a non-empty str, got {name!r}")
        return await self._read_mark(name)

    @abstractmethod
    async def _apply(self, changes: list[Change], mark: Mark | None) -> None:
        """Commit checked ``changes`` (one per key) and ``mark`` together."""

    @abstractmethod
    async def _read_mark(self, name: str) -> Mark | None:
        """The mark stored under ``name``."""


def _check_mark(store: str, mark: object) -> None:
    if not isinstance(mark, Mark):
        raise TypeError(f"store {store!r}: mark must be a pepperflow.stores.Mark, got {mark!r}")
    if not isinstance(mark.name, str) or not mark.name:
        raise ValueError(f"store {store!r}: a mark's name is a non-empty str, got {mark.name!r}")
    if type(mark.seq) is not int or mark.seq < 0:
        raise ValueError(f"store {store!r}: a mark's seq is an int >= 0, got {mark.seq!r}")
