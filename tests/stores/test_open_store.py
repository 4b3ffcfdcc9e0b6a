"""open_store(url): schemes, options, the errors for bad URLs, and stores held open by await."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypedDict

import anyio
import msgspec
import pytest

from pepperflow import InvalidValue, MissingExtra, UnknownStoreURL, open_store
from pepperflow._redact import redacted
from pepperflow.stores import MemoryStore, SqliteStore, Store
from pepperflow.stores.url import require, store_from_url
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio


class Msg(msgspec.Struct, frozen=True):
    role: str


class Source(TypedDict):
    origin: str


class Ask(msgspec.Struct, frozen=True, tag=True):
    question: str


class Answer(msgspec.Struct, frozen=True, tag=True):
    text: str


@pytest.mark.parametrize(
    ("url", "name"),
    [("memory://", "default"), ("memory://cache", "cache"), ("memory://?name=x", "x")],
)
async def test_memory_urls(url: str, name: str) -> None:
    async with open_store(url) as store:
        assert isinstance(store, MemoryStore)
        assert store.name == name
        assert store.statistics().running
        await store.set("k", 1)
    assert store.statistics().closed


#: A URL open_store refuses, and a fragment of the message that says why and
#: what to write. Every URL carries the password PW, which no message shows.
BAD_URLS: list[tuple[str, str]] = [
    # the URL as a whole
    ("just-a-path.db", "not a store URL; write SCHEME://"),
    ("nosuch://u:PW@x", r"scheme 'nosuch'; known schemes: memory, redis, redis\+cluster, rediss,"),
    ("redis://u:PW@[::1/0", r"a malformed URL \(Invalid IPv6 URL\)"),
    ("redis://u:PW@h/0#top", "no #fragment; write a '#' in a password as %23"),
    ("sqlite:///notes#1.db", "no #fragment"),
    # memory://
    ("memory://x/path", "has no path; name the store as memory://NAME"),
    ("memory://u:PW@x", "has no user or password; write memory://NAME"),
    ("memory://?durability=full", "takes only the option 'name', not \\['durability'\\]"),
    ("memory://?name=a&name=b", "the option 'name' is given twice"),
    ("memory://?name=", "the option 'name' is '', not a store name; write e.g. name=cache"),
    # sqlite://
    ("sqlite://host/x.db", "has no host; write sqlite:///relative.db"),
    ("sqlite:///", "name the file, e.g. sqlite:///app.db"),
    ("sqlite:///x.db?cache=big", r"unknown sqlite option\(s\) \['cache'\]; known: namespace"),
    ("sqlite:///x.db?durability=maybe", "durability must be 'normal' or 'full'"),
    (
        "sqlite:///x.db?retain=lots",
        "'retain' is 'lots', not a whole number of changes; write e.g. retain=100000",
    ),
    ("sqlite:///x.db?retain=1.5", "'retain' is '1.5', not a whole number"),
    ("sqlite:///x.db?retain=-3", "retain must be an int from 0 to"),
    (
        "sqlite:///x.db?poll_interval=abc",
        "'poll_interval' is 'abc', not a number of seconds; write e.g. poll_interval=0.1",
    ),
    ("sqlite:///x.db?poll_interval=nan", "'poll_interval' is 'nan', not a number of seconds"),
    ("sqlite:///x.db?busy_timeout=inf", "'busy_timeout' is 'inf', not a number of seconds"),
    ("sqlite:///x.db?busy_timeout=1e400", "'busy_timeout' is '1e400', not a number"),
    ("sqlite:///x.db?namespace=", "'namespace' is '', not a name; write e.g. namespace=app"),
    ("sqlite:///x.db?namespace=a&namespace=b", "the option 'namespace' is given twice"),
    # redis:// and rediss://
    ("redis://u:PW@/0", "name the server, e.g. redis://127.0.0.1:6379/0"),
    ("redis://u:PW@h:port/0", "the port must be a number from 1 to 65535"),
    ("redis://u:PW@h:0/0", "the port must be a number from 1 to 65535"),
    ("rediss://u:PW@h:99999/0", "the port must be a number from 1 to 65535"),
    ("redis://u:PW@h:6381/abc", "the path must be the database's number"),
    ("redis://u:PW@h:6381/0/1", "the path must be the database's number"),
    ("redis://u:PW@h/0?changelog_length=abc", "'changelog_length' is 'abc', not a whole number"),
    ("redis://u:PW@h/0?changelog_length=0", "changelog_length must be an int >= 1, got 0"),
    ("redis://u:PW@h/0?sweep_interval=soon", "'sweep_interval' is 'soon', not a number of sec"),
    ("redis://u:PW@h/0?sweep_interval=0", "sweep_interval must be positive"),
    ("redis://u:PW@h/0?driver=aioredis", "driver must be 'auto', 'redis-py' or 'coredis'"),
    ("redis://u:PW@h/0?namespace=a{b}", "without '{' or '}'"),
    ("redis://u:PW@h/0?namespace=a&namespace=b", "the option 'namespace' is given twice"),
    ("redis://:PW@h/0?namespace=", "'namespace' is '', not a name"),
    ("redis+cluster://u:PW@h:1,h:x/", "the port must be a number from 1 to 65535"),
    ("redis+cluster://u:PW@h:1,:2/", "name the server"),
    ("rediss+cluster://u:PW@h:1,h:2/3", "a Redis Cluster has database 0 only"),
]


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_bad_urls_say_what_was_wrong_and_what_to_write(url: str, message: str) -> None:
    with pytest.raises(UnknownStoreURL, match=message) as caught:
        open_store(url)
    assert "PW" not in str(caught.value), "the password is never shown"
    if "://" in url:
        assert str(caught.value).startswith(f"{redacted(url)!r}: "), "it names the URL"


async def test_sqlite_urls_relative_absolute_and_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_store("sqlite:///data/rel.db?namespace=app&durability=full") as store:
        assert isinstance(store, SqliteStore)
        assert (store.path, store.name, store.durability) == ("data/rel.db", "app", "full")
        await store.set("k", 1)
    assert (tmp_path / "data" / "rel.db").exists()
    absolute = tmp_path / "abs.db"
    async with open_store(f"sqlite:///{absolute}?poll_interval=0.5&retain=10") as store:
        assert isinstance(store, SqliteStore)
        assert store.path == str(absolute)
        await store.set("k", 2)
    async with open_store(f"sqlite:///{absolute}") as store:
        assert await store.get("k") == 2


def test_url_must_be_a_str() -> None:
    with pytest.raises(UnknownStoreURL, match="must be a str"):
        store_from_url(b"memory://")  # type: ignore[arg-type]


def test_a_missing_extra_names_the_pip_command() -> None:
    with pytest.raises(MissingExtra, match=r"pip install 'pepperflow\[redis\]'"):
        require("pepperflow_no_such_module", "redis", "redis:// stores")
    assert require("json", "x", "y") is not None


# -- store = await open_store(url): held open across tasks (notebook cells) ---


async def _in_a_task_of_its_own(fn: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run ``fn`` as a notebook runs a cell: in a task that ends with it."""
    async with anyio.create_task_group() as cell:
        cell.start_soon(fn)


@pytest.mark.parametrize("scheme", ["memory", "sqlite", "redis"])
async def test_a_store_opened_in_one_task_is_used_and_closed_in_others(
    scheme: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = {"memory": "memory://", "sqlite": f"sqlite:///{tmp_path / 'cells.db'}"}.get(scheme)
    if url is None:
        server: RedisServer = request.getfixturevalue("redis_server")
        url = f"redis://127.0.0.1:{server.port}/0?namespace=cells-{uuid.uuid4().hex}"
    cells: dict[str, Any] = {}

    async def open_it() -> None:
        cells["store"] = await open_store(url)

    async def use_it() -> None:
        store = cells["store"]
        cells["version"] = await store.set("k", {"a": 1})
        assert await store.get("k") == {"a": 1}
        assert store.statistics().running

    async def close_it() -> None:
        await cells["store"].aclose()

    for cell in (open_it, use_it, use_it, close_it):
        await _in_a_task_of_its_own(cell)
    store = cells["store"]
    assert cells["version"] == 2
    assert store.statistics().closed
    with pytest.raises(anyio.ClosedResourceError):
        await store.get("k")
    await store.aclose()  # again: harmless


async def test_an_awaited_memory_store_runs_its_expiry_task() -> None:
    expired: list[str] = []
    store = await open_store("memory://")
    store.subscribe(None, lambda change: expired.append(change.key))
    await store.set("k", 1, ttl=0.01)
    with anyio.fail_after(5):
        while len(expired) < 2:  # the set, then its expiry, with no access
            await anyio.sleep(0.01)
    await store.aclose()


async def test_awaited_and_typed(tmp_path: Path) -> None:
    store: Store[Msg] = await open_store("memory://typed", type=Msg)
    try:
        await store.set("m", Msg(role="user"))
        message: Msg | None = await store.get("m")
        assert message == Msg(role="user")
        with pytest.raises(InvalidValue, match="'m'"):
            await store.set("m", "not a message")
    finally:
        await store.aclose()
    async with open_store("memory://", type=Msg, metadata_type=Source) as other:
        await other.set("m", Msg(role="bot"), metadata={"origin": "chat"})
        with pytest.raises(InvalidValue, match="'m'"):
            await other.set("m", Msg(role="bot"), metadata={"origin": 1})
        entry = await other.entry("m")
        assert entry is not None
        assert (entry.value, entry.metadata) == (Msg(role="bot"), {"origin": "chat"})
    turns: Store[Ask | Answer] = await open_store("memory://", type=Ask | Answer)
    try:
        await turns.set_many({"1": Ask("why?"), "2": Answer("because")})
        assert await turns.get_many(["1", "2"]) == {"1": Ask("why?"), "2": Answer("because")}
        with pytest.raises(InvalidValue, match="'3'"):
            await turns.set("3", Msg(role="user"))
    finally:
        await turns.aclose()


async def test_a_failed_open_raises_and_leaves_nothing_running(tmp_path: Path) -> None:
    (tmp_path / "a-directory.db").mkdir()
    with pytest.raises(Exception, match=r"unable to open|is a directory"):
        await open_store(f"sqlite:///{tmp_path / 'a-directory.db'}")


async def test_a_caller_cancelled_while_opening_leaves_nothing_running(tmp_path: Path) -> None:
    opening = open_store(f"sqlite:///{tmp_path / 'c.db'}")
    with anyio.CancelScope() as scope:
        scope.cancel()
        await opening
    assert scope.cancelled_caught
    assert not opening.store.statistics().running  # closed, or never opened


def test_the_opening_says_to_await_it() -> None:
    opening: Any = open_store("memory://")
    with pytest.raises(AttributeError, match=r"write `store = await open_store\(url\)`"):
        opening.set("k", 1)
    assert repr(opening) == "<StoreOpening of <MemoryStore 'default'>>"


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_a_store_left_open_closes_when_the_run_ends(backend: str, tmp_path: Path) -> None:
    held: list[Store[Any]] = []

    async def main() -> None:
        held.append(await open_store(f"sqlite:///{tmp_path / 'left.db'}"))
        held.append(await open_store("memory://"))
        for store in held:
            await store.set("k", 1)

    anyio.run(main, backend=backend)
    assert [store.statistics().closed for store in held] == [True, True]
