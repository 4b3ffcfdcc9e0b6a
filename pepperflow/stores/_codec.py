"""A store's value type: how values and metadata are checked, copied, encoded and decoded.

Every store has a :class:`Codec`. With a declared type (``type=T``) a value
is admitted only if it is a ``T`` (checked by msgspec on the value's
msgpack encoding, decoded back with a typed decoder), and every read on
every backend decodes stored bytes with msgspec's typed decoders, so the
same ``T`` comes back from memory, SQLite and Redis, after a restart, after
``restore`` and in another process.

Without a type (``Any``, the default) one rule holds on every backend: a
value comes back as msgspec decodes its msgpack encoding without a type.
Strings, bytes, numbers, booleans, ``None``, lists and dicts with str keys
come back as they went in, and timezone-aware datetimes as the same instant
in UTC; Structs, dataclasses and attrs classes come back as dicts (a tagged
Struct with its tag field); tuples, sets and frozensets as lists; naive
datetimes, ``date``, ``time``, ``UUID`` and ``Decimal`` as ISO strings;
enums as their values. A typed store gives aware datetimes back in UTC too.

Either way the store keeps a copy of its own (the admitted value), made
when the value is set: mutating the object you passed changes nothing in
the store. What ``get`` returns is the store's copy, shared by every
reader in the process: treat it as read-only (frozen Structs and tuples
make that a guarantee).
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any, Generic, TypeVar

import attrs
import msgspec

from .._errors import NOT_UNICODE_FIX, InvalidValue, UndecodableValue, UnencodableValue
from ..streams.events import DeleteChange, ExpireChange, SetChange
from ._checks import check_key
from ._records import Entry

__all__ = ["Codec", "Metadata", "SCALARS", "INT_MAX", "INT_MIN"]

T = TypeVar("T")

#: The metadata type of a store without ``metadata_type=``.
Metadata = dict[str, Any]

# Immutable values that come back as they went in on every backend (no copy).
SCALARS: frozenset[type] = frozenset({str, bytes, float, bool, type(None)})
INT_MIN, INT_MAX = -(2**63), 2**64 - 1

_ENCODER = msgspec.msgpack.Encoder()
_ENCODE = _ENCODER.encode
_ENCODE_ERRORS = (TypeError, OverflowError, ValueError, RecursionError)


def _is_record_class(kind: Any) -> bool:
    return isinstance(kind, type) and (
        issubclass(kind, msgspec.Struct) or dataclasses.is_dataclass(kind) or attrs.has(kind)
    )


def _type_name(kind: Any) -> str:
    """A type as messages name it: ``Msg``, ``tuple[int, str]``, ``Text | Image``."""
    args, origin = typing.get_args(kind), typing.get_origin(kind)
    if kind is Ellipsis or kind is None or kind is type(None):
        return "..." if kind is Ellipsis else "None"
    if origin in (typing.Union, types.UnionType):
        return " | ".join(map(_type_name, args))
    if origin is typing.Literal:
        return repr(kind).removeprefix("typing.")
    if not args:
        return getattr(kind, "__qualname__", None) or repr(kind)
    return f"{_type_name(origin)}[{', '.join(map(_type_name, args))}]"


class Codec(Generic[T]):
    """The value and metadata types of one store, and their encoders and decoders.

    Args:
        store: the store's name, for errors.
        value_type: the values' type (``Any``: untyped, see the module docstring).
        metadata_type: the metadata's type (a dict of str keys by default).
    """

    __slots__ = (
        "_metadata",
        "_record",
        "_untyped",
        "_value",
        "decode_change",
        "decode_changes",
        "decode_entry",
        "decode_metadata",
        "decode_value",
        "metadata_type",
        "store",
        "value_type",
    )

    def __init__(self, store: str, value_type: Any = Any, metadata_type: Any = Metadata) -> None:
        self.store = store
        self.value_type = value_type
        self.metadata_type = metadata_type
        self._untyped = value_type is Any
        # A record class (Struct, dataclass, attrs) admits its instances only,
        # not data of the same shape (a dict with its fields).
        self._record = value_type if _is_record_class(value_type) else None
        try:
            self._value = msgspec.msgpack.Decoder(value_type)
            self._metadata = msgspec.msgpack.Decoder(metadata_type)
            entry: Any = SetChange[value_type, metadata_type]
            change = msgspec.msgpack.Decoder(entry | DeleteChange | ExpireChange)
            changes = msgspec.msgpack.Decoder(list[entry | DeleteChange | ExpireChange])
            entries = msgspec.msgpack.Decoder(entry)
        except TypeError as exc:
            raise TypeError(
                f"store {store!r}: msgspec cannot decode values to type={value_type!r} or"
                f" metadata_type={metadata_type!r}: {exc}; use a type msgspec supports"
                " (a Struct, dataclass, attrs class, TypedDict, datetime, UUID, Decimal,"
                " enum, tuple, set, list, dict, ...)"
            ) from exc
        self.decode_value = self._guarded(self._value.decode, "value")
        self.decode_metadata = self._guarded(self._metadata.decode, "metadata")
        self.decode_change = self._guarded(change.decode, "change")
        self.decode_changes = self._guarded(changes.decode, "changes")
        self.decode_entry = self._guarded(entries.decode, "entry")

    @property
    def typed(self) -> bool:
        """Whether the store declared a value type."""
        return not self._untyped

    # -- admitting what is written ---------------------------------------------

    def admit_items(self, pairs: Iterable[tuple[Any, Any]]) -> list[tuple[str, Any]]:
        """``(key, value)`` pairs with each key checked (:func:`check_key`) and
        each value admitted (:meth:`admit`): the common cases (an ASCII key, a
        scalar that is its own copy) without a call, as ``Store.set`` does."""
        store, untyped, value_type = self.store, self._untyped, self.value_type
        admitted: list[tuple[str, Any]] = []
        for key, value in pairs:
            if type(key) is not str or not key or not key.isascii():
                key = check_key(store, key)
            kind = type(value)
            if not (untyped or kind is value_type):
                value = self.admit(key, value)
            elif kind is int:
                if not INT_MIN <= value <= INT_MAX:
                    value = self.admit(key, value)
            elif kind not in SCALARS or (kind is str and not value.isascii()):
                value = self.admit(key, value)
            admitted.append((key, value))
        return admitted

    def admit(self, key: str, value: Any, *, exact: bool = True) -> T:
        """The store's own copy of ``value``, checked to be a ``T``.

        With ``exact`` (writes), a store of a record class (a Struct,
        dataclass or attrs class) admits its instances only; without it
        (``restore`` of a snapshot that went through msgpack or JSON), data
        of the same shape is converted.

        Raises:
            InvalidValue: ``value`` is not a ``T`` (names the key, the type
                and what did not fit).
            UnencodableValue: msgspec cannot encode ``value``.
        """
        kind = type(value)
        # An immutable scalar of exactly the store's type (or any one, untyped)
        # is its own copy: no round trip through msgpack. Text that is not
        # ASCII is encoded once, to refuse a lone surrogate no backend can store.
        if (self._untyped or kind is self.value_type) and (
            kind in SCALARS or (kind is int and INT_MIN <= value <= INT_MAX)
        ):
            if kind is str and not value.isascii():
                self._encode(key, value, "value")
            return value  # type: ignore[no-any-return]
        record = self._record
        if exact and record is not None and not isinstance(value, record):
            raise InvalidValue(
                f"store {self.store!r}, key {key!r}: the value is not a"
                f" {_type_name(record)} (the store's type), it is a {kind.__name__};"
                f" make one, e.g. {_type_name(record)}(**data)"
            )
        decoder = self._value
        try:  # the copy in one line; on any failure _copy names what was wrong
            return decoder.decode(_ENCODE(value))  # type: ignore[no-any-return]
        except Exception:
            whose = "the store's type"
            return self._copy(key, value, "value", decoder, self.value_type, whose)  # type: ignore[no-any-return]

    def admit_metadata(self, key: str, metadata: Any) -> Any:
        """The store's own copy of ``metadata``, checked to be a ``metadata_type``.

        Raises:
            InvalidValue, UnencodableValue: as :meth:`admit`.
        """
        if isinstance(metadata, Mapping) and not isinstance(metadata, dict):
            metadata = dict(metadata)  # a mapping msgspec cannot encode as it is
        decoder = self._metadata
        try:  # the copy in one line; on any failure _copy names what was wrong
            return decoder.decode(_ENCODE(metadata))
        except Exception:
            whose = "the store's metadata_type"
            return self._copy(key, metadata, "metadata", decoder, self.metadata_type, whose)

    def _copy(
        self,
        key: str,
        value: Any,
        what: str,
        decoder: msgspec.msgpack.Decoder[Any],
        kind: Any,
        whose: str,
    ) -> Any:
        """``value`` (the ``what``) encoded, then decoded by ``decoder`` as a ``kind``
        (``whose`` type, for the error; its name is only made for an error: it
        costs more than the copy)."""
        data = self._encode(key, value, what)
        try:
            return decoder.decode(data)
        except RecursionError as exc:
            raise self._unencodable(key, value, what, exc) from exc
        except msgspec.ValidationError as exc:
            raise InvalidValue(
                f"store {self.store!r}, key {key!r}: the {what} is not a"
                f" {_type_name(kind)} ({whose}): {exc}"
            ) from exc

    def admit_entry(self, entry: Entry[Any]) -> Entry[Any]:
        """A snapshot's ``entry`` with its key checked and the store's copies of its
        value and metadata (``store.restore``).

        Raises:
            InvalidKey, InvalidValue, UnencodableValue: a bad entry.
        """
        key = check_key(self.store, entry.key)
        value = self.admit(key, entry.value, exact=False)
        meta = None if entry.metadata is None else self.admit_metadata(key, entry.metadata)
        return msgspec.structs.replace(entry, key=key, value=value, metadata=meta)

    def _encode(self, key: str, value: Any, what: str) -> bytes:
        try:
            return _ENCODE(value)
        except _ENCODE_ERRORS as exc:
            raise self._unencodable(key, value, what, exc) from exc

    def _unencodable(self, key: str, value: Any, what: str, exc: Exception) -> UnencodableValue:
        """The error for a ``what`` (value or metadata) msgspec failed on with ``exc``."""
        where = f"store {self.store!r}, key {key!r}: the {what} ({type(value).__name__})"
        if isinstance(exc, UnicodeEncodeError):
            return UnencodableValue(
                f"{where} holds text that is not valid Unicode ({exc}), which no backend can"
                f" store; {NOT_UNICODE_FIX}, or store bytes"
            )
        if isinstance(exc, RecursionError):
            return UnencodableValue(
                f"{where} is nested too deeply to encode (deeper than Python's recursion"
                f" limit, {sys.getrecursionlimit()}); flatten it, or store bytes you encoded"
            )
        return UnencodableValue(
            f"{where}: msgspec cannot encode it: {exc}; store plain data (dict, list, str,"
            " int, float, bool, None, bytes) or a msgspec Struct / dataclass"
        )

    # -- reading stored bytes ---------------------------------------------------

    def _guarded(self, decode: Any, what: str) -> Any:
        """``decode`` raising :class:`UndecodableValue` for bytes it cannot read:
        of another type (the store's type changed), or not msgpack at all."""
        store = self.store
        types = f"type={_type_name(self.value_type)}"

        def decode_stored(data: bytes | bytearray | memoryview, key: str | None = None) -> Any:
            try:
                return decode(data)
            except msgspec.ValidationError as exc:
                raise UndecodableValue(
                    f"store {store!r}{_at(key)}: a stored {what} does not decode as the store's"
                    f" {types}: {exc}; the type changed since it was written? Add new"
                    " fields with defaults (msgspec's schema evolution), or migrate or"
                    " delete the old entries"
                ) from exc
            except (msgspec.DecodeError, RecursionError) as exc:  # msgspec's depth limit
                raise UndecodableValue(
                    f"store {store!r}{_at(key)}: a stored {what} is not msgpack pepperflow"
                    f" wrote ({exc}): the bytes were corrupted or written by something"
                    " else; delete the entry, or restore it from a snapshot"
                ) from exc

        decode_stored.__name__ = f"decode_{what}"
        return decode_stored

    def __repr__(self) -> str:
        return f"<Codec {_type_name(self.value_type)} for store {self.store!r}>"


def _at(key: str | None) -> str:
    """Where a stored item was, for an error: ``", key 'k'"`` when known."""
    return "" if key is None else f", key {key!r}"
