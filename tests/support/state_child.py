"""A child process for tests/test_state_processes.py: state managers from pepperflow.

Run as ``python -W error tests/state_child.py ROLE BACKEND [URL]``; ``BACKEND``
is ``asyncio`` or ``trio``. The child prints JSON lines (msgspec). Roles:

``write``
    With the default factory (not entered: its store opens on first use),
    in the working directory it was started in: set ``config`` (with
    metadata) and ``counter`` twice on the PERSISTENT manager ``app``, print
    their entries, close the factory.
``read``
    Entered factory: print the entries of ``config`` and ``counter`` of
    ``app``, set ``counter`` once more, print its entry.
``subscribe URL``
    A SHARED manager ``room`` over ``URL`` (Redis): subscribe to the key
    ``topic`` and the pattern ``msg:*``, open it, print ``ready``, wait
    until four calls came (at most 10 s), print them as ``[kind, key, value]``.
``publish URL``
    Print ``ready``, wait for a line, then on the SHARED manager ``room``
    over ``URL``: set ``topic``, set ``msg:1``, delete both, print ``done``.
``write-typed``
    With the default factory, in the working directory: set ``note`` to
    :data:`NOTE` on the PERSISTENT manager ``typed`` of value type
    :class:`Note`, close the factory, print ``done``.
``subscribe-typed URL``
    A SHARED manager ``room`` of value type :class:`Note` over ``URL``:
    subscribe to every key, open it, print ``ready``, wait until two calls
    came, print them as ``[key, type name of the value, value]``.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread
import msgspec

from pepperflow import SharedStateManager, StateEntry, StateManagerFactory

_json = msgspec.json.Encoder()


class Note(msgspec.Struct, frozen=True):
    """The value type of the typed roles."""

    text: str
    at: datetime
    tags: tuple[str, ...] = ()


NOTE = Note("hello", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), ("a", "b"))


def say(message: Any) -> None:
    sys.stdout.buffer.write(_json.encode(message) + b"\n")
    sys.stdout.flush()


def describe(entry: StateEntry[Any] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {
        "value": entry.value,
        "version": entry.version,
        "type": entry.type.value,
        "metadata": entry.metadata,
        "created_at": entry.created_at.timestamp(),
        "updated_at": entry.updated_at.timestamp(),
    }


async def main(role: str, url: str) -> None:
    if role == "write":
        factory = StateManagerFactory()
        app = factory.create_manager("app", "persistent")
        await app.set("config", {"theme": "dark"}, metadata={"by": "first"})
        await app.set("counter", 1)
        await app.set("counter", 2)
        say(
            {
                "config": describe(await app.entry("config")),
                "counter": describe(await app.entry("counter")),
            }
        )
        await factory.aclose()
    elif role == "read":
        async with StateManagerFactory() as factory:
            app = factory.create_manager("app", "persistent")
            found = {
                "config": describe(await app.entry("config")),
                "counter": describe(await app.entry("counter")),
            }
            await app.set("counter", 3)
            found["after"] = describe(await app.entry("counter"))
            say(found)
    elif role == "subscribe":
        calls: list[list[Any]] = []

        async def on_key(key: str, value: Any) -> None:
            calls.append(["key", key, value])

        def on_pattern(key: str, value: Any) -> None:
            calls.append(["pattern", key, value])

        async with StateManagerFactory(shared=url) as factory:
            room = factory.create_manager("room", "shared")
            room.subscribe("topic", on_key)
            room.subscribe_pattern("msg:*", on_pattern)
            await room.open()
            say("ready")
            with anyio.fail_after(10):
                while len(calls) < 4:
                    await anyio.sleep(0.005)
            await anyio.sleep(0.1)  # nothing more comes
            say(calls)
    elif role == "publish":
        async with StateManagerFactory(shared=url) as factory:
            room = factory.create_manager("room", "shared")
            say("ready")
            await anyio.to_thread.run_sync(sys.stdin.readline)
            await room.set("topic", "hello")
            await room.set("msg:1", {"text": "hi"})
            await room.delete("topic")
            await room.delete("msg:1")
            say("done")
    elif role in TYPED:
        await TYPED[role](url)
    else:
        raise SystemExit(f"unknown role {role!r}")


async def write_typed(url: str) -> None:
    factory = StateManagerFactory()
    typed = factory.create_manager("typed", "persistent", value_type=Note)
    await typed.set("note", NOTE)
    await factory.aclose()
    say("done")


async def subscribe_typed(url: str) -> None:
    calls: list[list[Any]] = []
    room = SharedStateManager("room", store=url, type=Note)

    def on_change(key: str, value: Any) -> None:
        calls.append([key, type(value).__name__, value])

    room.subscribe_pattern(None, on_change)
    async with room:
        say("ready")
        with anyio.fail_after(10):
            while len(calls) < 2:
                await anyio.sleep(0.005)
    say(calls)


TYPED = {"write-typed": write_typed, "subscribe-typed": subscribe_typed}


if __name__ == "__main__":
    role, backend, *rest = sys.argv[1:]
    anyio.run(main, role, rest[0] if rest else "", backend=backend)
