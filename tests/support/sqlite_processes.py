"""The SQLite multi-process tests' helpers: run a sqlite_child.py role; check a file."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.support.child_process import Child, run_child

__all__ = ["CHILD", "integrity", "spawn"]

CHILD = Path(__file__).parent / "sqlite_child.py"


@asynccontextmanager
async def spawn(
    tmp_path: Path, backend: str, role: str, path: Path, *args: int
) -> AsyncIterator[Child]:
    """Run ``sqlite_child.py role backend path *args``; kill it on the way out if alive."""
    argv = [role, backend, str(path), *map(str, args)]
    async with run_child(CHILD, tmp_path, argv) as child:
        yield child


def integrity(path: Path) -> str:
    """SQLite's own verdict on the file's structure ("ok" when sound)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute("PRAGMA integrity_check").fetchall()
    return "; ".join(str(row[0]) for row in rows)
