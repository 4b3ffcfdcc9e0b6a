"""The commits of one RedisStore: each write is one script, then its reply.

A write encodes what only the client knows of each set (its
:class:`~._protocol.Head`: the store's admitted value and metadata), runs
its script (:mod:`._scripts`), then records the reply: the server's clock,
the key counts, the newest seq, a ttl's deadline, and the changes it
committed, delivered to this process's subscribers before the write
returns (:meth:`~._follower.Follower.committed`). A store with ``index=``
computes each set's terms here and passes them to the script, which keeps
the index in the same commit (``lua/index.lua``). Each script declares the
keys it touches (:meth:`Writes.declared`): the entries of its keys, the
index's keys of their terms.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from itertools import chain
from typing import Any

import msgspec

from ..._errors import VersionConflict
from ...streams.events import Change, SetChange
from .._apply import Mark, encode_mark
from .._hub import ChangeHub
from .._indexed import safe_terms
from .._lookup import IndexTerms, check_terms
from ..base import Entry
from ._commands import Commands
from ._decoding import Skipped
from ._follower import Follower
from ._protocol import (
    ApplyArgs,
    DeleteArgs,
    Reply,
    SetArgs,
    SetManyArgs,
    SetsArgs,
    WriteHead,
    array_header,
    encode,
    encode_head,
    encode_heads,
    str_array,
)
from ._scripts import APPLY, DELETE, SET, SET_MANY, SETS
from ._sweeper import Counts, Sweeper

__all__ = ["Writes"]

_DELETE_BATCH = 500  # keys per delete script of clear() and restore()
_REMOVE = b"\x80"  # the head of a removal in ``apply``: empty once its first byte is cut
_NO_CREATED = encode(0.0)
_decode_terms = msgspec.msgpack.Decoder(list[str]).decode


class Writes:
    """The write commits of store ``name`` on ``commands``; input already checked."""

    __slots__ = ("_commands", "_counts", "_follower", "_hub", "_index", "_name", "_sweeper")

    def __init__(
        self,
        name: str,
        commands: Commands,
        hub: ChangeHub,
        follower: Follower,
        sweeper: Sweeper,
        counts: Counts,
        index: IndexTerms | None,
    ) -> None:
        self._name = name
        self._index = index
        self._commands = commands
        self._hub = hub
        self._follower = follower
        self._sweeper = sweeper
        self._counts = counts

    def set_args(
        self, key: str, value: Any, ttl: float | None, metadata: Any, if_version: int | None
    ) -> SetArgs:
        """The arguments of the set script for one key (the head encoded)."""
        head = encode_head(self._name, key, value, metadata)
        terms = self._terms(key, value, metadata)
        return SetArgs(ttl, if_version, None, None, key, head[1:], bool(self._hub.count), terms)

    def _terms(self, key: str, value: Any, metadata: Any) -> bytes | None:
        """The terms of a set (a msgpack array), or None for a store without index=."""
        return None if self._index is None else encode(self._term_list(key, value, metadata))

    def _term_list(self, key: str, value: Any, metadata: Any) -> list[str]:
        assert self._index is not None
        return sorted(check_terms(self._name, key, self._index(value, metadata)))

    async def set(self, args: SetArgs) -> int:
        """Run the set script; the key's new version (VersionConflict on a
        compare-and-set that did not match)."""
        return await self.written(await self.send_set(args), args.key, args.if_version)

    async def send_set(self, args: SetArgs) -> Reply[WriteHead]:
        """Run the set script; its reply, not recorded yet (:meth:`written`)."""
        terms = () if args.terms is None else _decode_terms(args.terms)
        return await self._commands.call(SET, args, self.declared((args.key,), terms))

    def declared(self, keys: Iterable[str], terms: Iterable[str] = ()) -> list[str]:
        """What a write script on ``keys`` declares besides the bookkeeping
        keys: their entries, and the index's keys (the sets of ``terms``:
        the new terms of the keys it sets)."""
        commands = self._commands
        prefix = commands.prefix
        index = commands.index_keys(self._index is not None, terms)
        return [*(prefix + key for key in keys), *index]

    async def sets(
        self, batch: list[SetArgs]
    ) -> tuple[list[int | VersionConflict], list[Change | Skipped], int]:
        """Run the sets of ``batch`` (each a set's own arguments, as
        :meth:`set_args` makes them; none of restore's) in one script and
        record its reply: each set's version or VersionConflict, the
        changes committed, noted for delivery, and the last seq (what
        ``Follower.caught_up`` delivers up to)."""
        terms, lists = None, []
        if self._index is not None:
            terms = b"".join([array_header(len(batch)), *(args.terms or b"\x90" for args in batch)])
            lists = [_decode_terms(args.terms) for args in batch if args.terms is not None]
        declared = self.declared([args.key for args in batch], chain.from_iterable(lists))
        args = SetsArgs(
            encode([args.key for args in batch]),
            str_array([args.head for args in batch], cut=0),
            encode([args.ttl or 0.0 for args in batch]),
            encode([-1 if args.if_version is None else args.if_version for args in batch]),
            bool(self._hub.count),
            terms,
        )
        reply = await self._commands.call(SETS, args, declared)
        head = reply.head
        self._record(head.now, head.seq, head.keys, head.ttl_keys, head.expires_at)
        outcomes: list[int | VersionConflict] = [
            version
            if version >= 0
            else VersionConflict(self._name, item.key, item.if_version or 0, -1 - version)
            for item, version in zip(batch, head.versions, strict=True)
        ]
        return outcomes, self._follower.noted(reply.items), head.seq

    def _record(
        self, now: float, seq: int, keys: int, ttl_keys: int, expires_at: float | None
    ) -> None:
        """Record a write script's clock, counts, last seq and deadline."""
        sweeper = self._sweeper
        sweeper.clock_offset = now - time.time()
        self._counts.add(seq, keys, ttl_keys)
        self._follower.learn_seq(seq)
        if expires_at is not None:
            sweeper.note_deadline(expires_at)

    async def set_many(self, latest: dict[str, Any], ttl: float | None, metadata: Any) -> None:
        """Set every key of ``latest`` (not empty) in one script."""
        if len(latest) == 1:
            [(key, value)] = latest.items()
            await self.set(self.set_args(key, value, ttl, metadata, None))
            return
        heads = encode_heads(self._name, latest, metadata)
        terms, lists = None, []
        if self._index is not None:
            lists = [self._term_list(key, value, metadata) for key, value in latest.items()]
            terms = encode(lists)
        args = SetManyArgs(
            ttl, encode(list(latest)), str_array(heads), bool(self._hub.count), terms
        )
        declared = self.declared(latest, chain.from_iterable(lists))
        await self.written(await self._commands.call(SET_MANY, args, declared), "", None)

    async def delete_keys(self, keys: list[str], if_version: int | None) -> int:
        """Delete ``keys`` (one script); how many existed."""
        args = DeleteArgs(if_version, bool(self._hub.count), encode(keys))
        reply = await self._commands.call(DELETE, args, self.declared(keys))
        await self.written(reply, keys[0], if_version)
        return reply.head.changed

    async def delete_all(self, keys: list[str]) -> int:
        """Delete ``keys``, a script per 500; how many existed."""
        deleted = 0
        for start in range(0, len(keys), _DELETE_BATCH):
            deleted += await self.delete_keys(keys[start : start + _DELETE_BATCH], None)
        return deleted

    async def restore(self, entries: Iterable[Entry[Any]]) -> None:
        """Set each of ``entries`` (admitted) with its created_at and
        expires_at; those already expired by the server's clock are skipped."""
        heads = [
            (item, encode_head(self._name, item.key, item.value, item.metadata)) for item in entries
        ]
        now = self._sweeper.now()
        for item, head in heads:
            if item.expires_at is not None and item.expires_at <= now:
                continue
            key, details = item.key, bool(self._hub.count)
            terms = self._terms(key, item.value, item.metadata)
            args = SetArgs(
                None, None, item.expires_at, item.created_at, key, head[1:], details, terms
            )
            await self.written(await self.send_set(args), key, None)

    async def apply(self, changes: list[Change], mark: Mark | None) -> None:
        """Apply another store's ``changes`` (admitted, one per key) and ``mark``
        in one script (:mod:`pepperflow.stores._apply`)."""
        heads: list[bytes] = []
        deadlines: list[float] = []
        created: list[bytes] = []
        terms: list[list[str]] = []
        index = self._index
        for change in changes:
            if isinstance(change, SetChange):
                heads.append(encode_head(self._name, change.key, change.value, change.metadata))
                deadlines.append(change.expires_at or 0.0)
                created.append(encode(float(change.created_at)))
                if index is not None:  # another store's entry: logged if it has no terms
                    terms.append(sorted(safe_terms(self._name, index, change)))
            else:
                heads.append(_REMOVE)
                deadlines.append(0.0)
                created.append(_NO_CREATED)
                terms.append([])
        args = ApplyArgs(
            encode([change.key for change in changes]),
            encode(deadlines),
            b"".join(created),
            str_array(heads),
            "" if mark is None else mark.name,
            b"" if mark is None else encode_mark(mark),
            bool(self._hub.count),
            None if index is None else encode(terms),
        )
        declared = self.declared([change.key for change in changes], chain.from_iterable(terms))
        reply = await self._commands.call(APPLY, args, [self._commands.marks_key, *declared])
        await self.written(reply, "", None)

    async def written(self, reply: Reply[WriteHead], key: str, if_version: int | None) -> int:
        """Record a write script's reply and deliver its changes; the set's
        version, or VersionConflict (after delivering a due expiry it committed)."""
        head = reply.head
        self._record(head.now, head.seq, head.keys, head.ttl_keys, head.expires_at)
        await self._follower.committed(reply.items, head.seq)
        if not head.committed:
            raise VersionConflict(self._name, key, if_version or 0, head.version)
        return head.version
