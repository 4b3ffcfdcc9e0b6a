"""pepperflow in one screen: a store, a subscriber, a change feed and a TTL.

python3 dev.py demo          (or: python examples/demo.py trio)
"""

from __future__ import annotations

import sys

import anyio

from pepperflow import open_store
from pepperflow.streams import Change, ExpireChange


async def main() -> None:
    async with open_store("memory://demo") as store:

        def show(change: Change) -> None:
            print(f"  callback  {type(change).__name__:<13} {change.key:<12} seq={change.seq}")

        store.subscribe("session:", show)

        async with store.changes(replay=True) as feed:
            await store.set("user:1", {"name": "Ada", "role": "admin"})
            await store.set("session:42", {"user": "user:1"}, ttl=0.2)
            await store.set("user:1", {"name": "Ada", "role": "owner"}, if_version=1)
            await store.delete("user:1")
            print("writes done; waiting for session:42 to expire ...")
            async for change in feed:
                value = getattr(change, "value", "")
                print(
                    f"  feed      {type(change).__name__:<13} {change.key:<12}"
                    f" seq={change.seq} version={change.version} {value}"
                )
                if isinstance(change, ExpireChange):
                    break

        print("state now:", [key async for key in store.scan()])
        print(store.statistics())


if __name__ == "__main__":
    anyio.run(main, backend=sys.argv[1] if len(sys.argv) > 1 else "asyncio")
