"""Redis's own reading of a glob, for the tests that compare our patterns with it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import redis

from pepperflow import InvalidPattern
from pepperflow._patterns import Pattern, compile_pattern
from tests.support.redis_server import RedisServer

__all__ = ["compiled", "empty_db", "has_unclosed_bracket", "redis_match"]


def compiled(pattern: str) -> Pattern | None:
    """``pattern`` compiled, or None when it raised InvalidPattern, which it
    must do exactly when Redis's parser leaves a ``[`` unclosed (by design:
    Redis would quietly close the set; the error is the result)."""
    try:
        result = compile_pattern(pattern)
    except InvalidPattern:
        assert has_unclosed_bracket(pattern), f"{pattern!r} raised but has no unclosed '['"
        return None
    assert not has_unclosed_bracket(pattern), f"{pattern!r} has an unclosed '[' but compiled"
    return result


@contextmanager
def empty_db(server: RedisServer, db: int) -> Iterator[redis.Redis]:
    """A client of database ``db`` of ``server``, emptied before and after."""
    server.ensure_running()
    client = redis.Redis(host=server.host, port=server.port, db=db)
    try:
        client.flushdb()
        yield client
        client.flushdb()
    finally:
        client.close()


def has_unclosed_bracket(pattern: str) -> bool:
    """True when Redis's parser (``stringmatchlen``) reaches the end inside ``[...]``.

    Mirrors the bracket scan of Redis's util.c over the UTF-8 bytes: ``\\x``
    is one escaped byte, ``x-y`` a range whose ``y`` may be ``]``, the first
    other ``]`` closes the set.
    """
    raw = pattern.encode()
    i, n = 0, len(raw)
    while i < n:
        ch = raw[i : i + 1]
        if ch == b"\\" and i + 1 < n:
            i += 2
            continue
        if ch != b"[":
            i += 1
            continue
        i += 1
        if raw[i : i + 1] == b"^":
            i += 1
        while True:
            if i >= n:
                return True
            if raw[i : i + 1] == b"\\" and i + 1 < n:
                i += 2
            elif raw[i : i + 1] == b"]":
                i += 1
                break
            elif i + 2 < n and raw[i + 1 : i + 2] == b"-":
                i += 3
            else:
                i += 1
    return False


def redis_match(conn: redis.Redis, pattern: str) -> set[str]:
    """The keys Redis ``SCAN MATCH pattern`` finds; ``KEYS pattern`` must agree."""
    scanned = {_text(key) for key in conn.scan_iter(match=pattern, count=1000)}
    listed = {_text(key) for key in conn.keys(pattern)}
    assert scanned == listed, f"SCAN and KEYS disagree on {pattern!r}"
    return scanned


def _text(key: bytes | str) -> str:
    return key.decode() if isinstance(key, bytes) else key
