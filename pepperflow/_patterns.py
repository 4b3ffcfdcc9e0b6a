"""The one pattern rule shared by every store, scan, clear and subscription.

* ``None`` or ``""`` matches every key.
* A pattern with no unescaped glob metacharacter matches the keys that
  **start with** it: ``"user:"`` matches ``"user:1"`` and ``"user:"``.
* A pattern with an unescaped ``*``, ``?`` or ``[`` is a **glob over the
  whole key**, with exactly the meaning of Redis ``MATCH`` (``stringmatchlen``
  in Redis's util.c, checked against a real server by
  tests/test_patterns_redis.py): ``*`` any run of characters (also empty),
  ``?`` exactly one character, ``[abc]`` one of the set, ``[^abc]`` one not
  in the set, ``[a-z]`` a range (``[z-a]`` is the same range), ``[]`` nothing
  and ``[^]`` anything.
* ``\\`` makes the next character literal, inside and outside ``[...]``
  (a trailing ``\\`` is a literal backslash, as in Redis). Inside ``[...]``
  an escaped character is never the start of a range: ``[\\a-z]`` is the set
  ``a``, ``-``, ``z``.
* As in Redis, ``x-y`` inside ``[...]`` is a range whenever two more
  characters follow ``x``, even when ``y`` is ``]`` or ``\\``: ``[a-]]`` is
  the range ``]`` to ``a``, and ``[a-\\]]`` is the range ``\\`` to ``a``
  followed by a literal ``]``. Write a literal ``-`` first or as ``\\-``.

Like Redis, a glob matches the key's **UTF-8 bytes**, so for a non-ASCII key
"character" above means byte: ``?`` and a set match one byte, and ``"é"``
(two bytes) needs ``"??"``; a set written with ``é`` holds its two bytes.
Range bounds compare as C ``char`` does on x86-64 (signed), so a range from
an ASCII character to a byte of a non-ASCII one (``[a-é]``) wraps through
the bytes 0x80-0xFF and 0x00 up to the ASCII bound; Redis built where
``char`` is unsigned (ARM) orders those few ranges differently. For ASCII
keys and patterns all of this is simply characters.

An unclosed ``[`` raises :class:`~pepperflow.InvalidPattern`, where Redis
would quietly close it at the end of the pattern; that includes a ``]``
swallowed as a range end with nothing closing the set after it (``[a-]``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from ._errors import NOT_UNICODE_FIX, InvalidPattern

__all__ = ["Pattern", "compile_pattern", "exact_pattern"]


class Pattern:
    """A compiled pattern: ``prefix`` is its literal head; ``match(key)`` decides.

    ``regex`` is ``None`` for a prefix pattern. For a glob it is the compiled
    full-match regex over the key's UTF-8 bytes, each byte written as the
    character of the same value (so an ASCII key is its own input; ``match``
    does the conversion for the others). ``prefix`` is the literal text
    before the first metacharacter, which every matching key starts with
    (used to index subscriptions and to narrow scans).

    ``exact`` is true for a subscription's one whole key
    (:func:`exact_pattern`): ``prefix`` is that key and only it matches.
    """

    __slots__ = ("exact", "match", "prefix", "regex", "source")

    source: str
    prefix: str
    regex: re.Pattern[str] | None
    match: Callable[[str], bool]
    exact: bool

    def __init__(
        self, source: str, prefix: str, regex: re.Pattern[str] | None, *, exact: bool = False
    ) -> None:
        self.source = source
        self.prefix = prefix
        self.regex = regex
        self.exact = exact
        if exact:
            self.match = prefix.__eq__
        elif regex is None:
            self.match = _prefix_matcher(prefix)
        else:
            self.match = _glob_matcher(regex)

    @property
    def is_glob(self) -> bool:
        """True when the pattern is a glob over the whole key."""
        return self.regex is not None

    def __repr__(self) -> str:
        if self.exact:
            return f"Pattern({self.source!r}, exact=True)"
        return f"Pattern({self.source!r})"


def _prefix_matcher(prefix: str) -> Callable[[str], bool]:
    if not prefix:
        return lambda key: True
    return lambda key: key.startswith(prefix)


def _glob_matcher(regex: re.Pattern[str]) -> Callable[[str], bool]:
    fullmatch = regex.fullmatch

    def match(key: str) -> bool:
        if key.isascii():
            return fullmatch(key) is not None
        return fullmatch(key.encode("utf-8", "surrogatepass").decode("latin-1")) is not None

    return match


def compile_pattern(pattern: str | None) -> Pattern:
    """Compile ``pattern`` by the rule in this module's docstring.

    A ``str`` subclass's pattern is its plain text, as for keys.

    Raises:
        InvalidPattern: ``pattern`` is not a str or None, is not valid
            Unicode text (a lone surrogate, which no key can hold), or has
            an unclosed ``[``.
    """
    if type(pattern) is not str and pattern is not None:
        if not isinstance(pattern, str):
            raise InvalidPattern(
                f"pattern must be a str or None, got {type(pattern).__name__}: {pattern!r}"
            )
        pattern = str.__str__(pattern)
    return _compile(pattern)


def exact_pattern(key: str) -> Pattern:
    """The pattern matching exactly ``key`` (a checked key: no glob, no prefix)."""
    return Pattern(key, key, None, exact=True)


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str | None) -> Pattern:
    if pattern is None:
        return Pattern("", "", None)
    # Parsed byte by byte like Redis's stringmatchlen; the regex works on the
    # key's UTF-8 bytes, each byte written as the character with its value.
    try:
        raw = pattern.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidPattern(
            f"pattern {pattern!r} is not valid Unicode text: the character at position"
            f" {exc.start} is a lone surrogate, which no key can hold; {NOT_UNICODE_FIX}"
        ) from None
    literal = bytearray()
    parts: list[str] = []
    i, n = 0, len(raw)
    glob = False
    while i < n:
        byte = raw[i]
        if byte == _BACKSLASH and i + 1 < n:
            i += 1
            byte = raw[i]
        elif byte == _STAR:
            glob = True
            parts.append(".*")
            i += 1
            continue
        elif byte == _QUESTION:
            glob = True
            parts.append(".")
            i += 1
            continue
        elif byte == _OPEN:
            glob = True
            part, i = _byte_class(pattern, raw, i)
            parts.append(part)
            continue
        parts.append(re.escape(chr(byte)))
        if not glob:
            literal.append(byte)
        i += 1
    # Metacharacters are ASCII, so the literal head is whole UTF-8 characters.
    prefix = literal.decode("utf-8")
    if not glob:
        return Pattern(pattern, prefix, None)
    return Pattern(pattern, prefix, re.compile("".join(parts), re.DOTALL))


_BACKSLASH, _STAR, _QUESTION, _OPEN, _CLOSE, _CARET, _DASH = b"\\*?[]^-"


def _byte_class(pattern: str, raw: bytes, start: int) -> tuple[str, int]:
    """Translate the ``[...]`` at byte ``start``; return its regex and the index after it.

    Exactly Redis's reading: ``\\x`` is the byte ``x`` (never a range end
    point); ``x-y`` is a range whenever two more bytes follow ``x``, even if
    ``y`` is ``]`` or ``\\``; bounds compare as C ``char`` on x86-64 (signed,
    so a range from an ASCII byte to a byte >= 0x80 wraps through 0x80..0xFF).
    """
    i, n = start + 1, len(raw)
    negate = i < n and raw[i] == _CARET
    if negate:
        i += 1
    members: set[int] = set()
    eaten_close = -1  # where a range end swallowed a "]", for the error message
    while True:
        if i >= n:
            raise _unclosed(pattern, raw, start, eaten_close)
        byte = raw[i]
        if byte == _BACKSLASH and i + 1 < n:
            members.add(raw[i + 1])
            i += 2
        elif byte == _CLOSE:
            i += 1
            break
        elif i + 2 < n and raw[i + 1] == _DASH:
            lo, hi = sorted((_signed(byte), _signed(raw[i + 2])))
            members.update(value & 0xFF for value in range(lo, hi + 1))
            if raw[i + 2] == _CLOSE:
                eaten_close = i + 2
            i += 3
        else:
            members.add(byte)
            i += 1
    if negate:
        members = set(range(256)) - members
    return _class_regex(members), i


def _signed(byte: int) -> int:
    return byte - 256 if byte >= 0x80 else byte


def _class_regex(members: set[int]) -> str:
    """A regex for one byte in ``members``."""
    if not members:
        return "(?!)"  # "[]" matches nothing, as in Redis
    if len(members) == 256:
        return "."  # "[^]" matches any one byte, as in Redis
    runs: list[str] = []
    ordered = sorted(members)
    first = last = ordered[0]
    for byte in [*ordered[1:], -1]:
        if byte == last + 1:
            last = byte
            continue
        runs.append(f"\\x{first:02x}" if first == last else f"\\x{first:02x}-\\x{last:02x}")
        first = last = byte
    return f"[{''.join(runs)}]"


def _unclosed(pattern: str, raw: bytes, start: int, eaten_close: int) -> InvalidPattern:
    def position(index: int) -> int:
        return len(raw[:index].decode("utf-8"))

    message = f"pattern {pattern!r} has an unclosed '[' at position {position(start)};"
    if eaten_close >= 0:
        message += (
            f" the ']' at position {position(eaten_close)} ends a range (as in Redis),"
            " so write a literal '-' first in the set or as '\\-';"
        )
    return InvalidPattern(message + " close it with ']' or escape it as '\\['")
