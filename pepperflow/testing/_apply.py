"""Store checks of ``apply_changes`` and marks: another store's changes, applied at
once with a mark of how far (:mod:`pepperflow.stores._apply`), as the sinks use them.
"""

from __future__ import annotations

import time

from ..stores._apply import Mark
from ..streams.events import Change, DeleteChange, ExpireChange, SetChange
from ._factory import StoreFactory
from ._support import MakeStore, Recorder, all_items, raises


async def check_apply_changes(make_store: MakeStore) -> None:
    now = time.time()
    async with make_store() as target:
        await target.set("gone", 1)
        await target.set("expired", 1)
        await target.set("kept", 1)
        recorder = Recorder.on(target)
        changes: list[Change] = [
            SetChange("src", "a", 7, 10, now, {"x": [1]}, now - 60, {"m": 1}, now + 60),
            SetChange("src", "b", 1, 11, now, "first", now),
            SetChange("src", "b", 2, 12, now, "last", now),  # a key's last change wins
            SetChange("src", "late", 1, 13, now, 1, now, None, now - 1),  # past its deadline
            DeleteChange("src", "gone", 1, 14, now),
            ExpireChange("src", "expired", 1, 15, now),
            DeleteChange("src", "absent", 1, 16, now),
        ]
        assert await target.mark("sink") is None
        await target.apply_changes(changes, mark=Mark("sink", 16, "src"))
        assert await all_items(target) == {"a": {"x": [1]}, "b": "last", "kept": 1}
        a = await target.entry("a")
        assert a is not None and a.version == 1, f"the target's own versions, got {a!r}"
        assert (a.metadata, a.expires_at, a.created_at) == ({"m": 1}, now + 60, now - 60), (
            f"apply_changes keeps metadata, expires_at and created_at, got {a!r}"
        )
        assert recorder.kinds() == [
            ("SetChange", "a"),
            ("SetChange", "b"),
            ("DeleteChange", "gone"),
            ("DeleteChange", "expired"),
        ], f"one change per key applied, got {recorder.kinds()}"
        assert await target.mark("sink") == Mark("sink", 16, "src")
        await target.apply_changes([], mark=Mark("sink", 20, "src"))
        assert await target.mark("sink") == Mark("sink", 20, "src"), "a mark alone"
        seq = target.statistics().seq
        with raises(TypeError, "apply_changes() of a non-change"):
            await target.apply_changes(
                [SetChange("src", "c", 1, 21, now, 1, now), ("c", 2)],  # type: ignore[list-item]
                mark=Mark("sink", 22, "src"),
            )
        assert target.statistics().seq == seq and not await target.exists("c"), (
            "a bad batch applies nothing"
        )
        assert await target.mark("sink") == Mark("sink", 20, "src"), "nor its mark"
        with raises(ValueError, "mark() of an empty name"):
            await target.mark("")
    factory = StoreFactory.of(make_store)
    if factory.reopen is not None:
        async with factory.reopen(target) as again:
            assert await again.mark("sink") == Mark("sink", 20, "src"), "a mark is kept"
