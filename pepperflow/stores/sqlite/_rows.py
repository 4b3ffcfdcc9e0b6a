"""The changelog's rows as the store's typed changes, and the rows that no longer fit.

Every row is read with the store's codec (:attr:`Store.codec
<pepperflow.stores.Store.codec>`): a set decodes as ``SetChange[T, M]``
with msgspec's typed decoder, so the same ``T`` comes back at open, from
other processes, from ``changes_since`` and in a replay.

A set row whose value or metadata no longer decodes as the store's types
(the file was written with another ``type=``) must neither stop the store
from opening nor hide the key: its version, ``seq`` and deadline still
order every later write. Such a row becomes an :class:`UndecodableSet`: the
key keeps its place in the state with its bookkeeping, and reading its
``value`` or ``metadata`` raises :class:`~pepperflow.UndecodableValue`
naming the store and the key (the codec's message). A row that is not a
change at all (corrupt bytes) raises :class:`BrokenRow` naming its key.
"""

from __future__ import annotations

from typing import Any, NoReturn, Protocol

import msgspec

from ..._errors import UndecodableValue
from ...streams.events import Change, SetChange

__all__ = ["BrokenRow", "DecodeChange", "UndecodableSet", "decode_rows"]


class DecodeChange(Protocol):
    """The codec's change decoder: ``decode(data, key)``, the key (when
    known) named by the error it raises for bytes that do not decode."""

    def __call__(self, data: bytes, key: str | None = None, /) -> Change: ...


# The value field's own slot: in an UndecodableSet it holds the message,
# behind the property that raises it.
_VALUE_SLOT: Any = vars(SetChange)["value"]
# A set's bookkeeping, its value and metadata left as bytes (never decoded).
_ENVELOPE = msgspec.msgpack.Decoder(SetChange[msgspec.Raw, msgspec.Raw])


class UndecodableSet(SetChange[Any, Any], frozen=True, tag="set", tag_field="kind"):
    """A stored set whose value or metadata does not decode as the store's types.

    Its key, version, ``seq``, times and ``expires_at`` are the row's; its
    ``value`` slot holds why it did not decode. Reading ``value`` or
    ``metadata`` raises :class:`~pepperflow.UndecodableValue` with that
    message (it names the store and the key). It is a :class:`SetChange`
    (a subclass), so :func:`pepperflow.streams.apply` and ``fold`` keep its
    key as a live entry.
    """

    @property  # type: ignore[misc]  # mypy lets only an attribute override a field
    def value(self) -> NoReturn:
        raise UndecodableValue(_VALUE_SLOT.__get__(self))

    @property  # type: ignore[misc]
    def metadata(self) -> NoReturn:
        raise UndecodableValue(_VALUE_SLOT.__get__(self))


class BrokenRow(UndecodableValue):
    """A changelog row that is not a change at all: corrupt bytes, or another record.

    Attributes:
        key: the row's key.
        reason: what msgspec found wrong with it.
    """

    def __init__(self, key: str, reason: str, message: str | None = None) -> None:
        self.key = key
        self.reason = reason
        super().__init__(message or f"the changelog row of key {key!r} is not a change: {reason}")


def decode_rows(decode: DecodeChange, rows: list[tuple[str, bytes]]) -> list[Change]:
    """Decode changelog rows ``(key, data)``; a set that does not fit is an :class:`UndecodableSet`.

    Raises:
        BrokenRow: a row is not a change.
    """
    try:
        return [decode(data, key) for key, data in rows]
    except (UndecodableValue, TypeError):
        # rare: decode row by row, marking the sets that do not fit, naming a broken row
        return [_decode_row(decode, key, data) for key, data in rows]


def _decode_row(decode: DecodeChange, key: str, data: bytes) -> Change:
    try:
        return decode(data, key)
    except TypeError as error:  # not even bytes
        raise BrokenRow(key, str(error)) from error
    except UndecodableValue as error:
        try:
            raw = _ENVELOPE.decode(data)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError):
            # not a set that lost its type: the codec's message names the store and key
            raise BrokenRow(key, str(error.__cause__ or error), str(error)) from error
        return UndecodableSet(
            raw.store,
            raw.key,
            raw.version,
            raw.seq,
            raw.committed_at,
            str(error),
            raw.created_at,
            None,
            raw.expires_at,
        )
