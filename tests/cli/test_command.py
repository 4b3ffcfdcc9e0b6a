"""The command as installed: the console script, ``python -m pepperflow``, a terminal, the demo."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.command import command_env, in_terminal, pepperflow

SCRIPT = Path(sys.executable).parent / "pepperflow"


def test_the_console_script_of_the_venv_runs_the_command(tmp_path: Path) -> None:
    assert SCRIPT.exists(), f"no {SCRIPT}: install pepperflow here (pip install -e '.[dev]')"
    run = [str(SCRIPT), "set", "sqlite:///s.db", "k", '{"via": "script"}']
    subprocess.run(run, cwd=tmp_path, env=command_env(), check=True, timeout=60)

    done = pepperflow("get", "sqlite:///s.db", "k", cwd=tmp_path)

    assert (done.returncode, done.stdout) == (0, '{"via":"script"}\n')


def test_on_a_terminal_ls_shows_a_table_and_set_says_what_it_did(tmp_path: Path) -> None:
    code, shown, errors = in_terminal(
        "set", "sqlite:///t.db", "user:1", '{"n": 1}', "--ttl", "90", cwd=tmp_path
    )
    assert (code, errors) == (0, "")
    assert shown.strip() == "set 'user:1' (version 1, expires in 1m30s)"

    code, shown, errors = in_terminal("ls", "sqlite:///t.db", cwd=tmp_path)

    assert (code, errors) == (0, "")
    header, _, row = shown.strip().splitlines()
    assert [cell.strip() for cell in header.split("┃")] == [
        "key",
        "value",
        "version",
        "ttl",
        "updated",
    ]
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[:3] == ["user:1", '{"n":1}', "1"]
    left = re.fullmatch(r"(?:(\d+)m)?(\d+)s", cells[3])  # what was left when ls ran
    assert left is not None, cells[3]
    assert 0 < 60 * int(left[1] or 0) + int(left[2]) <= 90  # however long the set and ls took


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_the_demo_shows_changes_an_expiry_and_a_derived_value(backend: str, tmp_path: Path) -> None:
    done = pepperflow("--backend", backend, "demo", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    changes = [line.split()[1:3] for line in done.stdout.splitlines() if line[:4].strip().isdigit()]
    assert ["expire", "session:planner"] in changes
    assert changes.count(["set", "stats:tokens"]) == 3
    assert [key for kind, key in changes if kind == "delete"] == ["task:1", "task:2", "task:3"]
    state = [line for line in done.stdout.splitlines() if " = " in line]
    assert state[-1] == "stats:tokens = 82"
    assert [line.split(" = ")[0] for line in state] == [
        "answer:1",
        "answer:2",
        "answer:3",
        "stats:tokens",
    ]


def test_on_a_terminal_the_demo_colours_its_changes_and_tables_its_state(tmp_path: Path) -> None:
    code, shown, errors = in_terminal("demo", cwd=tmp_path)

    assert code == 0, errors
    assert "expire  session:planner  v1" in shown
    assert [cell.strip() for cell in shown.splitlines()[-1].split("│")] == ["stats:tokens", "82"]


def test_the_demo_runs_on_sqlite_and_never_on_a_store_in_use(tmp_path: Path) -> None:
    assert pepperflow("demo", "--url", "sqlite:///demo.db", cwd=tmp_path).returncode == 0

    again = pepperflow("demo", "--url", "sqlite:///demo.db", cwd=tmp_path)

    assert again.returncode == 2
    assert "the demo runs on an empty store" in again.stderr
