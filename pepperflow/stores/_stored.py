"""A façade's record kept as a store value (providers' and resources' records)."""

from __future__ import annotations

from typing import Any, Self

import msgspec

__all__ = ["StoredRecord"]


class StoredRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A record a façade keeps in a store, under its key."""

    @classmethod
    def from_value(cls, value: Any) -> Self:
        """The record a store value holds (a change's ``value``, a ``get`` result).

        A record (from a store of this type) is returned as it is; a dict
        (from an untyped store the application passed) is converted.
        """
        return value if type(value) is cls else msgspec.convert(value, cls)
