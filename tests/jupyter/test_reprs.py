"""What a notebook shows of pepperflow's objects: HTML tables and texts, read back.

Each table is parsed with ``html.parser`` (tests/support/html_tables.py) and
checked cell by cell, as a user reads it: the fields of an entry, the rows
of a snapshot, a store's state and location (a Redis password hidden), a
metrics registry's series, a search's results. Values holding markup are
shown as text, never as markup.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from IPython.lib import pretty as ipython_pretty

from pepperflow import LocalMemoryStore, LocalStorageProvider, StorageQuery
from pepperflow.jupyter import Table
from pepperflow.sinks.metrics import MetricsRegistry
from pepperflow.stores import MemoryStore, RedisStore, SqliteStore
from pepperflow.streams import Change
from tests.support.html_tables import elements, tables
from tests.support.waiting import wait_for

pytestmark = pytest.mark.anyio

#: How a time shows: UTC, to the millisecond.
MOMENT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}")


def pretty(obj: object) -> str:
    """What IPython shows as an object's text."""
    return str(ipython_pretty.pretty(obj))  # type: ignore[no-untyped-call]


def only_table(markup: str) -> Any:
    (table,) = tables(markup)
    return table


async def test_an_entry_shows_its_fields_and_its_times_in_utc() -> None:
    async with MemoryStore("notes") as store:
        await store.set("greeting", {"text": "hello"}, ttl=60, metadata={"by": "ann"})
        entry = await store.entry("greeting")
        assert entry is not None
        table = only_table(entry._repr_html_())
    assert table.caption == "Entry"
    fields = table.fields()
    assert fields["key"] == "greeting"
    assert fields["value"] == "{'text': 'hello'}"
    assert fields["version"] == "1"
    assert fields["metadata"] == "{'by': 'ann'}"
    assert MOMENT.fullmatch(fields["expires_at"])
    expires = datetime.strptime(fields["expires_at"], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
    assert abs(expires.timestamp() - entry.expires_at) < 0.001  # type: ignore[operator]


async def test_a_value_that_looks_like_markup_is_shown_as_text() -> None:
    key, value = "<script>alert('key')</script>", "<b>bold</b> & <i>"
    async with MemoryStore("<img src=x>") as store:
        await store.set(key, value)
        entry = await store.entry(key)
        assert entry is not None
        snapshot = await store.snapshot()
        for markup in (entry._repr_html_(), snapshot._repr_html_(), store._repr_html_()):
            assert elements(markup) <= {"table", "caption", "thead", "tbody", "tr", "th", "td"}
        assert only_table(entry._repr_html_()).fields()["key"] == key
        assert only_table(entry._repr_html_()).fields()["value"] == repr(value)
        assert only_table(store._repr_html_()).caption == "MemoryStore '<img src=x>'"


async def test_a_snapshot_shows_one_row_per_entry() -> None:
    async with MemoryStore("cart") as store:
        await store.set("apple", 3)
        await store.set("pear", "two", ttl=30)
        await store.set("apple", 4)
        snapshot = await store.snapshot()
    table = only_table(snapshot._repr_html_())
    assert table.caption == "Snapshot of 'cart' at seq 3: 2 entries"
    rows = {row["key"]: row for row in table.records()}
    assert rows["apple"]["value"] == "4" and rows["apple"]["version"] == "2"
    assert rows["pear"]["value"] == "'two'" and MOMENT.fullmatch(rows["pear"]["expires_at"])
    assert rows["apple"]["expires_at"] == ""
    assert "metadata" not in table.header  # empty in every row


async def test_statistics_show_the_stores_figures() -> None:
    async with MemoryStore("figures") as store:
        await store.set_many({"a": 1, "b": 2})
        fields = only_table(store.statistics()._repr_html_()).fields()
    assert fields["store"] == "figures"
    assert fields["keys"] == "2"
    assert fields["running"] == "True"


async def test_change_events_show_their_kind_first() -> None:
    seen: list[Change] = []
    async with MemoryStore("events") as store:
        store.subscribe(None, seen.append)
        await store.set("k", 1, ttl=0.05)
        await store.delete("k")
        await store.set("k", 2, ttl=0.01)
        await wait_for(seen, 4)
    shown = [only_table(change._repr_html_()).fields() for change in seen]
    assert [fields["kind"] for fields in shown] == ["set", "delete", "set", "expire"]
    assert list(shown[0])[:3] == ["kind", "store", "key"]
    assert shown[2]["value"] == "2" and MOMENT.fullmatch(shown[2]["committed_at"])


async def test_a_store_shows_its_backend_location_keys_and_state(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "notes.db", namespace="notes")
    assert only_table(store._repr_html_()).fields()["state"] == "not running"
    async with store:
        await store.set("a", 1)
        fields = only_table(store._repr_html_()).fields()
        text = pretty(store)
    assert fields["backend"] == "sqlite"
    assert fields["location"] == str(tmp_path / "notes.db")
    assert (fields["keys"], fields["seq"], fields["state"]) == ("1", "1", "running")
    assert text == f"SqliteStore 'notes' (sqlite, {tmp_path / 'notes.db'}): 1 key, seq 1, running"
    assert only_table(store._repr_html_()).fields()["state"] == "closed"
    memory = MemoryStore("scratch")
    assert (
        pretty(memory) == "MemoryStore 'scratch' (memory, in process): 0 keys, seq 0, not running"
    )
    assert repr(memory) == "<MemoryStore 'scratch'>"  # what messages embed: unchanged


def test_a_redis_stores_password_is_never_shown() -> None:
    store = RedisStore("redis://ann:s3cret@127.0.0.1:6379/2?socket_timeout=5", namespace="shared")
    fields = only_table(store._repr_html_()).fields()
    assert fields["location"] == "redis://ann:***@127.0.0.1:6379/2?socket_timeout=5"
    assert "s3cret" not in store._repr_html_() and "s3cret" not in pretty(store)


async def test_a_metrics_registry_shows_one_row_per_series() -> None:
    metrics = MetricsRegistry()
    metrics.counter("jobs_done", 3, queue="<fast>")
    metrics.gauge("workers", 2)
    metrics.histogram("job_seconds", 0.5)
    metrics.histogram("job_seconds", 1.5)
    table = only_table(metrics._repr_html_())
    assert table.caption == "<MetricsRegistry 3 metrics>"
    rows = {row["name"]: row for row in table.records()}
    assert rows["jobs_done"]["kind"] == "counter" and rows["jobs_done"]["value"] == "3.0"
    assert rows["jobs_done"]["labels"] == "{'queue': '<fast>'}"
    assert rows["workers"]["value"] == "2.0" and rows["workers"]["count"] == "0"
    assert (rows["job_seconds"]["count"], rows["job_seconds"]["maximum"]) == ("2", "1.5")
    assert "bounds" not in table.header and "bucket_counts" not in table.header
    sample = only_table(metrics.samples("workers")[0]._repr_html_())
    assert sample.caption == "MetricSample" and sample.fields()["kind"] == "gauge"


async def test_search_results_show_as_a_table() -> None:
    async with LocalStorageProvider(name="docs") as storage:
        await storage.save("plan", {"steps": 3}, "artifact", tags={"run": "42"})
        await storage.save("log", "ok", "artifact", tags={"run": "42"})
        await storage.save("old", "x", "artifact", tags={"run": "41"})
        query = StorageQuery(tags={"run": "42"}, order_by="key")
        results = [result async for result in storage.search(query)]
    table = only_table(Table(results, title="run 42")._repr_html_())
    assert table.caption == "run 42"
    assert [(row["key"], row["data"], row["tags"]) for row in table.records()] == [
        ("log", "'ok'", "{'run': '42'}"),
        ("plan", "{'steps': 3}", "{'run': '42'}"),
    ]
    assert {"content_type", "score", "created_at", "id"} <= set(table.header)
    one = only_table(results[0]._repr_html_()).fields()
    assert one["content_type"] == "artifact" and one["score"] == "1.0"
    assert repr(Table(results)) == "<Table '2 rows': 2 rows>"


def test_a_table_of_plain_values_has_one_value_column() -> None:
    table = only_table(Table([1, "two", None])._repr_html_())
    assert table.header == ["value"]
    assert table.rows == [["1"], ["'two'"], ["None"]]


async def test_a_long_value_is_cut_to_the_width_of_a_cell() -> None:
    async with MemoryStore("long") as store:
        await store.set("k", "x" * 500)
        entry = await store.entry("k")
    assert entry is not None
    value = only_table(entry._repr_html_()).fields()["value"]
    assert len(value) == 80 and value.endswith("…")
    await anyio.lowlevel.checkpoint()


async def test_a_memory_entry_shows_its_fields() -> None:
    memory = LocalMemoryStore[str](name="agent")
    await memory.set("turn:1", "hello", ttl=60, metadata={"role": "user"})
    entry = await memory.get("turn:1")
    assert entry is not None
    fields = only_table(entry._repr_html_()).fields()
    assert (fields["key"], fields["value"], fields["version"]) == ("turn:1", "'hello'", "1")
    assert fields["metadata"] == "{'role': 'user'}" and MOMENT.fullmatch(fields["expires_at"])
    await memory.aclose()
