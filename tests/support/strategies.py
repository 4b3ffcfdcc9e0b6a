"""Hypothesis strategies for the fuzz tests: keys, values, metadata, ttls,
changes, glob patterns, and garbage bytes.

Text never holds a lone surrogate (``"\\ud800"``): no backend but memory
can store one (see tests/stores/test_fuzz_garbage.py).
"""

from __future__ import annotations

import datetime
import enum
from typing import Any

import msgspec
from hypothesis import strategies as st

from pepperflow._durations import MAX_SECONDS
from pepperflow.stores._codec import INT_MAX, INT_MIN
from pepperflow.streams import Change, DeleteChange, ExpireChange, SetChange

__all__ = [
    "GLOB_ALPHABET",
    "Item",
    "changes",
    "garbage",
    "globs",
    "items",
    "json_metadata",
    "json_values",
    "keys",
    "metadata",
    "plain_values",
    "rich_values",
    "text",
    "ttls",
]

#: Any characters but lone surrogates: control characters, NUL, every plane.
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)

#: Glob metacharacters, range bounds and multi-byte characters (Redis matches bytes).
GLOB_ALPHABET = [*"ab-z*?[]^\\:!", " ", "\x00", "\x7f", "é", "ÿ", "✓", "日", "😀"]

#: Keys: any text, or text of the glob alphabet (to meet the patterns).
keys = st.one_of(
    st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=12),
    st.text(st.sampled_from(GLOB_ALPHABET), min_size=1, max_size=6),
)

_ints = st.integers(INT_MIN, INT_MAX)
_json_scalars = st.one_of(
    st.none(), st.booleans(), _ints, st.floats(allow_nan=False, allow_infinity=False), text
)

#: JSON data: what JSON gives back as it went in.
json_values = st.recursive(
    _json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=10,
)

#: Plain data: what an untyped store gives back as it went in (bytes, inf too).
plain_values = st.recursive(
    st.one_of(_json_scalars, st.binary(max_size=16), st.floats(allow_nan=False)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
    max_leaves=10,
)


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Item(msgspec.Struct, frozen=True):
    """A typed store's value."""

    name: str
    count: int
    tags: tuple[str, ...] = ()
    at: datetime.datetime | None = None
    blob: bytes = b""
    color: Color = Color.RED


_aware = st.datetimes(timezones=st.timezones())
items = st.builds(
    Item,
    name=text,
    count=_ints,
    tags=st.lists(text, max_size=3).map(tuple),
    at=st.none() | _aware,
    blob=st.binary(max_size=8),
    color=st.sampled_from(Color),
)

#: Values of any type msgspec encodes: an untyped store keeps their plain form.
rich_values = st.recursive(
    st.one_of(
        plain_values,
        st.datetimes(),
        _aware,
        st.dates(),
        st.times(),
        st.uuids(),
        st.decimals(allow_nan=False),
        st.sampled_from(Color),
        items,
    ),
    lambda inner: (
        st.lists(inner, max_size=3).map(tuple)
        | st.frozensets(st.integers(-5, 5) | text, max_size=3)
        | st.dictionaries(text, inner, max_size=3)
    ),
    max_leaves=8,
)

#: A store's metadata: a dict of str keys, or none.
metadata = st.none() | st.dictionaries(text, plain_values, max_size=3)
json_metadata = st.none() | st.dictionaries(text, json_values, max_size=3)

#: A ttl in seconds (or a timedelta) that does not run out during a test.
ttls = (
    st.none()
    | st.floats(60.0, MAX_SECONDS)
    | st.timedeltas(datetime.timedelta(minutes=1), datetime.timedelta(seconds=MAX_SECONDS))
)

_times = st.floats(0, 4e9)
_seqs = st.integers(1, 2**53)


def _set_change(
    values: st.SearchStrategy[Any], metas: st.SearchStrategy[Any]
) -> st.SearchStrategy[SetChange[Any, Any]]:
    return st.builds(
        SetChange,
        store=text,
        key=keys,
        version=_seqs,
        seq=_seqs,
        committed_at=_times,
        value=values,
        created_at=_times,
        metadata=metas,
        expires_at=st.none() | _times,
    )


def changes(
    values: st.SearchStrategy[Any] = plain_values, metas: st.SearchStrategy[Any] = metadata
) -> st.SearchStrategy[Change]:
    """Change events with ``values`` as a set's value and ``metas`` its metadata."""
    removal = {"store": text, "key": keys, "version": _seqs, "seq": _seqs, "committed_at": _times}
    return st.one_of(
        _set_change(values, metas),
        st.builds(DeleteChange, **removal),
        st.builds(ExpireChange, **removal),
    )


def _mutated(data: bytes, draw: st.DrawFn) -> bytes:
    """``data`` truncated, with a byte changed, or with bytes inserted."""
    at = draw(st.integers(0, max(len(data) - 1, 0)))
    how = draw(st.sampled_from(["truncate", "flip", "insert"]))
    if how == "truncate":
        return data[:at]
    if how == "flip" and data:
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1 :]
    return data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]


@st.composite
def garbage(draw: st.DrawFn) -> bytes:
    """Bytes a decoder may meet: random, msgpack of other shapes, a change
    mutated, or nested too deeply."""
    kind = draw(st.sampled_from(["random", "other", "mutated", "deep"]))
    if kind == "random":
        return draw(st.binary(max_size=40))
    if kind == "other":
        return msgspec.msgpack.encode(draw(plain_values))
    if kind == "deep":
        return b"\x91" * draw(st.integers(100, 5000)) + b"\x01"
    return _mutated(msgspec.msgpack.encode(draw(changes())), draw)


#: Globs: literals, ``*``, ``?``, escapes and ``[...]`` sets (negated,
#: ranges, escapes inside), and the odd raw metacharacter.
def _set() -> st.SearchStrategy[str]:
    char = st.sampled_from(GLOB_ALPHABET)
    member = st.one_of(
        char.filter(lambda c: c not in "]\\-"),
        st.builds(lambda a, b: f"{a}-{b}", char, char),
        char.map(lambda c: "\\" + c),
    )
    return st.builds(
        lambda negate, members, close: "[" + ("^" if negate else "") + "".join(members) + close,
        st.booleans(),
        st.lists(member, max_size=3),
        st.sampled_from(["]", "]", "]", ""]),
    )


_token = st.one_of(
    st.sampled_from(GLOB_ALPHABET).filter(lambda c: c not in "*?[\\"),
    st.sampled_from(["*", "?"]),
    st.sampled_from(GLOB_ALPHABET).map(lambda c: "\\" + c),
    _set(),
    st.sampled_from(GLOB_ALPHABET),
)
globs = st.lists(_token, min_size=1, max_size=6).map("".join)
