"""Change events: encoding, decoding, schema evolution and the fold."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from pepperflow.streams import Change, DeleteChange, ExpireChange, SetChange, apply, fold

CHANGES: list[Change] = [
    SetChange("s", "a", 1, 1, 10.0, {"x": [1, 2]}, 10.0),
    SetChange("s", "b", 1, 2, 11.0, "v", 11.0, {"m": 1}, 99.0),
    SetChange("s", "a", 2, 3, 12.0, None, 10.0),
    DeleteChange("s", "b", 1, 4, 13.0),
    ExpireChange("s", "c", 3, 5, 14.0),
]


@pytest.mark.parametrize("codec", [msgspec.msgpack, msgspec.json])
def test_changes_round_trip_through_the_tagged_union(codec: object) -> None:
    for change in CHANGES:
        data = codec.encode(change)  # type: ignore[attr-defined]
        assert codec.decode(data, type=Change) == change  # type: ignore[attr-defined]


def test_the_tag_names_the_kind() -> None:
    assert msgspec.json.decode(msgspec.json.encode(CHANGES[3]))["kind"] == "delete"
    assert msgspec.json.decode(msgspec.json.encode(CHANGES[4]))["kind"] == "expire"
    assert msgspec.json.decode(msgspec.json.encode(CHANGES[0]))["kind"] == "set"


def test_optional_fields_may_be_missing_in_old_data() -> None:
    old = (
        b'{"kind":"set","store":"s","key":"k","version":1,"seq":7,"committed_at":1.0,'
        b'"value":3,"created_at":1.0}'
    )
    change = msgspec.json.decode(old, type=Change)
    assert isinstance(change, SetChange)
    assert change.metadata is None and change.expires_at is None


def test_changes_are_frozen() -> None:
    change: SetChange[int, Any] = SetChange("s", "a", 1, 1, 10.0, 1, 10.0)
    with pytest.raises(AttributeError):
        change.value = 5  # type: ignore[misc]


def test_fold_is_the_latest_set_per_live_key() -> None:
    state = fold(CHANGES)
    assert list(state) == ["a"]
    assert state["a"].value is None and state["a"].version == 2
    partial: dict[str, SetChange[Any, Any]] = {}
    for change in CHANGES[:2]:
        apply(partial, change)
    assert sorted(partial) == ["a", "b"]
