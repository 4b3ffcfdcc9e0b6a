"""``get``, ``set``, ``ls``, ``rm`` and ``stats``, run as a user runs them, on SQLite and Redis."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.command import pepperflow


def ok(*args: str, cwd: Path) -> str:
    """``pepperflow ARGS``'s stdout; the command must exit 0 and print nothing on stderr."""
    done = pepperflow(*args, cwd=cwd)
    assert (done.returncode, done.stderr) == (0, ""), done
    return done.stdout


def test_a_user_sets_reads_lists_and_removes_keys(store_url: str, tmp_path: Path) -> None:
    ok("set", store_url, "user:1", '{"name": "Ada", "langs": ["py"]}', cwd=tmp_path)
    ok("set", store_url, "user:2", "42", "--ttl", "5m", "--metadata", '{"by": "cli"}', cwd=tmp_path)
    ok("set", store_url, "note", "hello, world", "--text", cwd=tmp_path)

    assert ok("get", store_url, "user:1", cwd=tmp_path) == '{"name":"Ada","langs":["py"]}\n'
    assert ok("get", store_url, "note", cwd=tmp_path) == '"hello, world"\n'
    assert ok("get", store_url, "note", "--text", cwd=tmp_path) == "hello, world\n"
    entry = json.loads(ok("get", store_url, "user:2", "--entry", cwd=tmp_path))
    assert (entry["value"], entry["version"], entry["metadata"]) == (42, 1, {"by": "cli"})
    assert entry["expires_at"] - entry["updated_at"] == pytest.approx(300)

    assert ok("ls", store_url, cwd=tmp_path) == "note\nuser:1\nuser:2\n"
    assert ok("ls", store_url, "user:*", cwd=tmp_path) == "user:1\nuser:2\n"
    listed = [
        json.loads(line)
        for line in ok("ls", store_url, "user:", "--json", cwd=tmp_path).splitlines()
    ]
    assert [(e["key"], e["value"]) for e in listed] == [
        ("user:1", {"name": "Ada", "langs": ["py"]}),
        ("user:2", 42),
    ]
    stats = json.loads(ok("stats", store_url, "--json", cwd=tmp_path))
    assert (stats["keys"], stats["ttl_keys"], stats["seq"]) == (3, 1, 3)
    assert "keys 3" in ok("stats", store_url, cwd=tmp_path).splitlines()

    assert ok("rm", store_url, "note", "user:1", cwd=tmp_path) == ""
    assert ok("ls", store_url, cwd=tmp_path) == "user:2\n"


def test_get_and_rm_of_an_absent_key_exit_1_naming_it(store_url: str, tmp_path: Path) -> None:
    ok("set", store_url, "here", "1", cwd=tmp_path)

    absent = pepperflow("get", store_url, "gone", cwd=tmp_path)
    assert (absent.returncode, absent.stdout) == (1, "")
    assert "no key 'gone'" in absent.stderr

    partly = pepperflow("rm", store_url, "here", "gone", cwd=tmp_path)
    assert partly.returncode == 1
    assert "no key 'gone'" in partly.stderr and "1 of 2 removed" in partly.stderr
    assert ok("ls", store_url, cwd=tmp_path) == ""


#: Bad input -> what the message says to fix. Input is checked before the
#: store is opened (a key, when the store is opened, before anything is written).
BAD_INPUT = [
    (["set", "URL", "k", "{nope"], "VALUE is not JSON"),
    (["set", "URL", "k", "text without quotes"], "pass --text"),
    (["set", "URL", "k", "1", "--ttl", "0"], "--ttl must be positive"),
    (["set", "URL", "k", "1", "--ttl", "3 weeks"], "(500ms, 30s, 5m, 2h, 1d)"),
    (["set", "URL", "k", "1", "--metadata", "[1"], "--metadata is not JSON"),
    (["set", "URL", "", "1"], "keys must be non-empty"),
    (["ls", "URL", "user:["], "unclosed '['"),
    (["watch", "URL", "--since", "-1"], "--since must be a seq >= 0"),
    (["watch", "URL", "--since", "0", "--replay"], "not both"),
    (["get", "URL"], "Missing argument 'KEY'"),
    (["set", "URL", "k", "1", "--tll", "5"], "No such option: --tll"),
]


def test_bad_input_exits_2_saying_what_to_fix_and_stores_nothing(tmp_path: Path) -> None:
    url = "sqlite:///store.db"
    ok("set", url, "before", "1", cwd=tmp_path)
    for args, says in BAD_INPUT:
        done = pepperflow(*(url if arg == "URL" else arg for arg in args), cwd=tmp_path)
        assert (done.returncode, done.stdout) == (2, ""), done
        assert says in done.stderr, done
    assert ok("ls", url, cwd=tmp_path) == "before\n"


def test_the_commands_run_on_trio_too(store_url: str, tmp_path: Path) -> None:
    ok("--backend", "trio", "set", store_url, "k", '{"on": "trio"}', "--ttl", "1h", cwd=tmp_path)
    assert ok("--backend", "trio", "get", store_url, "k", cwd=tmp_path) == '{"on":"trio"}\n'
    assert ok("--backend", "trio", "ls", store_url, cwd=tmp_path) == "k\n"
