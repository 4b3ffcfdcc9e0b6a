"""The exit codes of docs/cli.md for what goes wrong around the store, and no password shown."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from pepperflow.stores.sqlite._schema import SCHEMA_VERSION
from tests.support.command import COMMAND, command_env, pepperflow
from tests.support.redis_server import RedisServer, free_port

PASSWORD = "pw@of-the-cli-tests"  # a '@': written %40 in a URL
QUOTED = quote(PASSWORD, safe="")


@pytest.fixture(scope="module")
def password_server() -> Iterator[RedisServer]:
    """A private Redis whose default user needs :data:`PASSWORD`."""
    with RedisServer(password=PASSWORD) as server:
        yield server


def test_a_bad_url_exits_3_naming_what_to_write(tmp_path: Path) -> None:
    unknown = pepperflow("ls", "postgres://db/app", cwd=tmp_path)
    assert unknown.returncode == 3
    assert "unknown store scheme 'postgres'; known schemes: memory, redis" in unknown.stderr

    port = pepperflow("ls", f"redis://me:{QUOTED}@127.0.0.1:99999/0", cwd=tmp_path)
    assert port.returncode == 3
    assert "port must be a number from 1 to 65535" in port.stderr
    assert PASSWORD not in port.stderr + port.stdout and QUOTED not in port.stderr


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_an_unreachable_server_exits_4_without_showing_the_password(
    backend: str, tmp_path: Path
) -> None:
    url = f"redis://me:{QUOTED}@127.0.0.1:{free_port()}/0"
    done = pepperflow("--backend", backend, "get", url, "k", cwd=tmp_path)
    assert done.returncode == 4
    assert "cannot reach Redis" in done.stderr
    assert PASSWORD not in done.stderr + done.stdout and QUOTED not in done.stderr


#: Each command that opens a store, with ``URL`` where the store's URL goes.
OPENERS = [
    ["watch", "URL"],
    ["get", "URL", "k"],
    ["set", "URL", "k", "1"],
    ["ls", "URL"],
    ["rm", "URL", "k"],
    ["stats", "URL"],
    ["copy", "URL", "sqlite:///copy.db"],
    ["copy", "memory://", "URL"],
    ["demo", "--url", "URL"],
]


@pytest.mark.parametrize("command", OPENERS, ids=" ".join)
def test_a_driver_the_event_loop_cannot_run_exits_3_in_one_line(
    command: list[str], tmp_path: Path
) -> None:
    url = f"redis://me:{QUOTED}@127.0.0.1:{free_port()}/0?driver=redis-py"
    args = [url if arg == "URL" else arg for arg in command]
    done = pepperflow("--backend", "trio", *args, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert done.stderr.splitlines()[-1].startswith("pepperflow: error: driver 'redis-py'")
    assert "use driver='coredis' or 'auto'" in done.stderr and "Traceback" not in done.stderr
    assert PASSWORD not in done.stderr + done.stdout and QUOTED not in done.stderr


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_client_option_value_the_client_refuses_exits_3(backend: str, tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{free_port()}/0?max_connections=many"
    done = pepperflow("--backend", backend, "ls", url, cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert "refuses a value of the URL's options" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_sqlite_file_of_a_newer_pepperflow_exits_4(tmp_path: Path) -> None:
    assert pepperflow("set", "sqlite:///new.db", "k", "1", cwd=tmp_path).returncode == 0
    with contextlib.closing(sqlite3.connect(tmp_path / "new.db")) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    done = pepperflow("ls", "sqlite:///new.db", cwd=tmp_path)
    assert done.returncode == 4, done.stderr
    assert "written by a newer pepperflow" in done.stderr and "Traceback" not in done.stderr


def test_a_sqlite_file_that_is_not_there_exits_4_and_is_not_created(tmp_path: Path) -> None:
    done = pepperflow("ls", "sqlite:///typo.db", cwd=tmp_path)
    assert done.returncode == 4
    assert f"there is no SQLite file '{tmp_path / 'typo.db'}'" in done.stderr
    assert not (tmp_path / "typo.db").exists()

    (tmp_path / "folder.db").mkdir()
    unusable = pepperflow("set", "sqlite:///folder.db", "k", "1", cwd=tmp_path)
    assert unusable.returncode == 4
    assert "folder.db" in unusable.stderr


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_refused_login_exits_5_without_showing_any_password(
    backend: str, password_server: RedisServer, tmp_path: Path
) -> None:
    wrong = "not-the-pw-%40-either"
    url = password_server.url.replace("redis://", f"redis://default:{wrong}@")
    done = pepperflow("--backend", backend, "set", url, "k", "1", cwd=tmp_path)
    assert done.returncode == 5
    assert "Redis refused the login" in done.stderr
    for secret in (wrong, "not-the-pw-@-either", PASSWORD, QUOTED):
        assert secret not in done.stderr + done.stdout

    # The right password, percent-encoded as a URL must write its '@', logs in on either loop.
    right = password_server.url.replace("redis://", f"redis://default:{QUOTED}@")
    logged_in = pepperflow("--backend", backend, "set", right, "k", "1", cwd=tmp_path)
    assert logged_in.returncode == 0, logged_in.stderr


def test_without_the_cli_extra_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    # As if Typer were not installed: an import of it fails as a missing module does.
    program = "import sys; sys.modules['typer'] = None; from pepperflow.cli import main; main()"
    done = subprocess.run(
        [*COMMAND[:3], "-c", program, "ls", "memory://"],
        cwd=tmp_path,
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 6
    assert "pip install 'pepperflow[cli]'" in done.stderr
