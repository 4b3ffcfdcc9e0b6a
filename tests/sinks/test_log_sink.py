"""log_changes: a store's changes as structured ``logging`` records, and a
store's errors as records with the same fields (caplog: the records as a
handler gets them)."""

from __future__ import annotations

import logging

import anyio
import pytest

from pepperflow.sinks import log_changes
from pepperflow.stores import MemoryStore
from pepperflow.streams import ExpireChange

pytestmark = pytest.mark.anyio

FIELDS = ("store", "key", "seq", "kind", "version", "committed_at", "expires_at")


def fields(record: logging.LogRecord, names: tuple[str, ...] = FIELDS) -> dict[str, object]:
    return {name: getattr(record, name) for name in names}


async def test_each_change_is_one_record_with_the_change_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="pepperflow.changes")
    async with MemoryStore("app") as store:
        with log_changes(store, "user:"):
            await store.set("user:1", {"name": "Ada"}, ttl=600)
            await store.set("order:1", 1)  # another pattern
            await store.delete("user:1")
            async with store.changes("user:2") as feed:
                await store.set("user:2", "brief", ttl=0.02)
                with anyio.fail_after(10):
                    async for change in feed:
                        if isinstance(change, ExpireChange):
                            break
        await store.set("user:3", 1)  # unsubscribed
    records = [r for r in caplog.records if r.name == "pepperflow.changes"]
    assert [r.getMessage() for r in records] == [
        "store 'app': set 'user:1' (version 1, seq 1)",
        "store 'app': delete 'user:1' (version 1, seq 3)",
        "store 'app': set 'user:2' (version 1, seq 4)",
        "store 'app': expire 'user:2' (version 1, seq 5)",
    ]
    assert all(r.levelno == logging.INFO for r in records)
    first = fields(records[0])
    assert first["expires_at"] == pytest.approx(first["committed_at"] + 600)  # type: ignore[operator]
    assert {k: v for k, v in first.items() if k not in ("committed_at", "expires_at")} == {
        "store": "app",
        "key": "user:1",
        "seq": 1,
        "kind": "set",
        "version": 1,
    }
    assert fields(records[1])["expires_at"] is None
    assert not hasattr(records[0], "value"), "values are not logged unless asked"


async def test_the_logger_the_level_and_the_values_are_chosen(
    caplog: pytest.LogCaptureFixture,
) -> None:
    audit = logging.getLogger("app.audit")
    caplog.set_level(logging.DEBUG, logger="app.audit")
    async with MemoryStore("app") as store:
        with log_changes(store, logger=audit, level=logging.DEBUG, values=True):
            await store.set("k", [1, 2], metadata={"by": "ada"})
        caplog.set_level(logging.WARNING, logger="app.audit")
        with log_changes(store, logger="app.audit", level=logging.INFO):
            await store.set("k", 3)  # INFO is not enabled: no record
    (record,) = [r for r in caplog.records if r.name == "app.audit"]
    assert record.levelno == logging.DEBUG
    assert fields(record, ("key", "value", "metadata")) == {
        "key": "k",
        "value": [1, 2],
        "metadata": {"by": "ada"},
    }


async def test_a_failing_callback_is_an_error_record_with_the_change_fields(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fails(change: object) -> None:
        raise RuntimeError("boom")

    async with MemoryStore("app") as store:
        store.subscribe(None, fails)
        await store.set("k", 1)
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.name == "pepperflow"
    assert fields(record, ("store", "key", "seq", "kind")) == {
        "store": "app",
        "key": "k",
        "seq": 1,
        "kind": "set",
    }
    assert record.exc_info is not None and "boom" in str(record.exc_info[1])


async def test_bad_arguments_are_refused() -> None:
    async with MemoryStore() as store:
        with pytest.raises(TypeError, match="logger"):
            log_changes(store, logger=42)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="level"):
            log_changes(store, level="INFO")  # type: ignore[arg-type]
