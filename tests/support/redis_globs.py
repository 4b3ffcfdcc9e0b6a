"""Redis's own reading of a glob, for the tests that compare our patterns with it."""

from __future__ import annotations

import redis

__all__ = ["has_unclosed_bracket", "redis_match"]


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
