"""The code examples in README.md and docs/*.md: every one compiles, every program runs.

A ``python`` block that runs an event loop (``anyio.run``, ``asyncio.run``,
``trio.run``) is a whole program: it runs as a child process (``python -W
error``) in a scratch directory and must exit 0 with nothing on stderr.
Redis URLs on the default port point at the session's private server.
Other blocks (fragments, notebook cells with top-level ``await``) must
compile. The README's notebook session runs in a real kernel
(``tests/test_notebook.py``).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_PROGRAM = re.compile(r"\b(anyio|asyncio|trio)\.run\(")


def _blocks() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            found.append((f"{doc.relative_to(ROOT)}:{line}", match.group(1)))
    return found


BLOCKS = _blocks()
PROGRAMS = [(where, code) for where, code in BLOCKS if _PROGRAM.search(code)]


@pytest.mark.parametrize(("where", "code"), BLOCKS, ids=[where for where, _ in BLOCKS])
def test_every_example_compiles(where: str, code: str) -> None:
    compile(code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)


@pytest.mark.parametrize(("where", "code"), PROGRAMS, ids=[where for where, _ in PROGRAMS])
def test_every_program_runs(
    where: str, code: str, tmp_path: Path, redis_server: RedisServer
) -> None:
    redis_server.ensure_running()
    port = redis_server.url.split(":")[2].split("/")[0]
    script = tmp_path / "example.py"
    script.write_text(code.replace("127.0.0.1:6379", f"127.0.0.1:{port}"), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and not result.stderr, (
        f"{where} failed (exit {result.returncode}):\n{result.stderr}"
    )
