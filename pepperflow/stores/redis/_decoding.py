"""Reading a RedisStore's stored bytes as the store's types.

Every decode of what Redis holds goes through the store's codec
(:attr:`~pepperflow.stores.base.Store.codec`): entries (``get``,
``get_many``, ``entry``, ``snapshot``, a feed's replay) and changes (a
write's or a sweep's reply, the follower's ``XREAD``, the range script),
with msgspec's typed decoders. So a ``RedisStore(type=Msg)`` gets ``Msg``
instances back whichever process wrote them, and a store without a type
gets the untyped rule of :mod:`pepperflow.stores._codec`.

Bytes that no longer fit the store's types (the namespace was written with
another type):

- a read of that key raises :class:`~pepperflow.UndecodableValue` naming
  the store and the key; other keys stay readable;
- a change that does not decode becomes a :class:`Skipped` in its place:
  the follower keeps the commit order past it, logs it on the
  ``"pepperflow"`` logger and counts it (``RedisStore.undecodable_changes``);
  subscribers and feeds never get it.

Bytes that are not msgpack at all (corrupted, or written by something
else) raise the same error from a read. A change whose bytes have no
readable ``seq`` and key cannot keep its place: it is logged and left out,
and the follower passes its seq as one missing from the changelog. Such an
entry in a snapshot is a :class:`Skipped` of seq 0 and key ``""``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, final

import msgspec

from ..._errors import UndecodableValue
from ...streams.events import Change, SetChange
from .._codec import Codec
from ._protocol import array_header

__all__ = ["Decoding", "Skipped"]

logger = logging.getLogger("pepperflow")

T = TypeVar("T")


@final
class Skipped(msgspec.Struct, frozen=True):
    """A change that does not decode as the store's types: its place in the
    commit order (``seq``), its key, and the error (naming the store and the key)."""

    seq: int
    key: str
    error: UndecodableValue


class _Value(msgspec.Struct, Generic[T]):
    """An entry's value alone (its other fields are skipped, not decoded)."""

    value: T


class _Where(msgspec.Struct):
    """Any change's seq and key (its other fields are skipped)."""

    seq: int
    key: str


_where = msgspec.msgpack.Decoder(_Where).decode


class Decoding(Generic[T]):
    """The decoders of one store's stored bytes, built from its ``codec``."""

    __slots__ = ("_change", "_changes", "_value", "entry")

    def __init__(self, codec: Codec[T]) -> None:
        value: Any = _Value
        self._value = msgspec.msgpack.Decoder(value[codec.value_type]).decode
        self._change = codec.decode_change
        self._changes = codec.decode_changes
        #: ``entry(blob, key)``: an entry (its key's last set change) as a
        #: ``SetChange[T, M]``; raises UndecodableValue naming the key.
        self.entry = codec.decode_entry

    def value(self, blob: bytes, key: str) -> T:
        """The value of the entry ``blob`` of ``key``.

        Raises:
            UndecodableValue: it is not a ``T`` (names the store and the key).
        """
        try:
            return self._value(blob).value  # type: ignore[no-any-return]
        except (msgspec.DecodeError, RecursionError):  # RecursionError: nested too deep
            self.entry(blob, key)  # raises UndecodableValue naming the store and the key
            raise

    def entry_or_skipped(self, blob: bytes) -> SetChange[T, Any] | Skipped:
        """An entry, or a :class:`Skipped` when it does not decode."""
        try:
            return self.entry(blob)  # type: ignore[no-any-return]
        except UndecodableValue as error:
            return _skipped(blob, self.entry) or Skipped(0, "", error)

    def changes(self, blobs: Sequence[bytes]) -> list[Change | Skipped]:
        """The changes of ``blobs`` (a change's msgpack each), in their order;
        a :class:`Skipped` in place of each that does not decode."""
        try:
            return self._changes(array_header(len(blobs)) + b"".join(blobs))  # type: ignore[no-any-return]
        except UndecodableValue:
            return [change for blob in blobs if (change := self._one(blob)) is not None]

    def _one(self, blob: bytes) -> Change | Skipped | None:
        try:
            return self._change(blob)  # type: ignore[no-any-return]
        except UndecodableValue as error:
            skipped = _skipped(blob, self._change)
            if skipped is None:
                logger.error("%s; subscribers and feeds skip this change", error)
            return skipped


def _skipped(blob: bytes, decode: Callable[[bytes, str], object]) -> Skipped | None:
    """The :class:`Skipped` of ``blob``, which ``decode`` refused: decoded
    again, naming its key this time, for the error. None when ``blob`` has
    no seq and key to read (it is not msgpack, or not a change at all)."""
    try:
        where = _where(blob)
    except (msgspec.DecodeError, RecursionError):
        return None
    try:
        decode(blob, where.key)
    except UndecodableValue as exc:
        return Skipped(where.seq, where.key, exc)
    raise AssertionError("unreachable: the bytes decoded the second time")
