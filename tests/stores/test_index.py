"""The subscription index finds exactly the matching subscriptions, in order."""

from __future__ import annotations

import random

import attrs

from pepperflow._patterns import Pattern, compile_pattern, exact_pattern
from pepperflow.stores._index import SubscriptionIndex


@attrs.frozen
class Sub:
    pattern: Pattern
    order: int


def agrees_with_brute_force(
    index: SubscriptionIndex[Sub], live: list[Sub], keys: list[str]
) -> None:
    """The index finds exactly the live entries matching each key, in
    registration order; ``firsts`` never rules out a key something matches."""
    for key in keys:
        expected = [s for s in live if s.pattern.match(key)]
        assert index.match(key) == expected, key
        if index.firsts is not None and key[:1] not in index.firsts:
            assert expected == [], key
    assert len(index) == len(live)


def test_match_equals_brute_force_in_registration_order() -> None:
    rng = random.Random(7)
    words = ["", "a", "ab", "abc", "b", "user:", "user:1", "user:*", "*", "?b*", "a[bc]*", "x"]
    index: SubscriptionIndex[Sub] = SubscriptionIndex()
    subs = [Sub(compile_pattern(rng.choice(words)), i) for i in range(200)]
    for sub in subs:
        index.add(sub)
    removed = set(rng.sample(range(200), 60))
    for i in removed:
        index.remove(subs[i])
    live = [s for s in subs if s.order not in removed]
    assert len(index) == len(live)
    for key in ["a", "ab", "abc", "abd", "b", "bb", "user:", "user:1", "user:12", "x", "zz"]:
        expected = [s for s in live if s.pattern.match(key)]
        assert index.match(key) == expected, key


def test_removing_prunes_and_unknown_removal_is_ignored() -> None:
    index: SubscriptionIndex[Sub] = SubscriptionIndex()
    sub, every = Sub(compile_pattern("deep:path:"), 1), Sub(compile_pattern(None), 3)
    index.add(sub)
    index.add(every)
    assert index.match("deep:path:x") == [sub, every]
    index.remove(every)
    index.remove(sub)
    index.remove(sub)
    index.remove(Sub(compile_pattern("never"), 2))
    assert len(index) == 0
    assert index.match("deep:path:x") == []
    assert index._filed == {}
    assert index._lengths == ()
    assert (index._by_first, index._shape, index._anyhead) == ({}, {}, ())


def test_every_shape_of_the_index_matches_like_the_patterns() -> None:
    """One head length and no glob has a faster matcher; each shape agrees with
    brute force, and ``firsts`` never rules out a key something matches."""
    index: SubscriptionIndex[Sub] = SubscriptionIndex()
    keys = ["", "u", "use", "user", "user:", "user:1", "user:12", "users", "x", "session:1"]
    steps = ["user:", "user:", "x", "user:*", "session:", "ab", ""]
    live: list[Sub] = []

    def check() -> None:
        agrees_with_brute_force(index, live, keys)
        if any(s.pattern.prefix == "" for s in live):
            assert index.firsts is None

    check()
    for order, word in enumerate(steps):
        live.append(Sub(compile_pattern(word), order))
        index.add(live[-1])
        check()
    while live:
        index.remove(live.pop(0))
        check()
    assert index.match("anything") == []
    for word in ["user:", "session:"]:
        index.add(Sub(compile_pattern(word), 9))
    assert index.firsts == frozenset("us"), "two head lengths: the first characters are checked"


def test_exact_keys_match_only_themselves_beside_every_other_shape() -> None:
    """Subscriptions to one whole key are filed apart: each shape of the index
    with them (exact only, exact beside heads and globs) agrees with brute
    force, in registration order, and ``firsts`` never rules out their keys."""
    rng = random.Random(11)
    words = ["user:1", "user:12", "user:", "user:*", "x", "", "a?"]
    keys = ["", "u", "user:", "user:1", "user:12", "user:123", "x", "xy", "ab", "session:1"]
    index: SubscriptionIndex[Sub] = SubscriptionIndex()
    live: list[Sub] = []

    def check() -> None:
        agrees_with_brute_force(index, live, keys)

    for order in range(120):
        word = rng.choice(words)
        exact = rng.random() < 0.5 and word in ("user:1", "user:12", "x")
        live.append(Sub(exact_pattern(word) if exact else compile_pattern(word), order))
        index.add(live[-1])
        check()
        if rng.random() < 0.3:
            index.remove(live.pop(rng.randrange(len(live))))
            check()
    while live:
        index.remove(live.pop())
        check()
    assert index._exact == {}
    assert index.match("user:1") == []


def test_exact_key_is_not_matched_by_keys_it_is_a_prefix_of() -> None:
    index: SubscriptionIndex[Sub] = SubscriptionIndex()
    subs = [Sub(exact_pattern(f"key:{n}"), n) for n in range(1, 200)]
    for sub in subs:
        index.add(sub)
    assert index.match("key:1") == [subs[0]]
    assert index.match("key:12") == [subs[11]]
    assert index.match("key:1000") == []
    assert index.match("key:") == []


def test_a_key_is_looked_up_only_at_the_head_lengths_of_its_first_character() -> None:
    """100,000 subscriptions on ``session:N:`` heads (four lengths) do not
    make a ``user:`` key look up those lengths: only ``user:``'s one."""
    index: SubscriptionIndex[Sub] = SubscriptionIndex()
    for n in range(0, 100_000, 997):
        index.add(Sub(compile_pattern(f"session:{n}:"), n))
    user = Sub(compile_pattern("user:"), 100_001)
    index.add(user)
    assert index._by_first["u"] == (5,)
    assert index._by_first["s"] == (10, 12, 13, 14)  # session:0: to session:99691:
    assert index.match("user:42") == [user]
    assert index.match("session:997:x") == [Sub(compile_pattern("session:997:"), 997)]
