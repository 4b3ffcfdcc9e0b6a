"""The Lua scripts of :class:`~pepperflow.stores.redis.RedisStore`.

Every write is one script, so a key's new state, its version, its TTL, its
expiry-index entry and its changelog entry commit together or not at all.
The sources are the ``lua/`` files beside this module; a script is the
parts it needs, joined (every command a script runs costs 1-2 microseconds
of the server's time, so read scripts skip the clock and the write
helpers).

Every script gets the namespace's bookkeeping keys first::

    KEYS[1] {ns}:log   the changelog: a stream, one entry per script that changed
                       something (per 1,000 changes): id 0-<its last seq>,
                       per change a field (its seq as a msgpack int) whose
                       value is the change (msgpack)
    KEYS[2] {ns}:meta  hash: live key -> <created_at as a msgpack float64>
                       (9 bytes), 't' if the key has a ttl else '-', then
                       its version as a msgpack int (the index of live keys:
                       counts, scans, snapshots); and the field '' (never a
                       key: keys are not empty) -> the last seq
    KEYS[3] {ns}:exp   sorted set: key with a ttl -> its deadline (seconds)
    KEYS[4..]          for ``apply`` and ``mark`` first {ns}:marks, a hash of
                       the sinks' marks (:mod:`pepperflow.stores._apply`);
                       then every other key the script reads or writes:
                       the entries {ns}:k:<key> (strings, the encoded last
                       set) and the index's keys (below)

**Every key a script touches is among its KEYS** (``lua/keys.lua``): Redis
Cluster routes a script by them, and while the namespace's slot is migrated
runs it only where all of them are. The client declares what it can name;
a script that finds a key at run time (a due expiry, a key's old terms, a
snapshot's or a lookup's entries) asks for it before its first write, and
:mod:`._running` runs it again with it declared.

With ``index=`` the write scripts also keep the store's index in the same
hash tag (``lua/index.lua``; :mod:`._searching`): ``{ns}:ix`` (key -> its
terms; ``''`` -> the namespace keeps an index), ``{ns}:t:<term>`` (a set of
keys per term), ``{ns}:cr`` (keys by created_at) and ``{ns}:lex`` (keys in
order), derived from the entry prefix like the entries (a store without
``index=`` declares ``{ns}:ix`` alone: its scripts read whether the namespace
keeps an index).

``ARGV[1]`` is the store's name, ``ARGV[2]`` the changelog's approximate
maximum length, ``ARGV[3]`` the entry prefix; then the script's own
arguments and its reply as :mod:`._protocol` states them. The scripts
derive the names of the keys they touch from the entry prefix, and find
them among their KEYS.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files
from typing import Any, Generic, TypeVar

import msgspec

from ._protocol import (
    ApplyArgs,
    BuiltHead,
    DeleteArgs,
    FindArgs,
    FindHead,
    IndexBuildArgs,
    MarkArgs,
    NoArgs,
    NoHead,
    RangeArgs,
    RangeHead,
    Reply,
    ScanArgs,
    ScanHead,
    SetArgs,
    SetManyArgs,
    SetsArgs,
    SetsHead,
    SnapshotHead,
    StatusArgs,
    StatusHead,
    SweepArgs,
    SweepHead,
    WriteHead,
)

__all__ = [
    "APPLY",
    "DELETE",
    "FIND",
    "GET_MANY",
    "INDEX_BUILD",
    "MARK",
    "RANGE",
    "SCAN",
    "SCRIPTS",
    "SET",
    "SET_MANY",
    "SETS",
    "SNAPSHOT",
    "STATUS",
    "SWEEP",
    "Script",
]

A = TypeVar("A", bound=msgspec.Struct)
H = TypeVar("H")

_LUA = files("pepperflow.stores.redis").joinpath("lua")


def _source(*parts: str) -> str:
    return "".join(_LUA.joinpath(f"{part}.lua").read_text(encoding="utf-8") for part in parts)


class Script(Generic[A, H]):
    """One Lua script: its source, the SHA1 that ``EVALSHA`` runs, whether
    it may commit changes, and how its reply's head decodes (``A`` is the
    type of its arguments)."""

    __slots__ = ("_decode_head", "name", "sha", "source", "writes")

    def __init__(
        self, name: str, args: type[A], head: type[H], *parts: str, writes: bool = False
    ) -> None:
        self.name = name
        self.writes = writes
        self.source = _source(*parts, name)
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()
        self._decode_head = msgspec.msgpack.Decoder(head).decode

    def reply(self, raw: list[Any]) -> Reply[H]:
        """The script's raw reply as its head and items."""
        return Reply(self._decode_head(raw[0]), raw[1:])

    def __repr__(self) -> str:
        return f"<Script {self.name} {self.sha[:8]}>"


_WRITER = ("base", "clock", "log", "args", "keys", "index", "write")

SET = Script(
    "set", SetArgs, WriteHead, "base", "clock", "log", "args", "keys", "index", "entry", writes=True
)
SET_MANY = Script("set_many", SetManyArgs, WriteHead, *_WRITER, "entry", writes=True)
SETS = Script("sets", SetsArgs, SetsHead, *_WRITER, "entry", writes=True)
DELETE = Script("delete", DeleteArgs, WriteHead, *_WRITER, writes=True)
APPLY = Script("apply", ApplyArgs, WriteHead, *_WRITER, "entry", writes=True)
MARK = Script("mark", MarkArgs, NoHead, "base")
SWEEP = Script("sweep", SweepArgs, SweepHead, *_WRITER, "counts", writes=True)
SCAN = Script("scan", ScanArgs, ScanHead, "base", "clock")
SNAPSHOT = Script("snapshot", NoArgs, SnapshotHead, "base", "clock", "keys")
GET_MANY = Script("get_many", NoArgs, NoHead, "base")
RANGE = Script("range", RangeArgs, RangeHead, "base")
STATUS = Script("status", StatusArgs, StatusHead, "base", "counts")
FIND = Script("find", FindArgs, FindHead, "base", "clock", "keys")
INDEX_BUILD = Script(
    "index_build", IndexBuildArgs, BuiltHead, "base", "args", "keys", "index", writes=True
)

SCRIPTS: tuple[Script[Any, Any], ...] = (
    SET,
    SET_MANY,
    SETS,
    DELETE,
    APPLY,
    MARK,
    SWEEP,
    SCAN,
    SNAPSHOT,
    GET_MANY,
    RANGE,
    STATUS,
    FIND,
    INDEX_BUILD,
)
