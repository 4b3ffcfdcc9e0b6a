"""``pepperflow copy``: every key with its ttl and metadata, SQLite to Redis and back."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from tests.support.command import in_terminal, pepperflow
from tests.support.redis_server import RedisServer


def ok(*args: str, cwd: Path) -> str:
    done = pepperflow(*args, cwd=cwd)
    assert done.returncode == 0, done
    return done.stdout


def entry(url: str, key: str, cwd: Path) -> dict[str, object]:
    found: dict[str, object] = json.loads(ok("get", url, key, "--entry", cwd=cwd))
    return found


@pytest.mark.parametrize("direction", ["sqlite-to-redis", "redis-to-sqlite"])
def test_copy_takes_the_matching_keys_with_their_ttl_and_metadata(
    direction: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    redis_server.ensure_running()
    redis = f"{redis_server.url}?namespace=copy-{uuid.uuid4().hex[:12]}"
    sqlite = "sqlite:///store.db"
    source, target = (sqlite, redis) if direction == "sqlite-to-redis" else (redis, sqlite)
    ok(
        "set",
        source,
        "user:1",
        '{"name": "Ada"}',
        "--ttl",
        "1h",
        "--metadata",
        '{"v": 2}',
        cwd=tmp_path,
    )
    ok("set", source, "user:2", '"Bob"', cwd=tmp_path)
    ok("set", source, "job:1", "1", cwd=tmp_path)
    ok("set", target, "kept", "0", cwd=tmp_path)

    done = pepperflow("copy", source, target, "user:", cwd=tmp_path)

    assert (done.returncode, done.stdout) == (0, "user:1\nuser:2\n")
    assert done.stderr.startswith("pepperflow: copied 2 keys from ")
    assert ok("ls", target, cwd=tmp_path) == "kept\nuser:1\nuser:2\n"
    original, copied = entry(source, "user:1", tmp_path), entry(target, "user:1", tmp_path)
    assert (copied["value"], copied["metadata"]) == ({"name": "Ada"}, {"v": 2})
    assert copied["expires_at"] == pytest.approx(original["expires_at"], abs=0.01)
    assert entry(target, "user:2", tmp_path)["expires_at"] is None


def test_copy_shows_a_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    for n in range(3):
        ok("set", "sqlite:///a.db", f"k{n}", str(n), cwd=tmp_path)

    code, shown, errors = in_terminal("copy", "sqlite:///a.db", "sqlite:///b.db", cwd=tmp_path)

    assert code == 0, errors
    assert "copying" in shown and "3/3" in shown
    assert "copied 3 keys from sqlite:///a.db to sqlite:///b.db" in errors


def test_copy_refuses_to_copy_a_store_onto_itself(tmp_path: Path) -> None:
    done = pepperflow("copy", "sqlite:///a.db", "sqlite:///a.db", cwd=tmp_path)
    assert done.returncode == 2
    assert "SRC_URL and DST_URL are the same store" in done.stderr
