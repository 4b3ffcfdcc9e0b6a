"""The fields of a change in a log record: one vocabulary for every log of a change.

A log record about a change (the log sink's record of each change, a store's
record of a failed callback) carries these fields as ``extra=``, so a
handler or a JSON formatter reads them as attributes of the record
(``record.key``, ``record.seq``, ...):

``store``  the store's name
``key``    the key changed
``seq``    the change's seq (the store's changelog offset)
``kind``   ``"set"``, ``"delete"`` or ``"expire"``
``version`` the key's version after a set, or of the entry removed
``committed_at`` seconds since the epoch
``expires_at`` a set's deadline (``None`` without a ttl, and for a removal)

and with ``values=True`` (never by default: a value may be large or
private) ``value`` and ``metadata`` of a set.
"""

from __future__ import annotations

from typing import Any

from .streams.events import Change, SetChange

__all__ = ["change_fields"]


def change_fields(change: Change, *, values: bool = False) -> dict[str, Any]:
    """The ``extra=`` fields of a log record about ``change`` (see the module docstring)."""
    fields: dict[str, Any] = {
        "store": change.store,
        "key": change.key,
        "seq": change.seq,
        "kind": change.__struct_config__.tag,  # the change's tag: "set", "delete", "expire"
        "version": change.version,
        "committed_at": change.committed_at,
        "expires_at": None,
    }
    if isinstance(change, SetChange):
        fields["expires_at"] = change.expires_at
        if values:
            fields["value"], fields["metadata"] = change.value, change.metadata
    elif values:
        fields["value"] = fields["metadata"] = None
    return fields
