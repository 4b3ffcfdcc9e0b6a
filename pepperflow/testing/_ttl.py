"""Store checks of time to live: a running store expires keys near their
deadline with one expire change each, never returns an expired key, and a
later write replaces or removes a key's TTL.
"""

from __future__ import annotations

from datetime import timedelta

import anyio

from ..streams.events import ExpireChange, SetChange
from ._support import FEED_WAIT, MakeStore, Recorder, all_items

#: How long after its deadline an expire change may come while a store runs.
EXPIRY_SLACK = 0.5

#: How long, at least, readers race the expiry of keys that expire 50 ms in.
READ_RACE = 0.3


async def check_ttl_active(make_store: MakeStore) -> None:
    """A running store expires keys near their deadline, one expire change each."""
    async with make_store() as store:
        recorder = Recorder.on(store)
        await store.set("long", 2, ttl=timedelta(seconds=60))
        await store.set("forever", 3)
        await store.set("short", 1, ttl=0.05)
        # The deadline as committed (reading the entry back could come after it).
        (change,) = [c for c in recorder.changes if c.key == "short"]
        assert isinstance(change, SetChange) and change.expires_at is not None
        deadline = change.expires_at
        with anyio.fail_after(5):
            while not recorder.expired():
                await anyio.sleep(0.01)
        expires = [c for c in recorder.changes if isinstance(c, ExpireChange)]
        assert [(c.key, c.version) for c in expires] == [("short", 1)]
        late = expires[0].committed_at - deadline
        assert -0.005 <= late <= EXPIRY_SLACK, f"expired {late:.3f}s after its deadline"
        assert await store.get("short") is None
        assert await store.get("long") == 2
        assert await store.get("forever") == 3
        await anyio.sleep(0.05)
        assert len(recorder.expired()) == 1


async def check_ttl_never_returned(make_store: MakeStore) -> None:
    """Expired keys are never returned, whoever commits the expiry first."""
    async with make_store() as store:
        recorder = Recorder.on(store)
        await store.set("a", 1, ttl=0.02)
        await store.set("b", 1, ttl=0.02)
        await store.set("c", 1, ttl=0.02)
        await anyio.sleep(0.03)
        assert await store.get("a") is None
        assert not await store.exists("b")
        assert await store.entry("c") is None
        assert await store.get_many(["a", "b", "c"]) == {}
        await anyio.sleep(0.05)
        expires = sorted(recorder.expired())
        assert expires == ["a", "b", "c"], expires


async def check_ttl_replaced(make_store: MakeStore) -> None:
    async with make_store() as store:
        await store.set("k", 1, ttl=0.03)
        await store.set("k", 2)  # no ttl: keeps the key
        await store.set("j", 1)
        await store.set("j", 2, ttl=0.03)  # ttl added
        await anyio.sleep(0.1)
        assert await store.get("k") == 2
        assert await store.get("j") is None
        await store.set("j", 3, ttl=0.03)
        assert await store.set("j", 4, ttl=60, if_version=1) == 2
        await anyio.sleep(0.1)
        assert await store.get("j") == 4


async def check_expire_exactly_once(make_store: MakeStore) -> None:
    """Readers racing the expiry task still give one expire change per key.

    The readers read from before the deadline until every key's expiry
    came (for :data:`READ_RACE` seconds at least); then a last write, whose
    subscribers get every earlier change before it returns, shows that no
    second expiry followed.
    """
    async with make_store() as store:
        recorder = Recorder.on(store)
        keys = [f"t:{i}" for i in range(200)]
        await store.set_many(dict.fromkeys(keys, 1), ttl=0.05)

        def racing() -> bool:
            return len(recorder.expired()) < len(keys) or anyio.current_time() < until

        async def reader(offset: int) -> None:
            while racing():
                for key in keys[offset::4]:
                    await store.get(key)
                await anyio.sleep(0.001)

        until = anyio.current_time() + READ_RACE
        with anyio.move_on_after(FEED_WAIT):
            async with anyio.create_task_group() as tg:
                for offset in range(4):
                    tg.start_soon(reader, offset)
        assert await all_items(store) == {}
        await store.set("t:last", 1)
        expired = recorder.expired()
        assert sorted(expired) == sorted(keys), (
            f"one expire change per key, no more: {len(expired)} for {len(keys)} keys"
            f" ({len(set(expired))} keys) within {FEED_WAIT} s"
        )
