"""Running a notebook in a real Jupyter kernel (ipykernel, asyncio), offline.

``execute(notebook, directory, monkeypatch)`` starts a ``python3`` kernel
with nbclient over IPC (no network port), its runtime files in
``directory``, its working directory ``directory``, runs every cell in
order, and shuts the kernel down and closes the client's sockets, whatever
happened. A cell that raises fails the run (nbclient's
``CellExecutionError``); the outputs are left in ``notebook``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.manager import AsyncKernelManager
from nbclient import NotebookClient

__all__ = ["WARNINGS_AS_ERRORS", "execute", "notebook_of"]

#: A first cell that makes every warning in the kernel an error.
WARNINGS_AS_ERRORS = "import warnings\nwarnings.simplefilter('error')"


def notebook_of(sources: list[str]) -> Any:
    """A new notebook with one code cell per source."""
    new_cell: Any = nbformat.v4.new_code_cell  # nbformat is untyped
    new_notebook: Any = nbformat.v4.new_notebook
    return new_notebook(cells=[new_cell(source) for source in sources])


def execute(
    notebook: Any, directory: Path, monkeypatch: pytest.MonkeyPatch, *, timeout: int = 30
) -> None:
    """Run every cell of ``notebook`` in a new kernel working in ``directory``."""
    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")  # no deprecation warning about paths
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(directory / "runtime"))
    kernel = AsyncKernelManager(
        kernel_name="python3", transport="ipc", ip=str(directory / "kernel")
    )
    client = NotebookClient(
        notebook,
        km=kernel,
        timeout=timeout,
        startup_timeout=30,
        resources={"metadata": {"path": str(directory)}},
    )
    client.execute(cleanup_kc=True)  # shut the kernel down, close the client's sockets
    assert not kernel.has_kernel
