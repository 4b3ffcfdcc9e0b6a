"""Child processes for the cross-process tests: run one, talk to it line by line.

:func:`run_child` starts ``python -W error SCRIPT ARGS...`` with pipes, its
stderr in a file, and kills it on the way out if it is still alive;
:class:`Child` reads its lines and checks how it ended.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

_ROOT = Path(__file__).resolve().parents[2]  # the checkout whose pepperflow the children run

__all__ = ["TIMEOUT", "Child", "run_child", "run_python"]

TIMEOUT = 10.0  # the longest any one wait on a child may take, in seconds
_children = itertools.count()


class Child:
    """A running tests/sqlite_child.py: its pipes, line by line, and its stderr file."""

    def __init__(self, process: anyio.abc.Process, stderr: Path) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self.stdin = process.stdin
        self.stdout = BufferedByteReceiveStream(process.stdout)
        self.stderr = stderr

    def _died(self, what: str) -> AssertionError:
        return AssertionError(
            f"child {self.process.pid} {what}; stderr:\n{self.stderr.read_text()}"
        )

    async def line(self) -> str:
        """The child's next line of output (waits at most :data:`TIMEOUT`)."""
        try:
            with anyio.fail_after(TIMEOUT):
                data = await self.stdout.receive_until(b"\n", 1 << 24)
        except (anyio.IncompleteRead, anyio.EndOfStream):
            raise self._died("closed its stdout before the line expected") from None
        except TimeoutError:
            raise self._died(f"printed no line within {TIMEOUT} s") from None
        return data.decode()

    async def rest(self) -> list[str]:
        """The complete lines left in stdout until its end (after the child died)."""
        chunks: list[bytes] = []
        with anyio.fail_after(TIMEOUT):
            with contextlib.suppress(anyio.EndOfStream):
                while True:
                    chunks.append(await self.stdout.receive())
        *lines, _partial = b"".join(chunks).decode().split("\n")
        return lines

    async def send(self, line: str) -> None:
        await self.stdin.send(line.encode() + b"\n")

    async def wait(self) -> int:
        """The child's exit code (waits at most :data:`TIMEOUT`)."""
        with anyio.fail_after(TIMEOUT):
            return await self.process.wait()

    async def finish(self) -> None:
        """Wait for the child to exit; it must exit with 0 and print nothing on stderr."""
        code = await self.wait()
        errors = self.stderr.read_text()
        assert code == 0, f"child exited with {code}; stderr:\n{errors}"
        assert errors == "", f"child wrote on stderr:\n{errors}"


@asynccontextmanager
async def run_child(
    script: Path,
    tmp_path: Path,
    args: list[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[Child]:
    """Run ``python -W error script *args``; kill it on the way out if alive.

    The child imports pepperflow from this checkout (first on ``PYTHONPATH``),
    whatever the environment's installed copy points at.
    """
    name = f"{script.stem}-{args[0] if args else ''}"
    async with run_python([str(script), *args], tmp_path, name, cwd=cwd, env=env) as child:
        yield child


@asynccontextmanager
async def run_python(
    argv: list[str],
    tmp_path: Path,
    name: str,
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> AsyncIterator[Child]:
    """Run ``python -W error *argv`` (a script or ``-m module``, and its
    arguments) as :func:`run_child` does; its stderr file is named for ``name``."""
    stderr = tmp_path / f"{name}-{next(_children)}.stderr"
    command = [sys.executable, "-W", "error", *argv]
    child_env = dict(os.environ if env is None else env)
    child_env["PYTHONPATH"] = os.pathsep.join(
        [str(_ROOT), *filter(None, [child_env.get("PYTHONPATH")])]
    )
    env = child_env
    with stderr.open("wb") as errors:
        process = await anyio.open_process(command, stderr=errors, cwd=cwd, env=env)
    try:
        yield Child(process, stderr)
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
            with anyio.move_on_after(TIMEOUT):
                await process.aclose()
