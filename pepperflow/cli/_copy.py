"""``pepperflow copy SRC_URL DST_URL [PATTERN]``: every matching key, with its ttl and metadata.

The source's keys are read as one :meth:`~pepperflow.stores.Store.snapshot`
(its state at one seq), and each entry matching the pattern is set in the
destination with its value, its metadata and the ttl it has left (so it
expires when it would have in the source); an entry whose deadline passed
while copying is skipped. The destination's other keys are left as they
are, a key it already has is overwritten, and versions and creation times
are the destination's own (each copy is a set there, which its
subscribers see). Backends mix freely: memory, SQLite and Redis, either
way round.

A Rich progress bar on a terminal; in a pipe, each key copied on a line of
its own. A summary goes to stderr either way.
"""

from __future__ import annotations

import time

from .._patterns import compile_pattern
from .._redact import redacted
from ._exits import BadInput
from ._open import opened
from ._output import Output

__all__ = ["copy"]


async def copy(source_url: str, target_url: str, pattern: str | None, out: Output) -> None:
    """Copy the keys of ``source_url`` matching ``pattern`` into ``target_url``."""
    if source_url == target_url:
        raise BadInput(f"SRC_URL and DST_URL are the same store ({redacted(source_url)})")
    match = compile_pattern(pattern).match
    async with opened(source_url) as source, opened(target_url, create=True) as target:
        snapshot = await source.snapshot()
        entries = [entry for entry in snapshot.entries if match(entry.key)]
        copied = 0
        with out.progress(len(entries), "copying") as done:
            for entry in entries:
                ttl = None if entry.expires_at is None else entry.expires_at - time.time()
                if ttl is not None and ttl <= 0:
                    done(None)
                    continue
                await target.set(entry.key, entry.value, ttl=ttl, metadata=entry.metadata)
                copied += 1
                done(entry.key)
    expired = len(entries) - copied
    out.note(
        f"copied {copied} key{'s' * (copied != 1)} from {redacted(source_url)}"
        f" to {redacted(target_url)} (seq {snapshot.seq})"
        + (f"; {expired} expired while copying, skipped" if expired else "")
    )
