"""The script protocol: what each script takes and what it replies.

A script gets the namespace's three bookkeeping keys and the store's three
arguments first (see :mod:`._scripts`), then its own arguments: the fields
of its ``*Args`` Struct below, in order (``None`` as ``''``, a bool as
``'1'`` or ``''``, a float by ``repr``).

Every script replies with an array: first its head, a msgpack array that
the script packs and the client decodes into the script's ``*Head`` Struct,
then its items (changes, entries or keys). :class:`Reply` holds both.

**A change is built once**, by the script that commits it: the msgpack
bytes it appends to the changelog (a field per change) are the bytes a
write's reply carries (when the client asks, because someone here
listens), the follower reads with ``XREAD`` and replay reads with the
range script; the store's :class:`~._decoding.Decoding` (built from its
codec) decodes all of them. An entry (``{ns}:k:<key>``) is its key's last
set change, the same bytes.

The client encodes what only it knows of a set, the :class:`Head`
(``kind``, ``store``, ``key``, ``value``, ``metadata``), once; the script
writes the map's header and the fields it owns (``version``, ``seq``,
``committed_at``, ``created_at``, ``expires_at``) before the head's fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import msgspec

from ..._patterns import Pattern

__all__ = [
    "ApplyArgs",
    "Arg",
    "BuiltHead",
    "DeleteArgs",
    "FindArgs",
    "FindHead",
    "Head",
    "IndexBuildArgs",
    "LogEntry",
    "MarkArgs",
    "NoArgs",
    "NoHead",
    "RangeArgs",
    "RangeHead",
    "Reply",
    "ScanArgs",
    "ScanHead",
    "SetArgs",
    "SetManyArgs",
    "SetsArgs",
    "SetsHead",
    "SnapshotHead",
    "StatusArgs",
    "StatusHead",
    "SweepArgs",
    "SweepHead",
    "WriteHead",
    "argv",
    "array_header",
    "encode",
    "encode_head",
    "encode_heads",
    "redis_match",
    "str_array",
]

Arg = str | bytes | int | float
H = TypeVar("H")

encode = msgspec.msgpack.Encoder().encode


# -- arguments -------------------------------------------------------------------


class NoArgs(msgspec.Struct, frozen=True):
    """A script without arguments of its own."""


class SetArgs(msgspec.Struct, frozen=True):
    """``set``: one key. ``expires_at`` and ``created_at`` are a restore's."""

    ttl: float | None
    if_version: int | None
    expires_at: float | None
    created_at: float | None
    key: str
    head: bytes  # the encoded Head without its first byte (its map header)
    details: bool  # the changes in the reply
    terms: bytes | None = None  # index=: the key's terms (a msgpack array); None: no index


class SetManyArgs(msgspec.Struct, frozen=True):
    """``set_many``: the keys as a msgpack array, their heads as :func:`str_array`
    (their entries are its first keys after the three, in the same order)."""

    ttl: float | None
    keys: bytes
    heads: bytes
    details: bool
    terms: bytes | None = None  # index=: a msgpack array of each key's terms


class SetsArgs(msgspec.Struct, frozen=True):
    """``sets``: the sets of concurrent writers, each its own (a key may repeat)."""

    keys: bytes  # a msgpack array of the keys
    heads: bytes  # their heads as :func:`str_array`
    ttls: bytes  # a msgpack array of their ttls (0.0: none)
    if_versions: bytes  # a msgpack array of their if_versions (-1: none)
    details: bool
    terms: bytes | None = None  # index=: a msgpack array of each set's terms


class ApplyArgs(msgspec.Struct, frozen=True):
    """``apply``: another store's changes and a mark (the marks hash is its fourth key)."""

    keys: bytes  # a msgpack array of the keys
    deadlines: bytes  # a msgpack array of their expires_at (0.0: none)
    created: bytes  # their created_at, each a msgpack float64, end to end
    heads: bytes  # their heads as :func:`str_array` (an empty one: remove the key)
    mark_name: str  # '' for no mark
    mark: bytes
    details: bool
    terms: bytes | None = None  # index=: each key's terms (none for a removal)


class MarkArgs(msgspec.Struct, frozen=True):
    """``mark``: read the mark of a name (the marks hash is its fourth key)."""

    name: str


class DeleteArgs(msgspec.Struct, frozen=True):
    """``delete``: the keys as a msgpack array."""

    if_version: int | None
    details: bool
    keys: bytes


class SweepArgs(msgspec.Struct, frozen=True):
    limit: int  # the most keys to expire
    details: bool


class ScanArgs(msgspec.Struct, frozen=True):
    cursor: str
    match: str  # Redis's MATCH glob (:func:`redis_match`)
    count: int


class RangeArgs(msgspec.Struct, frozen=True):
    first: int  # the first seq wanted
    count: int  # the most changelog entries to read


class FindArgs(msgspec.Struct, frozen=True):
    """``find``: the terms (a msgpack array), then bounds ('' for none): the
    created_at and expires_at scores, the keys' ``ZRANGEBYLEX`` range; then
    the key order to walk the keys in (``"asc"``, ``"desc"``; ``""``: read
    every candidate) and how many candidates a walk keeps before it stops."""

    terms: bytes
    created_lo: str
    created_hi: str
    expires_lo: str
    expires_hi: str
    lex_lo: str
    lex_hi: str
    walk: str = ""
    want: int = 0


class IndexBuildArgs(msgspec.Struct, frozen=True):
    """``index_build``: a snapshot's seq, its keys and their terms (msgpack arrays)."""

    seq: int
    keys: bytes
    terms: bytes


class StatusArgs(msgspec.Struct, frozen=True):
    probe: bool  # also check the server's commands and an earlier layout
    old_seq_key: str  # an earlier layout's seq key


def argv(args: msgspec.Struct) -> list[Arg]:
    """A script's own arguments: ``args``'s fields in order, as Redis takes them."""
    return [_arg(value) for value in msgspec.structs.astuple(args)]


def _arg(value: Any) -> Arg:
    if value is None or value is False:
        return ""
    if value is True:
        return "1"
    if type(value) is float:
        return repr(value)
    arg: Arg = value
    return arg


# -- replies ---------------------------------------------------------------------


class WriteHead(msgspec.Struct, array_like=True, frozen=True):
    """The head of ``set``, ``set_many`` and ``delete``'s reply.

    ``committed`` is False on a compare-and-set conflict; ``version`` is the
    set key's new version, or on a conflict the key's version. ``changed``
    counts the keys set or deleted; ``keys`` and ``ttl_keys`` are how the
    script changed the counts of live keys and of keys with a ttl; ``now``
    is the server's clock; ``seq`` the last seq it committed (0: none; a
    conflict may still have committed a due expiry); ``expires_at`` the
    deadline a set gave.
    """

    committed: bool
    version: int
    changed: int
    keys: int
    ttl_keys: int
    now: float
    seq: int
    expires_at: float | None


class SetsHead(msgspec.Struct, array_like=True, frozen=True):
    """The head of ``sets``'s reply: as :class:`WriteHead`'s, and per set its
    key's new version, or ``-1 - version`` on a compare-and-set conflict."""

    keys: int
    ttl_keys: int
    now: float
    seq: int
    expires_at: float | None
    versions: list[int]


class SweepHead(msgspec.Struct, array_like=True, frozen=True):
    """The head of ``sweep``'s reply; ``keys`` and ``ttl_keys`` are absolute."""

    expired: int
    keys: int
    ttl_keys: int
    next_deadline: float | None
    seq: int
    now: float


class StatusHead(msgspec.Struct, array_like=True, frozen=True):
    """The head of ``status``'s reply: the figures at ``seq``, and the probe's."""

    seq: int
    keys: int
    ttl_keys: int
    supported: bool
    old_layout: bool
    indexed: bool  # the namespace keeps an index (a store with index= opened it)


class RangeHead(msgspec.Struct, array_like=True, frozen=True):
    oldest: int  # the oldest changelog entry's seq (0: empty)


class SnapshotHead(msgspec.Struct, array_like=True, frozen=True):
    seq: int
    now: float


class ScanHead(msgspec.Struct, array_like=True, frozen=True):
    cursor: str


class FindHead(msgspec.Struct, array_like=True, frozen=True):
    """The server's time, the entries read, whether a walk stopped before the end."""

    now: float
    read: int
    more: bool


class BuiltHead(msgspec.Struct, array_like=True, frozen=True):
    indexed: bool


class NoHead(msgspec.Struct, array_like=True, frozen=True):
    """The empty head of a script whose reply is only items."""


class Reply(msgspec.Struct, Generic[H]):
    """A script's reply: its head, then its items (raw bulk replies)."""

    head: H
    items: list[Any]


class LogEntry(msgspec.Struct, frozen=True):
    """A changelog entry as ``XREAD`` returns it: the last seq of its
    changes (its id ``0-<seq>``) and its values, a change each."""

    seq: int
    changes: list[bytes]


# -- heads and arrays --------------------------------------------------------------


def array_header(count: int) -> bytes:
    """The msgpack header of an array of ``count`` items."""
    if count < 16:
        return bytes((0x90 + count,))
    if count < 65536:
        return b"\xdc" + count.to_bytes(2, "big")
    return b"\xdd" + count.to_bytes(4, "big")


class Head(msgspec.Struct):
    """What the client encodes of a set change; the script writes the rest."""

    kind: str
    store: str
    key: str
    value: Any
    metadata: Any


def encode_head(store: str, key: str, value: Any, metadata: Any) -> bytes:
    """The encoded :class:`Head` of a set of ``key``: ``value`` and
    ``metadata`` are the store's admitted copies (encodable, of its types)."""
    return encode(Head("set", store, key, value, metadata))


def encode_heads(store: str, items: dict[str, Any], metadata: Any) -> list[bytes]:
    """The encoded :class:`Head` of each set of ``items`` (admitted values)."""
    return [encode(Head("set", store, key, value, metadata)) for key, value in items.items()]


_STR8 = [b"\xd9" + bytes((size,)) for size in range(256)]  # msgpack str 8 headers


def str_array(heads: Sequence[bytes], cut: int = 1) -> bytes:
    """A msgpack array of ``heads``, each without its first byte (its map
    header; ``cut=0``: already cut) and as a msgpack str: the scripts split
    it with cmsgpack, which reads no bin."""
    parts = [array_header(len(heads))]
    append = parts.append
    for head in heads:
        size = len(head) - cut
        if size < 256:
            append(_STR8[size])
        elif size < 65536:
            append(b"\xda" + size.to_bytes(2, "big"))
        else:
            append(b"\xdb" + size.to_bytes(4, "big"))
        append(head[cut:])
    return b"".join(parts)


def redis_match(pattern: Pattern) -> str:
    """The ``MATCH`` argument for a pattern (Redis's glob is the pattern rule)."""
    if pattern.is_glob:
        return pattern.source
    escaped = "".join("\\" + ch if ch in "*?[]\\" else ch for ch in pattern.prefix)
    return escaped + "*"
