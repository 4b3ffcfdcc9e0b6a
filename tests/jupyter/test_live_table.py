"""``await store.display(pattern)``: a live table of a store's keys, as a notebook shows it.

The table is checked as a user reads it (its HTML parsed back): it holds
the current state when ``display`` returns, follows the changes written in
later cells (each cell a task of its own, tests/support/cells.py), and
stops, keeping its rows, when the store closes or on ``stop()``. Its
redraws in a real kernel are checked by tests/jupyter/test_notebooks.py.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from pepperflow import InvalidPattern, open_store
from pepperflow.jupyter import LiveTable
from pepperflow.stores import MemoryStore
from pepperflow.stores.base import Store
from tests.support.cells import run_cells
from tests.support.html_tables import tables
from tests.support.new_stores import NewStore
from tests.support.waiting import wait_until

pytestmark = pytest.mark.anyio


def shown(live: LiveTable) -> tuple[str, dict[str, str]]:
    """The table's caption and its rows, key to value, as the notebook shows them."""
    (table,) = tables(live._repr_html_())
    return table.caption, {row["key"]: row["value"] for row in table.records()}


async def test_a_live_table_starts_from_the_state_and_follows_every_backend(
    new_store: NewStore,
) -> None:
    async with new_store() as store:
        await store.set("user:ann", {"age": 41})
        await store.set("task:1", "todo")
        live = await store.display("user:")
        assert shown(live)[1] == {"user:ann": "{'age': 41}"}
        await store.set("user:bob", {"age": 7})
        await store.set("user:ann", {"age": 42})
        await store.set("task:2", "done")
        await wait_until(lambda: len(shown(live)[1]) == 2, "bob in the table")
        await wait_until(lambda: shown(live)[1]["user:ann"] == "{'age': 42}", "ann's new age")
        await store.delete("user:bob")
        await wait_until(lambda: "user:bob" not in shown(live)[1], "bob gone from the table")
        assert live.running
        await live.aclose()
        assert not live.running
        caption, rows = shown(live)
    assert caption.endswith(", stopped") and "keys 'user:': 1 key, " in caption
    assert rows == {"user:ann": "{'age': 42}"}


async def test_a_live_table_follows_across_cells_and_stops_when_the_store_closes() -> None:
    state: dict[str, Any] = {}

    async def open_and_show() -> None:
        state["store"] = store = await open_store("memory://")
        await store.set("greeting", "hello")
        state["live"] = await store.display()

    async def write() -> None:
        await state["store"].set("greeting", "hello again")
        await state["store"].set("name", "ann")

    async def close() -> None:
        await wait_until(lambda: len(shown(state["live"])[1]) == 2, "both keys shown")
        await state["store"].aclose()

    await run_cells(open_and_show, write, close)
    live: LiveTable = state["live"]
    await wait_until(lambda: not live.running, "the table stopped with its store")
    caption, rows = shown(live)
    assert rows == {"greeting": "'hello again'", "name": "'ann'"}
    assert caption.startswith("<MemoryStore 'default'>, every key: 2 keys,")
    assert caption.endswith("stopped") and live.error is None
    assert repr(live).splitlines()[1:] == ["  greeting: 'hello again'", "  name: 'ann'"]


async def test_a_live_table_shows_the_first_keys_in_key_order() -> None:
    async with MemoryStore("many") as store:
        await store.set_many({f"k{i:02}": i for i in range(12, 0, -1)})
        live = await store.display(limit=3, refresh=0)
        caption, rows = shown(live)
        assert list(rows) == ["k01", "k02", "k03"]
        assert "12 keys, the first 3 shown, 12 changes, live" in caption
        await store.set("k00", 0)
        await wait_until(lambda: "k00" in shown(live)[1], "k00 first")
        assert list(shown(live)[1]) == ["k00", "k01", "k02"]
        assert [entry.key for entry in live.entries()] == ["k00", "k01", "k02"]
        live.stop()


async def test_a_stopped_table_keeps_its_rows_and_takes_no_more_changes() -> None:
    async with MemoryStore("kept") as store:
        await store.set("a", 1)
        live = await store.display()
        live.stop()
        await wait_until(lambda: not live.running, "the table stopped")
        await store.set("b", 2)  # its feed is closed: b never reaches it
        assert shown(live)[1] == {"a": "1"} and live.changes == 1
        live.stop()  # again: harmless


async def test_display_refuses_bad_arguments_and_a_closed_store() -> None:
    store: Store[Any] = MemoryStore("refused")
    with pytest.raises(ValueError, match="limit must be a positive int"):
        await store.display(limit=0)
    with pytest.raises(ValueError, match="refresh must be seconds >= 0"):
        await store.display(refresh=-1)
    async with store:
        with pytest.raises(InvalidPattern):
            await store.display("[unclosed")
    with pytest.raises(anyio.ClosedResourceError):
        await store.display()
