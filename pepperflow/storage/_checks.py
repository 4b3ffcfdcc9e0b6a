"""The checks of a storage operation's input, made once at the edge.

Each raises the error that names the operation, what was wrong and the fix;
nothing is stored when one fails.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime

from .._errors import InvalidTags
from ..stores._lookup import check_moment

__all__ = ["check_content_type", "check_tags", "ttl_until"]


def check_content_type(content_type: object, where: str) -> str:
    """``content_type`` if it is a non-empty str.

    Raises:
        TypeError, ValueError: it is not.
    """
    if not isinstance(content_type, str):
        raise TypeError(
            f"{where}: content_type must be a str (e.g. 'report'), got"
            f" {type(content_type).__name__}: {content_type!r}"
        )
    if not content_type:
        raise ValueError(f"{where}: content_type must be a non-empty str (e.g. 'report')")
    return str.__str__(content_type)


def check_tags(tags: object, where: str) -> dict[str, str]:
    """A plain copy of ``tags``, a mapping of str to str (``None``: no tags).

    Raises:
        InvalidTags: ``tags`` is not a mapping, or a name or value is not a str.
    """
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidTags(
            f"{where}: tags must be a mapping of str to str, e.g. {{'purpose': 'test'}};"
            f" got {type(tags).__name__}: {tags!r}"
        )
    copy: dict[str, str] = {}
    for name, value in tags.items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise InvalidTags(
                f"{where}: tags must be str to str; the tag {name!r}: {value!r} has a"
                f" {type(name).__name__} name and a {type(value).__name__} value;"
                " convert them, e.g. {str(name): str(value)}"
            )
        copy[str.__str__(name)] = str.__str__(value)
    return copy


def ttl_until(expires_at: object, where: str) -> float | None:
    """The seconds from now until ``expires_at`` (``None``: no expiry).

    Raises:
        TypeError, ValueError: not an aware datetime, or not in the future.
    """
    check_moment(f"{where}: expires_at", expires_at)
    if expires_at is None:
        return None
    assert isinstance(expires_at, datetime)
    seconds = expires_at.timestamp() - time.time()
    if seconds <= 0:
        raise ValueError(
            f"{where}: expires_at {expires_at.isoformat()} is not in the future; an item"
            " must live a while (use delete() to remove one now)"
        )
    return seconds
