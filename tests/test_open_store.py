"""open_store(url): schemes, options and the errors for bad URLs."""

from __future__ import annotations

import pytest

from pepperflow import MissingExtra, UnknownStoreURL, open_store
from pepperflow.stores import MemoryStore
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
        ("nosuch://x", "unknown store scheme 'nosuch'; known schemes: memory"),
        ("just-a-path.db", "not a store URL"),
        ("memory://x/path", "has no path"),
        ("memory://?durability=full", "takes only the option 'name'"),
    ],
)
async def test_bad_urls_say_what_to_write(url: str, message: str) -> None:
    with pytest.raises(UnknownStoreURL, match=message):
        async with open_store(url):
            pass


def test_url_must_be_a_str() -> None:
    with pytest.raises(UnknownStoreURL, match="must be a str"):
        store_from_url(b"memory://")  # type: ignore[arg-type]


def test_a_missing_extra_names_the_pip_command() -> None:
    with pytest.raises(MissingExtra, match=r"pip install 'pepperflow\[redis\]'"):
        require("pepperflow_no_such_module", "redis", "redis:// stores")
    assert require("json", "x", "y") is not None
