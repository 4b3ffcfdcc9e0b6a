"""open_store(url): schemes, options and the errors for bad URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pepperflow import MissingExtra, UnknownStoreURL, open_store
from pepperflow.stores import MemoryStore, SqliteStore
from pepperflow.stores.url import require, store_from_url

pytestmark = pytest.mark.anyio


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


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "nosuch://x",
            "unknown store scheme 'nosuch'; known schemes: memory, redis, rediss, sqlite",
        ),
        ("sqlite://host/x.db", "has no host"),
        ("sqlite:///", "name the file"),
        ("sqlite:///x.db?durability=maybe", "durability must be 'normal' or 'full'"),
        ("sqlite:///x.db?retain=lots", "invalid literal"),
        ("sqlite:///x.db?cache=big", r"unknown sqlite option\(s\) \['cache'\]"),
        ("just-a-path.db", "not a store URL"),
        ("memory://x/path", "has no path"),
        ("memory://?durability=full", "takes only the option 'name'"),
    ],
)
async def test_bad_urls_say_what_to_write(url: str, message: str) -> None:
    with pytest.raises(UnknownStoreURL, match=message):
        async with open_store(url):
            pass


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
