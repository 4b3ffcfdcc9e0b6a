"""The value type of the façades' typed tests (test_typed_facades.py, test_typed_backends.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class Msg(msgspec.Struct, frozen=True):
    """A chat message: a frozen Struct with a datetime and a tuple."""

    role: str
    text: str
    at: datetime = AT
    tags: tuple[str, ...] = ()


HELLO = Msg("user", "hello", tags=("greeting",))
