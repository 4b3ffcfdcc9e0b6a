"""The overlay a SqliteStore write transaction sees the state through."""

from __future__ import annotations

from typing import Any

import pytest

from pepperflow.stores.sqlite._overlay import Overlay
from pepperflow.streams import DeleteChange, SetChange, apply, fold


def set_(key: str, seq: int) -> SetChange[Any, Any]:
    return SetChange("s", key, 1, seq, 0.0, seq, 0.0)


def test_reads_go_through_and_writes_stay_on_top() -> None:
    state = fold([set_("a", 1), set_("b", 2)])
    overlay = Overlay(state)
    apply(overlay, set_("c", 3))
    apply(overlay, DeleteChange("s", "a", 1, 4, 0.0))
    apply(overlay, set_("b", 5))
    assert dict(overlay) == {"b": set_("b", 5), "c": set_("c", 3)}
    assert "a" not in overlay and overlay.get("a") is None
    assert len(overlay) == 2
    with pytest.raises(KeyError):
        overlay["a"]
    with pytest.raises(KeyError):
        overlay.pop("a")
    assert state == fold([set_("a", 1), set_("b", 2)]), "the state below is untouched"


def test_an_overlay_on_an_overlay_merges_or_is_dropped() -> None:
    below = Overlay(fold([set_("a", 1)]))
    kept = Overlay(below)
    apply(kept, DeleteChange("s", "a", 1, 2, 0.0))
    kept.merge()
    dropped = Overlay(below)
    apply(dropped, set_("x", 3))
    assert dict(below) == {}, "the merged delete is kept, the dropped set is not"
    with pytest.raises(AssertionError):
        below.merge()
