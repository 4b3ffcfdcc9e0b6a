"""The value types the typed checks store, one :class:`TypeCase` each, and
the untyped rule's table (:data:`UNTYPED_RULE`).

Every type msgspec decodes to that issue #13 lists: a Struct, a tagged
union of Structs, a dataclass, an attrs class, a TypedDict, datetime, date,
UUID, Decimal, enums, tuples, sets and ``Any``.
"""

from __future__ import annotations

import dataclasses
import enum
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, TypedDict

import attrs
import msgspec

__all__ = [
    "CASES",
    "Basket",
    "UNTYPED_RULE",
    "Color",
    "Image",
    "Level",
    "Msg",
    "NOON",
    "NOTHING_WRONG",
    "Person",
    "Point",
    "Span",
    "Tags",
    "Text",
    "TypeCase",
]


class Msg(msgspec.Struct, frozen=True):
    role: str
    text: str = ""


class Text(msgspec.Struct, frozen=True, tag=True):
    body: str


class Image(msgspec.Struct, frozen=True, tag=True):
    url: str
    width: int = 0


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


@attrs.frozen
class Span:
    start: int
    end: int


class Person(TypedDict):
    name: str
    age: int


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Tags(msgspec.Struct, frozen=True):
    """A metadata type (``metadata_type=Tags``)."""

    source: str
    labels: tuple[str, ...] = ()
    at: datetime | None = None


#: No wrong value: every value fits the type (``Any``).
NOTHING_WRONG: Any = object()


@attrs.frozen
class TypeCase:
    """One value type: values of it, and a value that is not one.

    Attributes:
        name: the case's name, in failure messages.
        type: the store's ``type=``.
        values: values of the type, each set under a key of its own.
        wrong: a value that is not one (:data:`NOTHING_WRONG` for ``Any``).
        named: what the refusal's message must say of the type.
    """

    name: str
    type: Any
    values: tuple[Any, ...]
    wrong: Any = NOTHING_WRONG
    named: str = ""


#: An aware datetime (UTC: msgspec gives back aware datetimes in UTC).
NOON = datetime(2024, 5, 17, 12, 0, 30, 250_000, tzinfo=UTC)

#: Every type case, in the order the checks run them.
CASES: tuple[TypeCase, ...] = (
    TypeCase("Struct", Msg, (Msg("user", "hi"), Msg("assistant")), Msg(1), "Msg"),  # type: ignore[arg-type]
    TypeCase(
        "tagged union of Structs",
        Text | Image,
        (Text("hi"), Image("https://example.org/a.png", 640)),
        {"type": "Video"},
        "Image",
    ),
    TypeCase("dataclass", Point, (Point(1, 2), Point(-3, 4)), Point("a", 2), "Point"),  # type: ignore[arg-type]
    TypeCase("attrs class", Span, (Span(0, 5), Span(3, 9)), Span("a", 1), "Span"),  # type: ignore[arg-type]
    TypeCase(
        "TypedDict",
        Person,
        (Person(name="Ada", age=36), Person(name="Alan", age=41)),
        {"name": "Ada"},
        "Person",
    ),
    TypeCase("datetime", datetime, (NOON, datetime(1999, 12, 31, tzinfo=UTC)), "noon", "datetime"),
    TypeCase("date", date, (date(2024, 5, 17), date(1, 1, 1)), "soon", "date"),
    TypeCase("UUID", uuid.UUID, (uuid.UUID(int=1), uuid.uuid4()), "not-a-uuid", "UUID"),
    TypeCase("Decimal", Decimal, (Decimal("1.10"), Decimal("-1e-30")), "one", "Decimal"),
    TypeCase("enum", Color, (Color.RED, Color.BLUE), "purple", "Color"),
    TypeCase("int enum", Level, (Level.HIGH, Level.LOW), 7, "Level"),
    TypeCase("tuple", tuple[int, str], ((1, "a"), (2, "")), (1, 2), "tuple[int, str]"),
    TypeCase("set", set[int], ({1, 2, 3}, set()), {"a"}, "set[int]"),
    TypeCase("frozenset", frozenset[str], (frozenset({"x", "y"}),), frozenset({1}), "frozenset"),
    TypeCase("Any", Any, ({"a": [1, 2]}, "text", 5, None)),
)


@dataclasses.dataclass
class Basket:
    """A mutable value (not frozen): the store keeps a copy of its own."""

    items: list[int]


#: The untyped rule, as ``(name, value set, value every read gives)``: a
#: value comes back as msgspec decodes its msgpack encoding without a type.
UNTYPED_RULE: tuple[tuple[str, Any, Any], ...] = (
    ("Struct", Msg("user", "hi"), {"role": "user", "text": "hi"}),
    ("tagged Struct", Image("u", 3), {"type": "Image", "url": "u", "width": 3}),
    ("dataclass", Point(1, 2), {"x": 1, "y": 2}),
    ("attrs class", Span(0, 5), {"start": 0, "end": 5}),
    ("tuple", (1, "a", (2,)), [1, "a", [2]]),
    ("set", {7}, [7]),
    ("frozenset", frozenset({"x"}), ["x"]),
    ("aware datetime", NOON, NOON),
    ("naive datetime", datetime(2024, 5, 17, 12, 0), "2024-05-17T12:00:00"),
    ("date", date(2024, 5, 17), "2024-05-17"),
    ("UUID", uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ("Decimal", Decimal("1.10"), "1.10"),
    ("enum", Color.RED, "red"),
    ("int enum", Level.HIGH, 2),
    ("nested", {"at": (Decimal("2"), {Color.BLUE})}, {"at": ["2", ["blue"]]}),
    ("mutable dataclass", Basket([1]), {"items": [1]}),
)
