"""RedisStore.changes_since: the changelog's history after a seq, as a mirror
resumes from it (a real private Redis)."""

from __future__ import annotations

import itertools

import pytest

from pepperflow.stores import RedisStore
from pepperflow.streams import DeleteChange, SetChange
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

_namespaces = itertools.count()


async def test_changes_since_gives_the_changes_after_a_seq_in_order(
    redis_server: RedisServer,
) -> None:
    ns = f"history-{next(_namespaces)}"
    async with RedisStore(redis_server.url, namespace=ns) as store:
        await store.set("a", 1)
        await store.set_many({f"k{i}": i for i in range(1500)})  # two changelog entries
        await store.delete("a")
        everything = await store.changes_since(0)
        assert [c.seq for c in everything] == list(range(1, 1503))
        tail = await store.changes_since(1500)
        assert [(type(c), c.key) for c in tail] == [(SetChange, "k1499"), (DeleteChange, "a")]
        assert await store.changes_since(1502) == []
        with pytest.raises(ValueError, match="seq must be an int >= 0"):
            await store.changes_since(-1)


async def test_a_trimmed_changelog_starts_later(redis_server: RedisServer) -> None:
    ns = f"history-{next(_namespaces)}"
    async with RedisStore(redis_server.url, namespace=ns, changelog_length=10) as store:
        for i in range(1000):
            await store.set(f"k{i % 10}", i)
        changes = await store.changes_since(0)
    assert changes[0].seq > 1, "the oldest changes were trimmed"
    assert [c.seq for c in changes] == list(range(changes[0].seq, 1001)), "dense after that"
