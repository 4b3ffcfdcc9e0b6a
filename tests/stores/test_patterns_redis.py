"""Our glob patterns mean exactly what Redis ``SCAN ... MATCH`` means.

Every glob below is run two ways over the same keys: by a private, real
``redis-server`` (``SCAN MATCH`` and ``KEYS``) and by
:func:`pepperflow._patterns.compile_pattern`; the matched sets must be equal.
The one deliberate difference: a ``[`` that Redis's parser leaves unclosed
raises :class:`~pepperflow.InvalidPattern` here, which those patterns'
tests assert instead.

A pattern without metacharacters is a *prefix* in pepperflow; Redis needs
``escape(prefix) + "*"`` for that, which the prefix tests compare against.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
import redis

from pepperflow import InvalidPattern
from pepperflow._patterns import compile_pattern
from pepperflow.testing import PATTERN_CASES
from tests.support.redis_globs import compiled as like_redis
from tests.support.redis_globs import empty_db, has_unclosed_bracket, redis_match

if TYPE_CHECKING:
    from tests.support.redis_server import RedisServer

#: A database of its own on the shared session server, emptied before and after.
PATTERN_DB = 7

_CASE_KEYS: set[str] = set().union(*(keys for _, keys in PATTERN_CASES))

#: Keys with every metacharacter, ASCII neighbours of range bounds, and
#: multi-byte UTF-8 (Redis matches bytes, not characters).
KEYS: tuple[str, ...] = tuple(
    sorted(
        _CASE_KEYS
        | {
            # one character
            "a", "b", "c", "x", "z", "A", "Z", "0", "9", "-", "^", "]", "[", "\\",
            "*", "?", " ", "!", "_", "`", "~", "\x7f", "é", "ÿ", "✓",
            # three characters a?c
            "abc", "abd", "aXc", "a-c", "a^c", "a]c", "a[c", "a\\c", "a*c", "a?c",
            "a c", "a!c", "a_c", "a`c", "a~c", "aéc", "a✓c", "aac", "acc",
            # two characters
            "ab", "ba", "aa", "a-", "-a", "]a", "a]", "^a", "a^", "a\\", "\\\\", "**",
            # words
            "hello", "hallo", "hxllo", "heeeello", "hllo", "abcabc", "AbC", "ABC",
            "café", "cafe", "cafè", "caf", "cafés", "naïve", "✓ok", "ok✓", "日本",
            "x y z", " lead", "trail ", "tab\tkey", "new\nline", "back\\slash",
            "foo[bar]", "foo[]", "foo\\", "[a-z]", "a--", "a-b-c", "a*b*c",
        }
    )
)  # fmt: skip

#: Globs: every construct, escapes in and out of brackets, odd classes.
GLOB_PATTERNS: list[str] = list(
    dict.fromkeys(
        [
            # * and ?
            "*", "**", "***", "?", "??", "???", "a*", "*a", "*a*", "a*c", "a?c",
            "a??", "?b*", "*:*", "*1", "*1*", "h*llo", "h?llo", "h*l*o", "a*b*c",
            "*a*b*", "**a**", "*?*?*", "*??", "?*?", "user:??",
            # classes and ranges
            "a[bc]", "a[bc]?", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "[a-z]", "[z-a]",
            "[A-Z]", "[Z-A]", "[0-9]", "[9-0]", "[a-c]b", "a[a-z]c", "a[^a-z]c",
            "a[z-a]c", "[a-a]", "[!b]", "a[!b]c", "[A-Z]*", "*[a-z]", "[aA][bB][cC]",
            "[a-c-e]", "a[a-b-d]c", "[--0]", "[^-]", "[^^]", "[a^]", "[^a^]", "[^^-a]",
            "[*]", "[?]", "*[*]*", "*[?]*", "*[[]*", "[[]", "*[ ]*",
            # empty and negated-empty classes
            "[]", "[]a", "a[]c", "[]]", "*[]]*", "[^]", "[^]]", "[^]a", "a[^]c",
            "[]a]", "[^]a]", "[]-", "x[^]",
            # '-' and ']' inside brackets
            "[-]", "[-a]", "a[-a]c", "[a-]]", "a[a-]]c", "[a-]", "a[a-]", "[]-a]",
            "[\\]]", "a[\\]]c", "*[\\]]*", "[\\-]", "a[\\-]c", "[\\-a]", "[a\\-]",
            "[a\\-c]", "a[a\\-c]c",
            # escapes inside brackets
            "[\\a-z]", "a[\\a-c]c", "[a-\\]]", "a[a-\\]]c", "[a-\\z]", "a[a-\\]]",
            "[\\\\]", "a[\\\\]c", "*[\\\\]*", "[\\[]", "a[\\[]c", "[\\^a]", "a[\\^]c",
            "[^\\^]", "[\\*]", "[\\?]",
            # escapes outside brackets
            "a\\*b*", "\\**", "*\\*", "a\\?*", "\\??", "\\[*", "*\\[*", "\\[x]?",
            "\\[x\\]*", "*\\\\", "*\\", "h\\\\llo*", "*\\a*", "\\a?c", "a?\\c",
            "foo\\[*", "*\\]", "foo[[]bar]",
            # whitespace and control characters
            "new?line", "new*", "tab?key", "*\t*", "*\n*", "x?y?z", "?lead", "trail?",
            # non-ASCII: Redis matches UTF-8 bytes
            "caf?", "caf??", "caf*", "caf?*", "caf[é]", "caf[é][é]", "caf[^e]",
            "caf[^e]?", "caf[^e]*", "caf[è-é]", "*é", "*é*", "[é]", "[é][é]",
            "[^a]", "[^a]?", "[^é]", "[^é]?", "a?c", "a??c", "a???c", "a[^b]c",
            "a[^b]?c", "a[^b][^b]c", "a[^b][^b][^b]c", "?✓*", "✓*", "[✓]", "[✓]??",
            "[✓][✓][✓]", "*✓", "*✓*", "na?ve", "na??ve", "日?", "日*", "??????",
            # ranges over bytes >= 0x80 (signed char in Redis on x86-64)
            "[~-é]", "[é-~]", "[a-é]", "[é-a]", "[é-é]", "[\x7f-é]", "[\x80-ÿ]",
            "[é-ÿ]?", "?[é-ÿ]", "a[a-é]c", "a[a-é]?c", "a[a-é][a-é]c", "a[✓-a]*c",
            # unclosed '[' (Redis accepts these; we raise InvalidPattern)
            "[", "[a", "a[b", "[^", "[\\", "[\\]", "[a-", "a[a-]c", "*[",
        ]
        + [p for p, _ in PATTERN_CASES if p is not None and compile_pattern(p).is_glob]
    )
)  # fmt: skip

#: Prefix patterns (no unescaped metacharacter).
PREFIX_PATTERNS: list[str] = list(
    dict.fromkeys(
        [
            "", "a", "ab", "abc", "A", "a-", "-", "^", "]", " ", "user", "user:",
            "caf", "café", "✓", "日", "h\\\\", "a\\*", "\\*", "\\?", "\\[", "a\\[c",
            "\\a", "a\\", "foo\\", "\\", "new\nl", "nothing", "é", "x y",
        ]
        + [p for p, _ in PATTERN_CASES if p is not None and not compile_pattern(p).is_glob]
    )
)  # fmt: skip


def redis_escape(literal: str) -> str:
    """``literal`` as a Redis glob that matches exactly it."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in literal)


def unescape(pattern: str) -> str:
    """The literal text of a pattern without metacharacters (``\\x`` is ``x``)."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            i += 1
        out.append(pattern[i])
        i += 1
    return "".join(out)


@pytest.fixture(scope="module")
def client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A client of the private server, with exactly ``KEYS`` in its database."""
    with empty_db(redis_server, PATTERN_DB) as conn:
        conn.mset(dict.fromkeys(KEYS, "1"))
        assert conn.dbsize() == len(KEYS)
        yield conn


def ours(pattern: str) -> set[str]:
    match = compile_pattern(pattern).match
    return {key for key in KEYS if match(key)}


def test_the_comparison_is_broad() -> None:
    compared = [p for p in GLOB_PATTERNS if not has_unclosed_bracket(p)]
    assert len(compared) >= 60
    assert len(KEYS) >= 60
    for ch in "*?[]\\^- é✓":
        assert any(ch in key for key in KEYS), ch


@pytest.mark.parametrize("pattern", GLOB_PATTERNS)
def test_glob_matches_what_redis_matches(client: redis.Redis, pattern: str) -> None:
    compiled = like_redis(pattern)
    if compiled is None:
        return
    assert compiled.is_glob
    expected = redis_match(client, pattern)
    got = ours(pattern)
    assert got == expected, (
        f"pattern {pattern!r}: only ours {sorted(got - expected)},"
        f" only Redis {sorted(expected - got)}"
    )
    for key in got:
        assert key.startswith(compiled.prefix), (pattern, compiled.prefix, key)


def test_random_globs_match_what_redis_matches(client: redis.Redis) -> None:
    """Seeded random globs from metacharacters, range bounds and multi-byte text."""
    rng = random.Random(20240601)
    alphabet = [*"ab-~*?[]^\\", "é", "ÿ", "\x7f", "✓"]
    compared = 0
    wrong: list[str] = []
    for _ in range(2000):
        pattern = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
        if has_unclosed_bracket(pattern):
            with pytest.raises(InvalidPattern, match="unclosed"):
                compile_pattern(pattern)
            continue
        if not compile_pattern(pattern).is_glob:
            continue
        compared += 1
        if ours(pattern) != redis_match(client, pattern):
            wrong.append(pattern)
    assert compared >= 500
    assert not wrong, f"{len(wrong)} of {compared} random globs disagree with Redis: {wrong[:20]}"


@pytest.mark.parametrize("pattern", PREFIX_PATTERNS)
def test_prefix_matches_what_redis_matches_with_a_star(client: redis.Redis, pattern: str) -> None:
    compiled = compile_pattern(pattern)
    assert not compiled.is_glob
    literal = unescape(pattern)
    assert compiled.prefix == literal
    expected = redis_match(client, redis_escape(literal) + "*")
    assert ours(pattern) == expected
    assert expected == {key for key in KEYS if key.startswith(literal)}


def test_none_matches_every_key_like_redis_star(client: redis.Redis) -> None:
    match = compile_pattern(None).match
    assert {key for key in KEYS if match(key)} == redis_match(client, "*") == set(KEYS)


@pytest.mark.parametrize(("pattern", "expected"), PATTERN_CASES)
def test_pattern_cases_hold_on_redis(
    client: redis.Redis, pattern: str | None, expected: set[str]
) -> None:
    """The conformance table's answers are Redis's answers, over the table's keys."""
    if pattern is None or not compile_pattern(pattern).is_glob:
        pattern = redis_escape(unescape(pattern or "")) + "*"
    assert redis_match(client, pattern) & _CASE_KEYS == expected
