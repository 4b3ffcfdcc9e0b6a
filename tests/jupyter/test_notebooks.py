"""The notebooks in notebooks/: committed without outputs, and run end to end in a kernel.

Each notebook runs in a real Jupyter kernel (tests/support/kernel.py) in a
scratch directory, with warnings as errors, and what it shows is checked
as a reader would: the tables parsed back, the timeline's SVG read with
``xml.etree``, the live tables redrawn to their last state. The tour's
Redis part runs against the tests' private server
(``PEPPERFLOW_REDIS_URL``), and is skipped, saying so, when nothing listens.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.support.html_tables import Table, tables
from tests.support.kernel import WARNINGS_AS_ERRORS, execute
from tests.support.redis_server import RedisServer

NOTEBOOKS = Path(__file__).resolve().parent.parent.parent / "notebooks"
SVG = "{http://www.w3.org/2000/svg}"


def read(name: str) -> Any:
    return nbformat.read(NOTEBOOKS / name, as_version=4)  # type: ignore[no-untyped-call]


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda path: path.name)
def test_a_committed_notebook_has_no_outputs(path: Path) -> None:
    notebook = read(path.name)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}, cell {cell.id}: strip its outputs"
            assert cell.execution_count is None, f"{path.name}, cell {cell.id}: an execution count"
    assert {"tour.ipynb", "agent_memory.ipynb"} <= {p.name for p in NOTEBOOKS.glob("*.ipynb")}


def run(name: str, directory: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Run the notebook ``name`` in a kernel; return its executed cells by id."""
    notebook = read(name)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(WARNINGS_AS_ERRORS))  # type: ignore[no-untyped-call]
    notebook.cells[0].id = "warnings-as-errors"
    execute(notebook, directory, monkeypatch, timeout=60)
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            assert output.output_type != "error", f"{cell.id}: {output.ename}: {output.evalue}"
            assert output.get("name") != "stderr", f"{cell.id}: {output.text}"
    return {cell.id: cell for cell in notebook.cells}


def shown(cell: Any, kind: str = "text/html") -> str:
    """What a cell shows of ``kind`` (its result or its one display)."""
    (found,) = [output.data[kind] for output in cell.outputs if kind in output.get("data", {})]
    return str(found)


def printed(cell: Any) -> str:
    return "".join(output.text for output in cell.outputs if output.output_type == "stream")


def table(cell: Any) -> Table:
    (found,) = tables(shown(cell))
    return found


def lane_labels(svg: str) -> dict[str, list[str]]:
    """Each lane of a timeline's SVG and its marbles' labels."""
    root = ET.fromstring(svg)
    return {
        lane.attrib["data-name"]: [
            "".join(marble.find(f"{SVG}text").itertext())  # type: ignore[union-attr]
            for marble in lane.findall(f"{SVG}g[@class='marble']")
        ]
        for lane in root.findall(f"{SVG}g[@class='lane']")
    }


def test_the_tour_runs_in_a_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, redis_server: RedisServer
) -> None:
    redis_server.ensure_running()
    monkeypatch.setenv("PEPPERFLOW_REDIS_URL", redis_server.url)
    cells = run("tour.ipynb", tmp_path, monkeypatch)
    store = table(cells["store"]).fields()
    assert (store["backend"], store["keys"], store["state"]) == ("sqlite", "2", "running")
    assert table(cells["entry"]).fields()["value"] == "{'name': 'Ann', 'age': 41}"
    assert len(table(cells["snapshot"]).rows) == 2
    assert "Task(title='write the tour', done=False)" in shown(cells["typed"], "text/plain")
    assert "task:2" in printed(cells["refused"])
    live = table(cells["live"])  # redrawn while the next cells ran
    assert {row["key"]: row["value"] for row in live.records()} == {
        "user:ann": "{'name': 'Ann', 'age': 42}",
        "user:cy": "{'name': 'Cy', 'age': 30}",
    }
    assert live.caption.endswith("stopped")  # by live.stop() in the last cell
    assert len(table(cells["feed"]).rows) == 2
    lanes = lane_labels(shown(cells["timeline"], "image/svg+xml"))
    assert lanes["draft"] == ["h", "he", "hel", "hell", "hello", "hell…"]  # "hello!" cut
    # what typing paused on: "hello" and "hello!" (more if a pause ran long)
    assert lanes["debounced"][-2:] == ["hello", "hell…"]
    assert set(lanes["debounced"]) <= set(lanes["draft"])
    assert printed(cells["ttl"]) == "before: token-123\nafter: None\n"
    assert printed(cells["shared"]) == "the other store reads 1\n"
    assert table(cells["shared"]).fields()["backend"] == "redis"
    series = {row["name"] for row in table(cells["metrics"]).records()}
    assert {"pepperflow_store_keys", "pepperflow_store_operations"} <= series, series
    results = table(cells["search"])
    assert sorted(row["key"] for row in results.records()) == ["run-42:log", "run-42:plan"]
    assert table(cells["close"]).fields()["state"] == "closed"


def test_the_tour_skips_the_redis_part_without_a_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PEPPERFLOW_REDIS_URL", "redis://127.0.0.1:9/0")  # nothing listens
    cells = run("tour.ipynb", tmp_path, monkeypatch)
    assert "No Redis server reachable" in printed(cells["redis"])
    assert cells["shared"].outputs == []


def test_the_agent_memory_notebook_runs_in_a_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cells = run("agent_memory.ipynb", tmp_path, monkeypatch)
    assert printed(cells["conversation"]).splitlines() == [
        "> hello",
        "Noted.",
        "> my name is Ada",
        "Nice to meet you, Ada.",
        "> who am I?",
        "You are Ada.",
    ]
    fact = table(cells["fact"]).fields()
    assert (fact["value"], fact["metadata"]) == ("'Ada'", "{'learned_at_turn': 1}")
    lanes = lane_labels(shown(cells["timeline"], "image/svg+xml"))
    assert list(lanes) == ["turns", "facts"] and lanes["facts"] == ["Grace"]
    assert len(lanes["turns"]) == 4
    assert printed(cells["forget"]) == "turns forgotten: 10\nafter a restart: Grace\n"
    assert len(table(cells["close"]).rows) == 0  # every turn was cleared
    assert (tmp_path / "agent_memory.db").exists()
