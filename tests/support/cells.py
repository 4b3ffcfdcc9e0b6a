"""Notebook cells in a test: each cell runs in a task of its own, one after another.

A notebook kernel (ipykernel, IPython) runs each cell in a new task; a
component opened with ``await`` in one cell and closed in another must not
leave a task group or a cancel scope in the cell that opened it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import anyio

__all__ = ["Cell", "run_cells"]

#: One cell: a coroutine function run in a task of its own.
Cell = Callable[[], Coroutine[Any, Any, object]]


async def run_cells(*cells: Cell) -> None:
    """Run each cell in a new task, the next once the previous one ended."""
    for cell in cells:
        async with anyio.create_task_group() as group:
            group.start_soon(cell)
