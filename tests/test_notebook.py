"""The README's notebook session runs in a real Jupyter kernel (ipykernel, asyncio).

The cells are the ``python`` blocks of the README's "In a notebook" section,
each ``text`` block right after one is that cell's expected output: a store
opened with ``await open_store(...)``, then a StateManagerFactory, each used
and closed across cells. The kernel is started offline by nbclient, over
IPC (no network port), in a temporary directory, with warnings as errors in
the kernel too (one setup cell before the README's), and the store and the
factory's store are checked closed after the last cell. A second notebook
checks that an IPython shell (its asyncio runner runs each cell to
completion, the event loop idle between cells) does the same.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Self

import anyio
import anyio.lowlevel
import nbformat
import pytest

from pepperflow._lifecycle import Holdable, hold
from tests.support.kernel import WARNINGS_AS_ERRORS, execute, notebook_of

README = Path(__file__).parent.parent / "README.md"

#: Run first in the kernel, before the README's cells.
SETUP = WARNINGS_AS_ERRORS

#: Run after the README's cells: the store and the factory's store were closed.
CHECK = "store.statistics().closed and settings.store.statistics().closed"


class Cell:
    """One cell of the README's session and the output it shows (``None``: none)."""

    __slots__ = ("output", "source")

    def __init__(self, source: str, output: str | None) -> None:
        self.source = source
        self.output = output


def readme_session() -> list[Cell]:
    """The README's "In a notebook" cells, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## In a notebook\n", 1)[1].split("\n## ", 1)[0]
    cells: list[Cell] = []
    for kind, body in re.findall(r"```(python|text)\n(.*?)```", section, re.DOTALL):
        if kind == "python":
            cells.append(Cell(body.rstrip("\n"), None))
        else:
            assert cells and cells[-1].output is None, "a text block follows a python block"
            cells[-1].output = body.rstrip("\n")
    return cells


def check_session(session: list[Cell]) -> None:
    """The session opens a store and closes it, then a factory and closes it, in cells."""
    sources = [cell.source for cell in session]
    assert "await open_store(" in sources[0]
    closed = sources.index("await store.aclose()")
    assert any("StateManagerFactory()" in source for source in sources[closed:])
    assert sources[-1] == "await factory.aclose()"


def _text(cell: nbformat.NotebookNode) -> str | None:
    """The text/plain result of an executed cell (``None`` when it shows none)."""
    for output in cell.outputs:
        assert output.output_type != "error", f"{output.ename}: {output.evalue}"
        assert output.output_type != "stream" or output.name != "stderr", output.text
        if output.output_type == "execute_result":
            return str(output.data["text/plain"])
    return None


def test_the_readme_session_opens_and_closes_a_store_in_a_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = readme_session()
    check_session(session)
    notebook = notebook_of([SETUP, *(cell.source for cell in session), CHECK])
    monkeypatch.delenv("PEPPERFLOW_HOME", raising=False)  # the factory's file in tmp_path
    execute(notebook, tmp_path, monkeypatch)
    outputs = [_text(cell) for cell in notebook.cells]
    assert outputs[0] is None
    assert outputs[1:-1] == [cell.output for cell in session]
    assert outputs[-1] == "True"
    assert (tmp_path / "notes.db").exists()
    assert (tmp_path / ".pepperflow" / "state.db").exists()


IPYTHON = """
import sys, warnings
warnings.simplefilter("error")
from IPython.core.interactiveshell import InteractiveShell

shell = InteractiveShell.instance()
for source in sys.argv[1:]:
    result = shell.run_cell(source)
    result.raise_error()
    print(repr(result.result))
"""


def test_the_readme_session_runs_in_an_ipython_shell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = readme_session()
    check_session(session)
    monkeypatch.delenv("PEPPERFLOW_HOME", raising=False)  # the factory's file in tmp_path
    done = subprocess.run(
        [sys.executable, "-c", IPYTHON, *(cell.source for cell in session), CHECK],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    shown = [line for line in done.stdout.splitlines() if not line.startswith("Out[")]
    expected = [cell.output or "None" for cell in session]
    assert shown == [*expected, "True"]
    assert (tmp_path / ".pepperflow" / "state.db").exists()


# -- the mechanism: a resource held open by a detached host task -------------


class Resource(Holdable):
    """Records which task entered and closed it; fails where told to."""

    def __init__(self, *, fail_open: bool = False, fail_close: bool = False) -> None:
        self.fail_open = fail_open
        self.fail_close = fail_close
        self.tasks: list[tuple[str, int]] = []

    async def __aenter__(self) -> Self:
        self.tasks.append(("enter", anyio.get_current_task().id))
        await anyio.lowlevel.checkpoint()
        if self.fail_open:
            raise OSError("cannot open")
        return self

    async def aclose(self) -> None:
        if await self._closed_by_holder():
            return
        self.tasks.append(("close", anyio.get_current_task().id))
        await anyio.lowlevel.checkpoint()
        if self.fail_close:
            raise OSError("cannot close")


@pytest.mark.anyio
async def test_a_held_resource_is_entered_and_closed_by_one_host_task() -> None:
    resource = await hold(Resource())
    assert [what for what, _ in resource.tasks] == ["enter"]
    async with anyio.create_task_group() as cell:  # closed from another task
        cell.start_soon(resource.aclose)
    await resource.aclose()  # again: harmless
    (_, entered), (_, closed) = resource.tasks
    assert entered == closed != anyio.get_current_task().id


@pytest.mark.anyio
async def test_a_held_resource_raises_what_opening_or_closing_raised() -> None:
    with pytest.raises(OSError, match="cannot open"):
        await hold(Resource(fail_open=True))
    resource = await hold(Resource(fail_close=True))
    with pytest.raises(OSError, match="cannot close"):
        await resource.aclose()
    await resource.aclose()  # raised once
    assert [what for what, _ in resource.tasks] == ["enter", "close"]
