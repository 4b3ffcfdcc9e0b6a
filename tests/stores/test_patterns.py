"""The one pattern rule (prefix, or a glob over the whole key)."""

from __future__ import annotations

import pytest

from pepperflow import DefaultResourceManager, InvalidPattern
from pepperflow._patterns import compile_pattern
from pepperflow.testing import PATTERN_CASES


@pytest.mark.parametrize(("pattern", "expected"), PATTERN_CASES)
def test_pattern_cases(pattern: str | None, expected: set[str]) -> None:
    keys = set().union(*(keys for _, keys in PATTERN_CASES))
    assert {key for key in keys if compile_pattern(pattern).match(key)} == expected


@pytest.mark.parametrize(
    ("pattern", "prefix", "is_glob"),
    [
        (None, "", False),
        ("", "", False),
        ("user:", "user:", False),
        ("user:*", "user:", True),
        ("a\\*b", "a*b", False),
        ("a\\*b*", "a*b", True),
        ("x[ab]y", "x", True),
        ("?", "", True),
        ("tail\\", "tail\\", False),
    ],
)
def test_literal_prefix(pattern: str | None, prefix: str, is_glob: bool) -> None:
    compiled = compile_pattern(pattern)
    assert compiled.prefix == prefix
    assert compiled.is_glob is is_glob


def test_prefix_patterns_match_by_prefix_only() -> None:
    p = compile_pattern("user:1")
    assert p.match("user:1") and p.match("user:10")
    assert not p.match("xuser:1") and not p.match("user:")


def test_glob_is_over_the_whole_key() -> None:
    p = compile_pattern("user:?")
    assert p.match("user:1") and not p.match("user:10")
    assert compile_pattern("*:1").match("a:b:1")
    assert compile_pattern("a*").match("a\nb"), "* crosses newlines as in Redis"


@pytest.mark.parametrize("bad", ["[", "a[b", "a[^", "[\\]"])
def test_unclosed_bracket_is_an_error_naming_the_fix(bad: str) -> None:
    with pytest.raises(InvalidPattern, match=r"unclosed '\['.*escape it"):
        compile_pattern(bad)


def test_non_str_pattern_is_an_error() -> None:
    with pytest.raises(InvalidPattern, match="must be a str"):
        compile_pattern(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("bad", "message"),
    [(["a"], "must be a str or None, got list"), (5, "got int"), ("a\ud800", "lone surrogate")],
)
def test_a_facade_feed_refuses_a_bad_pattern_before_its_prefix_is_put_in_front(
    bad: object, message: str
) -> None:
    resources = DefaultResourceManager()
    with pytest.raises(InvalidPattern, match=message):
        resources.changes(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidPattern, match=message):
        resources.subscribe(bad, print)  # type: ignore[arg-type]
