"""Running the real ``pepperflow`` command in a child process, as a shell would.

* :func:`pepperflow` runs ``python -W error -m pepperflow ARGS`` to its end,
  its stdout a pipe (so the command prints plain lines);
* :func:`in_terminal` runs it with its stdout on a pseudo-terminal (so it
  prints Rich tables and progress bars), and gives back what it showed,
  without the terminal's escape sequences;
* :func:`watching` starts ``pepperflow watch ...`` and returns once it has
  said on stderr that it is attached, so a test writes only then.

Each child imports pepperflow from this checkout and runs with an
environment that makes no claim about the terminal (``FORCE_COLOR``,
``TTY_COMPATIBLE``, ``NO_COLOR`` removed; 120 columns).
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.support.child_process import Child, run_python
from tests.support.waiting import wait_until

__all__ = ["COMMAND", "command_env", "in_terminal", "pepperflow", "watching"]

ROOT = Path(__file__).resolve().parents[2]
#: How the tests run the command: as ``python -m pepperflow``, warnings as errors.
COMMAND = [sys.executable, "-W", "error", "-m", "pepperflow"]
_TIMEOUT = 60  # seconds: the longest a command may take on a loaded machine
_ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def command_env(**extra: str) -> dict[str, str]:
    """The environment a command runs with here; see the module docstring."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR", "COLUMNS", "LINES")
    }
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["COLUMNS"] = "120"
    return {**env, **extra}


def pepperflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``pepperflow ARGS`` run in ``cwd`` to its end; its exit code, stdout and stderr."""
    return subprocess.run(
        [*COMMAND, *args],
        cwd=cwd,
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=_TIMEOUT,
        check=False,
    )


def in_terminal(*args: str, cwd: Path) -> tuple[int, str, str]:
    """``pepperflow ARGS`` with its stdout on a pseudo-terminal: its exit code,
    what it showed there (escape sequences removed) and its stderr."""
    terminal, child_end = pty.openpty()
    with subprocess.Popen(
        [*COMMAND, *args],
        cwd=cwd,
        env=command_env(),
        stdout=child_end,
        stderr=subprocess.PIPE,
    ) as process:
        os.close(child_end)
        shown = bytearray()
        while True:
            ready, _, _ = select.select([terminal], [], [], _TIMEOUT)
            assert ready, f"the command showed nothing for {_TIMEOUT} s: {bytes(shown)!r}"
            try:
                chunk = os.read(terminal, 65536)
            except OSError:  # EIO: the command closed the terminal (it ended)
                break
            if not chunk:
                break
            shown += chunk
        os.close(terminal)
        assert process.stderr is not None
        errors = process.stderr.read().decode()
        code = process.wait(_TIMEOUT)
    return code, _ESCAPES.sub("", shown.decode()), errors


@asynccontextmanager
async def watching(tmp_path: Path, *args: str) -> AsyncIterator[Child]:
    """``pepperflow ARGS`` (a ``watch`` command) running, attached to its store."""
    argv = ["-m", "pepperflow", *args]
    async with run_python(
        argv, tmp_path, "pepperflow-watch", cwd=tmp_path, env=command_env()
    ) as child:
        await wait_until(
            lambda: "watching" in child.stderr.read_text() or child.process.returncode is not None,
            "the watch to attach",
        )
        assert "watching" in child.stderr.read_text(), child.stderr.read_text()
        yield child
