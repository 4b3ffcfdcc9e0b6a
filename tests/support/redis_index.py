"""The index a RedisStore keeps in Redis (``index=terms``), read raw, and checked
against one built from the store's entries."""

from __future__ import annotations

from typing import Any

import msgspec
import redis

from pepperflow.stores import RedisStore, Store
from tests.support.redis_server import RedisServer

__all__ = ["assert_redis_index_agrees", "raw_index"]


def raw_index(server: RedisServer, ns: str) -> dict[str, Any]:
    """The index as Redis holds it: each key's terms, each term's keys, the
    created_at scores, the keys in order, and the live keys (the meta hash's)."""
    client: Any = redis.Redis(host=server.host, port=server.port)
    tag = f"pf:{{{ns}}}:"
    try:
        terms = {
            key.decode(): sorted(msgspec.msgpack.decode(blob, type=list[str]))
            for key, blob in client.hgetall(tag + "ix").items()
            if key
        }
        postings = {
            name.decode()[len(tag) + 2 :]: {key.decode() for key in client.smembers(name)}
            for name in client.scan_iter(match=tag + "t:*", count=1000)
        }
        created = client.zrange(tag + "cr", 0, -1, withscores=True)
        return {
            "terms": terms,
            "postings": postings,
            "created": {key.decode(): score for key, score in created},
            "order": [key.decode() for key in client.zrange(tag + "lex", 0, -1)],
            "live": sorted(key.decode() for key in client.hkeys(tag + "meta") if key),
        }
    finally:
        client.close()


async def assert_redis_index_agrees(server: RedisServer, store: Store[Any]) -> None:
    """Redis's index equals one built from the store's entries (every live key)."""
    assert isinstance(store, RedisStore) and store.index is not None
    index = store.index
    held = raw_index(server, store.namespace)
    entries = (await store.snapshot()).entries
    assert sorted(entry.key for entry in entries) == held["live"]  # nothing due unswept
    want_terms = {e.key: sorted(index(e.value, e.metadata)) for e in entries}
    want_postings: dict[str, set[str]] = {}
    for key, terms in want_terms.items():
        for term in terms:
            want_postings.setdefault(term, set()).add(key)
    assert held["terms"] == want_terms
    assert held["postings"] == want_postings
    assert held["created"] == {e.key: e.created_at for e in entries}
    assert held["order"] == sorted(want_terms, key=lambda key: key.encode())
