"""``pepperflow watch URL [PATTERN]``: the change feed of a store, live, until Ctrl-C.

Where it starts:

* by default, with the changes committed after it attached;
* ``--replay``: first the current state, one ``set`` per live key matching
  the pattern (:meth:`~pepperflow.stores.Store.changes` with ``replay=True``),
  then every later change;
* ``--since SEQ``: first the changes after ``SEQ`` still in the store's
  changelog (``changes_since``; ``0`` is its start), then every later
  change. Only stores with a changelog have one (``sqlite://``,
  ``redis://``); when some of those changes were compacted or trimmed
  away, a note on stderr says how many.

Either way there is no gap and no duplicate: the feed is attached before
the history is read, and the live changes at or below the last one printed
are skipped. A line on stderr says when the watch is attached (``watching
...``); the changes go to stdout, one a line, flushed (:mod:`._output`).
Ctrl-C ends it: the store is closed and the command exits with 130.
"""

from __future__ import annotations

from typing import Any

from .._patterns import compile_pattern
from .._redact import redacted
from ..stores.base import Store
from ..streams.events import Change
from ._exits import BadInput
from ._open import opened
from ._output import Output

__all__ = ["watch"]


async def watch(
    url: str, pattern: str | None, out: Output, replay: bool, since: int | None
) -> None:
    """Print the changes of the keys matching ``pattern`` until cancelled; see the module."""
    if replay and since is not None:
        raise BadInput("give --replay (the current state) or --since SEQ (the history), not both")
    if since is not None and since < 0:
        raise BadInput(f"--since must be a seq >= 0 (0: the changelog's start), got {since}")
    match = compile_pattern(pattern).match  # a bad pattern fails before connecting
    async with opened(url) as store, store.changes(pattern, replay=replay) as feed:
        last = -1
        if since is not None:
            history = await _history(store, url, since, out)
            for change in history:
                if match(change.key):
                    out.change(change)
            last = max(since, history[-1].seq if history else since)
        out.note(f"watching {redacted(url)}{_which(pattern)}; Ctrl-C to stop")
        async for change in feed:
            if change.seq > last:
                out.change(change)


def _which(pattern: str | None) -> str:
    return f" (keys matching {pattern!r})" if pattern else ""


async def _history(store: Store[Any], url: str, since: int, out: Output) -> list[Change]:
    """The changes after ``since`` in ``store``'s changelog; a note if some are gone.

    Raises:
        BadInput: the store keeps no changelog (``memory://``).
    """
    changes_since = getattr(store, "changes_since", None)
    if changes_since is None:
        raise BadInput(
            f"{redacted(url)} keeps no changelog, so --since has nothing to read;"
            " use --replay for its current state, or a sqlite:// or redis:// store"
        )
    history: list[Change] = await changes_since(since)
    upto = max(store.statistics().seq, history[-1].seq if history else since)
    if len(history) < upto - since:
        out.note(
            f"{upto - since - len(history)} of the {upto - since} changes after seq {since}"
            " are no longer in the changelog (compacted or trimmed); the rest follow"
        )
    return history
