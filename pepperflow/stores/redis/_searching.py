"""A RedisStore's index (``index=terms``): built when needed at open, and ``find``.

The index lives in the namespace's hash tag beside the entries
(``lua/index.lua`` and :mod:`._scripts` give its keys): each key's terms,
a set of keys per term, the keys by ``created_at`` and in key order; the
expiry index (by deadline) is the store's own. Every write script keeps it
in the same commit as the entries it changes, with the terms the client
computed (:mod:`._writes`), so it never disagrees with them, also after an
expiry or a crash (a script commits whole or not at all).

A namespace keeps an index once a store with ``index=`` opened it: that
open builds it from a snapshot if the namespace has entries but no index.
From then on a store opened without ``index=`` is refused at open, and a
set through one still open is refused by its script (nothing written), so
no write leaves the index behind. Every store of a namespace must use the
same index function.

:meth:`Searching.find` runs the ``find`` script: it takes the smallest
candidate set the lookup names (a term's keys, a time range, a key prefix's
range), keeps those with every term, and returns their live entries; the
client checks the bounds and the pattern exactly
(:meth:`~pepperflow.stores.Lookup.matcher`), orders and pages them. Its cost
follows the number of candidates, not of entries.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from itertools import chain
from typing import Any

from ..._patterns import compile_pattern
from ...streams.events import SetChange
from .._indexed import Found, page, safe_terms, successor
from .._lookup import IndexTerms, Lookup
from .._records import Entry
from ._commands import Commands
from ._decoding import Decoding, Skipped
from ._protocol import FindArgs, IndexBuildArgs, encode
from ._scripts import FIND, INDEX_BUILD
from ._sweeper import Sweeper

__all__ = ["Searching", "find_args"]

_MARGIN = 2e-6  # seconds around a bound: the client checks it exactly at the microsecond


class Searching:
    """The index half of :class:`~pepperflow.stores.redis.RedisStore`."""

    name: str
    namespace: str
    index: IndexTerms | None
    _commands: Commands
    _decoding: Decoding[Any]
    _sweeper: Sweeper
    _check_open: Callable[[], None]
    _no_index: Callable[[], TypeError]
    _snapshot: Callable[[], Any]
    _found_read = 0  # see found_entries_read

    async def _open_index(self, indexed: bool) -> None:
        """At open: refuse a store without ``index=`` on an indexed namespace;
        build the index of a namespace that has none for a store with it.

        Raises:
            ValueError: the namespace keeps an index and the store has no ``index=``.
        """
        index = self.index
        if index is None:
            if indexed:
                raise ValueError(
                    f"{self!r}: namespace {self.namespace!r} keeps an index (a RedisStore with"
                    " index= opened it); open it with index=terms, the function the other"
                    " stores of the namespace use"
                )
            return
        while not indexed:  # again when a write came between the snapshot and the build
            seq, _, entries = await self._snapshot()
            live = [entry for entry in entries if type(entry) is not Skipped]
            keys = [entry.key for entry in live]
            terms = [sorted(safe_terms(self.name, index, entry)) for entry in live]
            args = IndexBuildArgs(seq, encode(keys), encode(terms))
            declared = self._commands.index_keys(True, chain.from_iterable(terms))
            indexed = (await self._commands.call(INDEX_BUILD, args, declared)).head.indexed

    def find(self, lookup: Lookup) -> AsyncIterator[Entry[Any]]:
        if not isinstance(lookup, Lookup):
            raise TypeError(
                f"find() takes a pepperflow.stores.Lookup, got {type(lookup).__name__}: {lookup!r}"
            )
        if self.index is None:
            raise self._no_index()
        self._check_open()
        return self._find(lookup)

    @property
    def found_entries_read(self) -> int:
        """How many entries this process's ``find`` calls have read from Redis:
        each lookup reads its candidates, except one ordered by key with a
        ``limit``, which reads about ``offset + limit`` of them (more only when
        entries it read do not match exactly)."""
        return self._found_read

    async def _find(self, lookup: Lookup) -> AsyncIterator[Entry[Any]]:
        # Ordered by key with a page: read up to the page's end in key order; if
        # too few of those match exactly, again from the start with twice as many
        # (each call one atomic read, so the answer is always one moment's).
        limit, want, need = lookup.limit, None, 0
        # The candidates' entries: asked for (lua/find.lua).
        declared = self._commands.index_keys(True, lookup.terms)
        if limit is not None and lookup.order_by == "key":
            want = need = lookup.offset + limit
        while True:
            reply = await self._commands.read(FIND, find_args(lookup, want), declared)
            self._found_read += reply.head.read
            matches = self._matches(reply.items, reply.head.now, lookup)
            if want is None or not reply.head.more or len(matches) >= need:
                break
            want *= 2
        async for entry in Found(page(matches, lookup), self._sweeper.now):
            yield entry

    def _matches(self, blobs: list[bytes], now: float, lookup: Lookup) -> list[SetChange[Any, Any]]:
        """The entries the script read that match ``lookup`` exactly and are live at ``now``."""
        wanted, accepts = lookup.terms, lookup.matcher()
        decode = self._decoding.entry_or_skipped
        matches: list[SetChange[Any, Any]] = []
        for blob in blobs:
            change = decode(blob)
            if type(change) is Skipped:
                continue
            assert isinstance(change, SetChange)
            # The script kept only keys with every term: the lookup's terms stand for theirs.
            if (change.expires_at is None or change.expires_at > now) and accepts(change, wanted):
                matches.append(change)
        return matches


def find_args(lookup: Lookup, want: int | None = None) -> FindArgs:
    """The ``find`` script's arguments for ``lookup``: its terms, its time
    bounds widened a little (checked exactly after), its key prefix's range;
    with ``want``, a walk in the lookup's key order that stops after ``want``
    candidates (the lookup is ordered by key)."""
    created_lo, created_hi, expires_lo, expires_hi = lookup.bounds()
    prefix = compile_pattern(lookup.pattern).prefix if lookup.pattern else ""
    lex_lo = lex_hi = ""
    if prefix:
        high = successor(prefix)
        lex_lo, lex_hi = "[" + prefix, "+" if high is None else "(" + high
    return FindArgs(
        encode(sorted(lookup.terms)),
        _score(created_lo, -_MARGIN),
        _score(created_hi, _MARGIN),
        _score(expires_lo, -_MARGIN),
        _score(expires_hi, _MARGIN),
        lex_lo,
        lex_hi,
        "" if want is None else ("desc" if lookup.descending else "asc"),
        0 if want is None else want,
    )


def _score(micros: int | None, margin: float) -> str:
    return "" if micros is None else repr(micros / 1e6 + margin)
