"""How :func:`~pepperflow.stores.url.open_store` reads the parts of a store URL.

A backend's query options are a table of :class:`Option` (how each option's
text becomes the constructor's argument, and what to write instead of a bad
one); :func:`read_options` reads a query string against one. Each function
here raises :class:`~pepperflow.UnknownStoreURL` with the reason only: the
caller (:func:`~pepperflow.stores.url.store_from_url`) puts the URL,
redacted, in front. A reason never repeats the URL's host, port or path,
which hold the password when it was written unescaped: only an option's
name and value, which cannot.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import SplitResult, parse_qsl

import msgspec

from .._errors import UnknownStoreURL

__all__ = [
    "Option",
    "check_redis_parts",
    "cluster_seeds",
    "read_options",
    "seconds",
    "text",
    "whole",
]


class Option(msgspec.Struct, frozen=True):
    """One query option: how its text is read, and what it should look like.

    Attributes:
        parse: the option's text to the constructor's argument; raises
            ``ValueError`` for text that is not of the option's form.
        form: the form, as an error names it (``"a number of seconds"``).
        example: a good value, for the error's "write e.g." (``"0.1"``).
    """

    parse: Callable[[str], Any]
    form: str
    example: str


def _finite(value: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {value!r}")
    return number


def _text(value: str) -> str:
    if not value:
        raise ValueError("empty")
    return value


def text(form: str, example: str) -> Option:
    """An option whose value is non-empty text (a name, a policy: the
    constructor checks which)."""
    return Option(_text, form, example)


def whole(form: str, example: str) -> Option:
    """An option whose value is a whole number (``int``)."""
    return Option(int, form, example)


def seconds(example: str) -> Option:
    """An option whose value is a finite number of seconds (``float``); the
    constructor checks its range."""
    return Option(_finite, "a number of seconds", example)


def read_options(
    query: str, table: Mapping[str, Option]
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """The options of ``table`` in ``query``, read; and the other ``(name, value)`` pairs.

    Raises:
        UnknownStoreURL: an option of ``table`` given twice, or whose value
            is not of its form (naming the option, the value and the form).
    """
    known: dict[str, Any] = {}
    other: list[tuple[str, str]] = []
    for name, value in parse_qsl(query, keep_blank_values=True):
        option = table.get(name)
        if option is None:
            other.append((name, value))
        elif name in known:
            raise UnknownStoreURL(f"the option {name!r} is given twice; give it once")
        else:
            known[name] = _read(name, value, option)
    return known, other


def _read(name: str, value: str, option: Option) -> Any:
    try:
        return option.parse(value)
    except ValueError:
        raise UnknownStoreURL(
            f"the option {name!r} is {value!r}, not {option.form};"
            f" write e.g. {name}={option.example}"
        ) from None


def check_redis_parts(parts: SplitResult) -> None:
    """Raise unless a redis URL names a host, a port of 1-65535 (or none) and a
    database number (or none) as its path.

    Raises:
        UnknownStoreURL: which part is wrong and what to write.
    """
    example = "e.g. redis://127.0.0.1:6379/0"
    if not parts.hostname:
        raise UnknownStoreURL(f"name the server, {example}")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port is not None and not 1 <= port <= 65535:
        raise UnknownStoreURL(f"the port must be a number from 1 to 65535, {example}")
    database = parts.path.removeprefix("/")
    if database and not (database.isascii() and database.isdigit()):
        raise UnknownStoreURL(
            f"the path must be the database's number (0 by default) and nothing else, {example}"
        )


def cluster_seeds(parts: SplitResult) -> tuple[SplitResult, list[tuple[str, int]]]:
    """A ``redis+cluster://[userinfo@]host:port,host:port/...`` URL's seed
    nodes, and the URL with its first seed as its only host.

    Raises:
        UnknownStoreURL: a seed without a host or with a bad port.
    """
    userinfo, at, hosts = parts.netloc.rpartition("@")
    seeds: list[tuple[str, int]] = []
    for seed in hosts.split(","):
        seed_parts = parts._replace(netloc=seed, path="", query="")
        check_redis_parts(seed_parts)  # each seed is host[:port]
        seeds.append((str(seed_parts.hostname), seed_parts.port or 6379))
    first = parts.netloc.removeprefix(userinfo + at).split(",")[0]
    return parts._replace(netloc=userinfo + at + first), seeds
