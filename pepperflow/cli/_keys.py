"""The bodies of ``get``, ``set``, ``ls``, ``rm`` and ``stats``: one store, opened for one call.

Each opens the store its URL names with :func:`._open.opened` (so every
backend and option a URL can name works here), does its one
thing and closes the store. Input is checked before the store is opened:
bad JSON or a bad ttl never connects to anything.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from .._durations import seconds_from_text
from .._redact import redacted
from ._exits import BadInput, NotFound
from ._open import opened
from ._output import Output, entry_row, seconds_text, to_json

__all__ = ["get", "ls", "rm", "set_key", "stats"]


def parse_json(text: str, what: str) -> Any:
    """``text`` decoded as JSON, or :class:`BadInput` naming ``what`` and the fix."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError as exc:
        raise BadInput(
            f"{what} is not JSON ({exc}): {text[:60]!r}; write a string as '\"text\"'"
            " (with the quotes), or pass --text to store the text as it is"
        ) from None


async def get(url: str, key: str, out: Output, text: bool, entry: bool) -> None:
    """Print ``key``'s value as JSON (``text``: a str as it is; ``entry``: the
    whole entry, with version, times, expiry and metadata).

    Raises:
        NotFound: the key is absent (never set, deleted or expired).
    """
    async with opened(url) as store:
        found = await store.entry(key)
    if found is None:
        raise NotFound(f"no key {key!r} in {redacted(url)} (never set, deleted or expired)")
    if entry:
        out.json(found)
    elif text and isinstance(found.value, str):
        out.line(found.value)
    else:
        out.json(found.value)


async def set_key(
    url: str,
    key: str,
    value: str,
    out: Output,
    text: bool,
    ttl: str | None,
    metadata: str | None,
) -> None:
    """Set ``key`` to ``value`` (JSON, or the text itself with ``text``), with
    an optional ``ttl`` (``30``, ``30s``, ``5m``...) and JSON ``metadata``;
    on a terminal, say the key's new version."""
    decoded = value if text else parse_json(value, "VALUE")
    seconds = None if ttl is None else seconds_from_text(ttl, "--ttl")
    meta = None if metadata is None else parse_json(metadata, "--metadata")
    async with opened(url, create=True) as store:
        version = await store.set(key, decoded, ttl=seconds, metadata=meta)
    if out.rich:
        expiry = "" if seconds is None else f", expires in {seconds_text(seconds)}"
        out.console.print(f"set {key!r} (version {version}{expiry})", markup=False)


async def ls(url: str, pattern: str | None, out: Output) -> None:
    """List the keys matching ``pattern``, sorted: a table of their entries on a
    terminal, a JSON entry a line with ``--json``, else one key a line."""
    async with opened(url) as store:
        keys = sorted([key async for key in store.scan(pattern)])
        if not out.rich and not out.as_json:
            for key in keys:
                out.line(key)
            return
        entries = [found for key in keys if (found := await store.entry(key)) is not None]
    if out.as_json:
        for found in entries:
            out.json(found)
        return
    now = time.time()
    out.table(["key", "value", "version", "ttl", "updated"], [entry_row(e, now) for e in entries])


async def rm(url: str, keys: list[str], out: Output) -> None:
    """Delete ``keys``; on a terminal, say how many.

    Raises:
        NotFound: naming the keys that were absent (the others are deleted).
    """
    async with opened(url) as store:
        missing = [key for key in keys if not await store.delete(key)]
    if missing:
        names = ", ".join(repr(key) for key in missing)
        raise NotFound(
            f"no key {names} in {redacted(url)} (never set, deleted or expired);"
            f" {len(keys) - len(missing)} of {len(keys)} removed"
        )
    if out.rich:
        out.console.print(f"removed {len(keys)} key{'s' * (len(keys) != 1)}")


async def stats(url: str, out: Output) -> None:
    """Print the store's :class:`~pepperflow.stores.StoreStatistics`: a table on
    a terminal, one JSON object with ``--json``, else ``name value`` lines."""
    async with opened(url) as store:
        figures = store.statistics()
    if out.as_json:
        out.json(figures)
        return
    fields: dict[str, Any] = msgspec.to_builtins(figures)
    rows = [
        [name, value if isinstance(value, str) else to_json(value)]
        for name, value in fields.items()
    ]
    if out.rich:
        out.table(["statistic", "value"], rows)
    else:
        for name, value in rows:
            out.line(f"{name} {value}")
