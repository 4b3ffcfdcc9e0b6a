"""How a round trip's wall time grows with the time Redis spends on it.

    python bench/bench_redis_wait.py

Starts a private ``redis-server`` on a free port of 127.0.0.1 and sends,
one awaited command at a time on the stores' own kind of connection (a
``Wire``: an anyio stream read by hiredis), ``EVALSHA`` of scripts that
only loop, from
nothing to ~50 µs of server time. Prints, per script, the server time
(``INFO commandstats``), the wall time and their difference: the round
trip's cost outside Redis. Where the difference jumps as the server time
grows, the client's CPU went idle while it waited and paid to wake up
(docs/performance.md, RedisStore). Always exits 0: it is a report.
"""

from __future__ import annotations

import gc
import sys
import time
from pathlib import Path

import anyio
import redis

from pepperflow.stores.redis._wire import Wire

ROOT = Path(__file__).resolve().parent.parent
LOOPS = (0, 200, 500, 1000, 2000, 4000, 8000)
CALLS = 3000


async def measure(port: int) -> None:
    sync = redis.Redis(port=port)
    wire = await Wire.open(lambda: anyio.connect_tcp("127.0.0.1", port), (), command_timeout=None)
    print(f"{'loop':>6} {'server us':>10} {'wall us':>9} {'wall - server':>14}")
    for loops in LOOPS:
        sha = sync.script_load(f"local x = 0 for i = 1, {loops} do x = x + i end return 1")
        wall = server = float("inf")
        for _ in range(5):
            gc.collect()
            sync.config_resetstat()
            start = time.perf_counter()
            for _ in range(CALLS):
                await wire.call(("EVALSHA", sha, 0))
            wall = min(wall, (time.perf_counter() - start) / CALLS * 1e6)
            used = sync.info("commandstats")["cmdstat_evalsha"]["usec"]
            server = min(server, used / CALLS)
        print(f"{loops:>6} {server:>10.1f} {wall:>9.1f} {wall - server:>14.1f}")
    await wire.aclose()
    sync.close()


def main() -> int:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from tests.support.redis_server import RedisServer

    server = RedisServer()
    server.start()
    try:
        anyio.run(measure, server.port)
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
