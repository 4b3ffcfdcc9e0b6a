"""The bad-input table: every kind of bad input to every operation that takes it.

Each :class:`BadInput` is one operation given one bad argument, the error
it must raise and a fragment of the message, which says what was wrong and
how to fix it. :func:`bad_inputs` builds the table, operations by bad
arguments; the check that runs it on a store is
:func:`pepperflow.testing._bad_input.check_bad_input`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from datetime import timedelta
from typing import Any

import msgspec

from .._errors import InvalidKey, InvalidPattern, InvalidTTL, InvalidValue, UnencodableValue
from ..stores.base import Entry, Snapshot

__all__ = ["BadInput", "bad_inputs"]

#: An operation on a store, given the bad argument: ``operation(store, argument)``
#: (typed ``Any``: the argument is wrong on purpose). What it gives back is
#: awaited, entered or iterated.
Operation = Callable[[Any, Any], Any]

#: A value nested deeper than msgspec (Python's recursion limit) can encode.
DEPTH = 10_000

SURROGATE = "a\ud800"  # a lone surrogate: text no backend can store


class BadInput(msgspec.Struct, frozen=True):
    """One bad argument to one operation.

    Attributes:
        what: the call, as a failure names it (``"get(key=5)"``).
        operation: ``operation(store, argument)`` makes the call.
        argument: the bad argument.
        error: the exception the call must raise.
        message: a regex its message must match (what was wrong, the fix).
    """

    what: str
    operation: Operation
    argument: Any
    error: type[Exception]
    message: str


#: A bad argument: how a failure names it, the argument, its error and message.
Bad = tuple[str, Any, type[Exception], str]


def _table(operations: Mapping[str, Operation], bad: list[Bad], name: str) -> list[BadInput]:
    """Each of ``operations`` given each of ``bad`` as its argument ``name``."""
    return [
        BadInput(f"{operation}({name}={label})", call, argument, error, message)
        for label, argument, error, message in bad
        for operation, call in operations.items()
    ]


def _snapshot(key: Any, value: Any) -> Snapshot:
    return Snapshot("bad", 1, 0.0, [Entry(key, value, 1, 1.0, 1.0)])


def _nested(depth: int) -> list[Any]:
    outer: list[Any] = []
    inner = outer
    for _ in range(depth):
        inner.append([])
        inner = inner[0]
    return outer


KEY_OPERATIONS: dict[str, Operation] = {
    "set": lambda s, k: s.set(k, 1),
    "set_many": lambda s, k: s.set_many([(k, 1)]),
    "get": lambda s, k: s.get(k),
    "get with a default": lambda s, k: s.get(k, "default"),
    "get_many": lambda s, k: s.get_many(["k", k]),
    "exists": lambda s, k: s.exists(k),
    "entry": lambda s, k: s.entry(k),
    "delete": lambda s, k: s.delete(k),
    "delete with if_version": lambda s, k: s.delete(k, if_version=1),
    "restore": lambda s, k: s.restore(_snapshot(k, 1)),
}


def _keys() -> list[BadInput]:
    bad: list[Bad] = [
        (repr(key), key, InvalidKey, message)
        for key, message in [
            ("", "keys must be non-empty; got an empty key"),
            (5, "keys must be str, got int: 5; convert it"),
            (None, "keys must be str, got NoneType"),
            (b"k", "keys must be str, got bytes"),
            (("a",), "keys must be str, got tuple"),
            (["a"], "keys must be str, got list"),  # unhashable
            ({"a": 1}, "keys must be str, got dict"),  # unhashable
            (SURROGATE, "keys must be valid Unicode text, .* position 1 is a lone surrogate"),
        ]
    ]
    in_a_mapping = {"set_many of a mapping": lambda s, k: s.set_many({k: 1})}
    hashable = [case for case in bad if isinstance(case[1], Hashable)]
    return _table(KEY_OPERATIONS, bad, "key") + _table(in_a_mapping, hashable, "key")


def _values() -> list[BadInput]:
    unencodable = "msgspec cannot encode it"
    bad: list[Bad] = [
        (label, value, UnencodableValue, message)
        for label, value, message in [
            ("object()", object(), unencodable),
            ("a function", lambda: 1, unencodable),
            ("2**64", 2**64, unencodable),
            ("-(2**63) - 1", -(2**63) - 1, unencodable),
            ("[1, object()]", [1, object()], unencodable),
            ("{'k': object()}", {"k": object()}, unencodable),
            ("a lone surrogate", SURROGATE, r"the value \(str\) holds text that is not valid"),
            ("one in a list", [SURROGATE], r"the value \(list\) holds text that is not valid"),
            ("one as a dict key", {SURROGATE: 1}, "holds text that is not valid Unicode"),
            (f"a list {DEPTH} deep", _nested(DEPTH), "nested too deeply to encode"),
        ]
    ]
    operations: dict[str, Operation] = {
        "set": lambda s, v: s.set("k", v),
        "set_many": lambda s, v: s.set_many({"a": 1, "b": v}),
        "restore": lambda s, v: s.restore(_snapshot("a", v)),
    }
    return _table(operations, bad, "value")


def _metadata() -> list[BadInput]:
    not_a_dict = "the metadata is not a dict"
    bad: list[Bad] = [
        ("{'m': object()}", {"m": object()}, UnencodableValue, r"metadata \(dict\).*cannot encode"),
        ("{1: 'x'}", {1: "x"}, InvalidValue, not_a_dict),
        ("a list", ["not", "a", "mapping"], InvalidValue, not_a_dict),
        ("a lone surrogate", {"m": SURROGATE}, UnencodableValue, "metadata .*not valid Unicode"),
        (f"{DEPTH} deep", {"m": _nested(DEPTH)}, UnencodableValue, "metadata .*nested too deep"),
    ]
    operations: dict[str, Operation] = {
        "set": lambda s, m: s.set("k", 1, metadata=m),
        "set_many": lambda s, m: s.set_many({"a": 1}, metadata=m),
    }
    return _table(operations, bad, "metadata")


def _ttls() -> list[BadInput]:
    positive = "ttl must be positive"
    at_most = "ttl must be positive and at most 100 years"
    a_duration = r"ttl must be seconds \(int or float\) or a timedelta"
    bad: list[Bad] = [
        (f"{ttl!r:.30}", ttl, InvalidTTL, message)
        for ttl, message in [
            (0, positive),
            (-1, positive),
            (-math.inf, positive),
            (math.nan, positive),
            (math.inf, at_most),
            (10**400, at_most),  # beyond a float
            (1e300, at_most),
            (101 * 365.25 * 86400, at_most),
            (timedelta(0), at_most),
            (timedelta(seconds=-1), at_most),
            (timedelta(days=101 * 366), at_most),
            ("5", a_duration),
            (True, a_duration),
            ([5], a_duration),
        ]
    ]
    operations: dict[str, Operation] = {
        "set": lambda s, t: s.set("k", 1, ttl=t),
        "set_many": lambda s, t: s.set_many({"a": 1}, ttl=t),
    }
    return _table(operations, bad, "ttl")


def _versions() -> list[BadInput]:
    message = r"if_version must be an int >= 0 \(0: the key must not exist\), got"
    bad: list[Bad] = [(repr(v), v, ValueError, message) for v in (-1, "1", True, 1.0, [1])]
    operations: dict[str, Operation] = {
        "set": lambda s, v: s.set("k", 2, if_version=v),
        "delete": lambda s, v: s.delete("k", if_version=v),
    }
    return _table(operations, bad, "if_version")


def _patterns() -> list[BadInput]:
    bad: list[Bad] = [
        (repr(pattern), pattern, InvalidPattern, message)
        for pattern, message in [
            (["a"], "pattern must be a str or None, got list"),  # unhashable
            (5, "pattern must be a str or None, got int"),
            (b"a*", "pattern must be a str or None, got bytes"),
            ("[a", r"unclosed '\['.*escape it as"),
            (SURROGATE + "*", "is not valid Unicode text: .* lone surrogate"),
        ]
    ]
    operations: dict[str, Operation] = {
        "subscribe": lambda s, p: s.subscribe(p, print),
        "scan": lambda s, p: s.scan(p),
        "clear": lambda s, p: s.clear(p),
        "changes": lambda s, p: s.changes(p),
        "changes with replay": lambda s, p: s.changes(p, replay=True),
    }
    return _table(operations, bad, "pattern")


def _other_arguments() -> list[BadInput]:
    """Bad arguments other than keys, values, metadata, ttls, versions and patterns."""
    pairs = r"set_many\(\) takes a mapping or an iterable of \(key, value\) pairs, got"
    pair = r"set_many\(\) takes \(key, value\) pairs, got"
    bad: list[tuple[str, Operation, Any, type[Exception], str]] = [
        ("set_many", lambda s, a: s.set_many(a), 5, TypeError, pairs),
        ("set_many", lambda s, a: s.set_many(a), "ab", TypeError, pairs),
        ("set_many", lambda s, a: s.set_many(a), [("a",)], TypeError, pair),
        ("set_many", lambda s, a: s.set_many(a), ["ab"], TypeError, pair),
        ("get_many", lambda s, a: s.get_many(a), "k", TypeError, r"not one str .*; use get\(\)"),
        ("get_many", lambda s, a: s.get_many(a), 5, TypeError, "an iterable of keys, not one int"),
        ("scan", lambda s, a: s.scan(None, batch_size=a), 0, ValueError, "batch_size must"),
        ("subscribe", lambda s, a: s.subscribe(None, a), 1, TypeError, "must be callable"),
        ("changes", lambda s, a: s.changes(buffer=a), 0, ValueError, "buffer must be an int"),
        ("changes", lambda s, a: s.changes(buffer=a), "9", ValueError, "buffer must be an int"),
        ("changes", lambda s, a: s.changes(overflow=a), "x", ValueError, "overflow must be one"),
        ("changes", lambda s, a: s.changes(overflow=a), [], ValueError, "overflow must be one"),
        ("restore", lambda s, a: s.restore(a), {}, TypeError, r"restore\(\) takes a Snapshot"),
    ]
    return [
        BadInput(f"{name}({argument!r})", call, argument, error, message)
        for name, call, argument, error, message in bad
    ]


def bad_inputs() -> list[BadInput]:
    """The whole table: keys, values, metadata, ttls, versions, patterns, the rest."""
    return [
        *_keys(),
        *_values(),
        *_metadata(),
        *_ttls(),
        *_versions(),
        *_patterns(),
        *_other_arguments(),
    ]
