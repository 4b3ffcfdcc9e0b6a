"""docs/cli.md's shell examples on ``sqlite:///app.db`` print what the page shows.

Its ``console`` blocks are read in order; each ``$ pepperflow ... sqlite:///app.db
...`` command runs in one scratch directory (so each sees what the ones
before it wrote), and what it prints, stdout then stderr, must be the lines
the page shows under it. Lines with times in them (``created_at``) are
compared up to their first time; the page's ``/home/me`` is the scratch
directory. The other examples (a demo, a watch, a Redis server, never
the machine's own) are run by the other tests of tests/cli.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from tests.support.command import pepperflow

PAGE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
_BLOCK = re.compile(r"^```console\n(.*?)^```", re.S | re.M)


def examples() -> list[tuple[list[str], list[str]]]:
    """The page's commands on ``sqlite:///app.db``, each with the lines shown under it."""
    found: list[tuple[list[str], list[str]]] = []
    for block in _BLOCK.findall(PAGE.read_text(encoding="utf-8")):
        for command in re.split(r"^\$ ", block, flags=re.M)[1:]:
            line, *shown = command.rstrip("\n").split("\n")
            argv = shlex.split(line)
            local = "sqlite:///app.db" in argv and not any("redis" in arg for arg in argv)
            if argv[0] == "pepperflow" and local and "watch" not in argv:
                found.append((argv[1:], shown))
    return found


def _timeless(line: str) -> str:
    return line.split('"created_at"')[0]


def test_the_pages_examples_print_what_it_shows(tmp_path: Path) -> None:
    runs = examples()
    assert len(runs) >= 10, "the page's examples were not found"
    for argv, shown in runs:
        done = pepperflow(*argv, cwd=tmp_path)
        printed = (done.stdout + done.stderr).replace(str(tmp_path), "/home/me").splitlines()
        assert [_timeless(line) for line in printed] == [_timeless(line) for line in shown], argv
