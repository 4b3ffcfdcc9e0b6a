"""A child process for tests/storage/test_storage_processes.py: one save, then exit.

Run as ``python -W error tests/support/storage_child.py BACKEND PORT NAMESPACE KEY``;
``BACKEND`` is ``asyncio`` or ``trio``. It opens a RedisStorageProvider on
127.0.0.1:PORT, saves ``KEY`` (content type ``artifact``, tag ``run=42``),
prints ``saved`` and exits.
"""

from __future__ import annotations

import sys

import anyio

from pepperflow import RedisStorageProvider


async def main(port: int, namespace: str, key: str) -> None:
    config = {"host": "127.0.0.1", "port": port}
    async with RedisStorageProvider(config, namespace=namespace) as provider:
        await provider.save(key, {"by": "child"}, "artifact", tags={"run": "42"})
    print("saved", flush=True)


if __name__ == "__main__":
    backend, port, namespace, key = sys.argv[1:5]
    anyio.run(main, int(port), namespace, key, backend=backend)
