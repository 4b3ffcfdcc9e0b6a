"""The one pattern rule shared by every store, scan, clear and subscription.

* ``None`` or ``""`` matches every key.
* A pattern with no unescaped glob metacharacter matches the keys that
  **start with** it: ``"user:"`` matches ``"user:1"`` and ``"user:"``.
* A pattern with an unescaped ``*``, ``?`` or ``[`` is a **glob over the
  whole key**, with the meaning of Redis ``MATCH``: ``*`` any run of
  characters (also empty), ``?`` exactly one character, ``[abc]`` one of the
  set, ``[^abc]`` one not in the set, ``[a-z]`` a range.
* ``\\`` makes the next character literal, inside and outside ``[...]``
  (a trailing ``\\`` is a literal backslash, as in Redis).

An unclosed ``[`` raises :class:`~pepperflow.InvalidPattern`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from ._errors import InvalidPattern

__all__ = ["Pattern", "compile_pattern"]


class Pattern:
    """A compiled pattern: ``prefix`` is its literal head; ``match(key)`` decides.

    ``regex`` is ``None`` for a prefix pattern. For a glob it is the compiled
    full-match regex and ``prefix`` is the literal text before the first
    metacharacter, which every matching key starts with (used to index
    subscriptions and to narrow scans).
    """

    __slots__ = ("match", "prefix", "regex", "source")

    source: str
    prefix: str
    regex: re.Pattern[str] | None
    match: Callable[[str], bool]

    def __init__(self, source: str, prefix: str, regex: re.Pattern[str] | None) -> None:
        self.source = source
        self.prefix = prefix
        self.regex = regex
        if regex is None:
            self.match = _prefix_matcher(prefix)
        else:
            fullmatch = regex.fullmatch
            self.match = lambda key: fullmatch(key) is not None

    @property
    def is_glob(self) -> bool:
        """True when the pattern is a glob over the whole key."""
        return self.regex is not None

    def __repr__(self) -> str:
        return f"Pattern({self.source!r})"


def _prefix_matcher(prefix: str) -> Callable[[str], bool]:
    if not prefix:
        return lambda key: True
    return lambda key: key.startswith(prefix)


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str | None) -> Pattern:
    """Compile ``pattern`` by the rule in this module's docstring."""
    if pattern is None:
        return Pattern("", "", None)
    if not isinstance(pattern, str):
        raise InvalidPattern(
            f"pattern must be a str or None, got {type(pattern).__name__}: {pattern!r}"
        )
    literal: list[str] = []
    parts: list[str] = []
    i, n = 0, len(pattern)
    glob = False
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            i += 1
            ch = pattern[i]
            parts.append(re.escape(ch))
            if not glob:
                literal.append(ch)
        elif ch == "*":
            glob = True
            parts.append(".*")
        elif ch == "?":
            glob = True
            parts.append(".")
        elif ch == "[":
            glob = True
            part, i = _char_class(pattern, i)
            parts.append(part)
            continue
        else:
            parts.append(re.escape(ch))
            if not glob:
                literal.append(ch)
        i += 1
    prefix = "".join(literal)
    if not glob:
        return Pattern(pattern, prefix, None)
    return Pattern(pattern, prefix, re.compile("".join(parts), re.DOTALL))


def _char_class(pattern: str, start: int) -> tuple[str, int]:
    """Translate ``[...]`` at ``start``; return the regex and the index after ``]``."""
    i, n = start + 1, len(pattern)
    negate = i < n and pattern[i] == "^"
    if negate:
        i += 1
    items: list[str] = []
    while i < n and pattern[i] != "]":
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            i += 1
            ch = pattern[i]
        if i + 2 < n and pattern[i + 1] == "-" and pattern[i + 2] != "]":
            end = pattern[i + 2]
            if end == "\\" and i + 3 < n:
                end = pattern[i + 3]
                i += 1
            lo, hi = sorted((ch, end))  # Redis accepts reversed ranges
            items.append(f"{_class_escape(lo)}-{_class_escape(hi)}")
            i += 3
            continue
        items.append(_class_escape(ch))
        i += 1
    if i >= n:
        raise InvalidPattern(
            f"pattern {pattern!r} has an unclosed '[' at position {start};"
            " close it with ']' or escape it as '\\['"
        )
    body = "".join(items)
    if not body:
        # "[]" matches nothing and "[^]" any one character, as in Redis.
        return ("." if negate else "(?!)"), i + 1
    return f"[{'^' if negate else ''}{body}]", i + 1


def _class_escape(ch: str) -> str:
    return "\\" + ch if ch in "\\]^-[" else ch
