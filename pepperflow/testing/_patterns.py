"""Store checks of key patterns: which keys a pattern matches (the rule
:data:`PATTERN_CASES` states, the same for ``scan`` and ``subscribe``),
scans of many keys in batches, and ``clear``.
"""

from __future__ import annotations

from .._errors import InvalidKey, InvalidPattern
from ._support import MakeStore, Recorder, all_items, raises

_PATTERN_KEYS = [
    "user:1",
    "user:2",
    "user:10",
    "user:",
    "users",
    "admin:1",
    "a*b",
    "a?b",
    "axb",
    "[x]",
    "x",
    "h\\llo",
]

#: (pattern, keys it matches): the rule every backend follows.
PATTERN_CASES: list[tuple[str | None, set[str]]] = [
    (None, set(_PATTERN_KEYS)),
    ("", set(_PATTERN_KEYS)),
    ("user:", {"user:1", "user:2", "user:10", "user:"}),
    ("user", {"user:1", "user:2", "user:10", "user:", "users"}),
    ("user:*", {"user:1", "user:2", "user:10", "user:"}),
    ("user:?", {"user:1", "user:2"}),
    ("user:[12]", {"user:1", "user:2"}),
    ("user:[^1]", {"user:2"}),
    ("user:[0-1]*", {"user:1", "user:10"}),
    ("*1", {"user:1", "admin:1"}),
    ("a\\*b", {"a*b"}),
    ("a\\*", {"a*b"}),
    ("a?b", {"a*b", "a?b", "axb"}),
    ("a\\?b", {"a?b"}),
    ("\\[", {"[x]"}),
    ("\\[x]", {"[x]"}),
    ("[[]x]", {"[x]"}),
    ("h\\\\llo", {"h\\llo"}),
    ("*", set(_PATTERN_KEYS)),
    ("nothing", set()),
]


async def check_patterns(make_store: MakeStore) -> None:
    async with make_store() as store:
        await store.set_many({key: key for key in _PATTERN_KEYS})
        for pattern, expected in PATTERN_CASES:
            found = [key async for key in store.scan(pattern, batch_size=3)]
            assert len(found) == len(set(found)), f"scan({pattern!r}) repeated a key"
            assert set(found) == expected, f"scan({pattern!r}): {sorted(found)}"
            recorder = Recorder()
            with store.subscribe(pattern, recorder):
                for key in _PATTERN_KEYS:
                    await store.set(key, key)
            got = {change.key for change in recorder.changes}
            assert got == expected, f"subscribe({pattern!r}): {sorted(got)}"
        with raises(InvalidPattern, "scan() of a pattern with an unclosed '['"):
            store.scan("user:[12")


async def check_exact_subscriptions(make_store: MakeStore) -> None:
    """``subscribe(key, callback, exact=True)`` gets that one key's changes,
    not those of keys it is a prefix of, and its metacharacters are literal."""
    async with make_store() as store:
        recorders = {key: Recorder() for key in _PATTERN_KEYS}
        subs = [store.subscribe(key, recorders[key], exact=True) for key in _PATTERN_KEYS]
        everything = Recorder.on(store)
        for key in _PATTERN_KEYS:
            await store.set(key, key)
        await store.delete("user:1")
        for key, recorder in recorders.items():
            wanted = [key, key] if key == "user:1" else [key]
            got = [change.key for change in recorder.changes]
            assert got == wanted, f"subscribe({key!r}, exact=True) got {got}"
        assert len(everything.changes) == len(_PATTERN_KEYS) + 1
        for sub in subs:
            sub.unsubscribe()
        await store.set("user:1", "again")
        assert all(len(r.changes) <= 2 for r in recorders.values()), "delivered after unsubscribe"
        with raises(InvalidKey, "subscribe(None, exact=True)", match="key"):
            store.subscribe(None, print, exact=True)
        assert store.statistics().subscriptions == 1, "a refused subscription was kept"


async def check_scan_many(make_store: MakeStore) -> None:
    async with make_store() as store:
        await store.set_many({f"item:{i:04d}": i for i in range(1000)})
        await store.set("other", 0)
        for batch_size in (1, 7, 1000, 5000):
            keys = [key async for key in store.scan("item:", batch_size=batch_size)]
            assert sorted(keys) == [f"item:{i:04d}" for i in range(1000)]


async def check_clear(make_store: MakeStore) -> None:
    async with make_store() as store:
        await store.set_many({"a:1": 1, "a:2": 2, "b:1": 3})
        recorder = Recorder.on(store)
        assert await store.clear("a:") == 2
        assert sorted(recorder.kinds()) == [("DeleteChange", "a:1"), ("DeleteChange", "a:2")]
        assert await all_items(store) == {"b:1": 3}
        assert await store.clear("zzz") == 0
        assert await store.clear() == 1
        assert await all_items(store) == {}
