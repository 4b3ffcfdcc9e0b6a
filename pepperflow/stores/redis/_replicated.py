"""``durability="replicated"``: a write script, then ``WAIT`` on the same connection.

Redis replicates asynchronously: a primary acknowledges a write before any
replica has it, and a primary that dies before its replica received the
write loses it when the replica is promoted. ``WAIT numreplicas timeout``
blocks until that many replicas acknowledged every write made on *its
connection* (so it must follow the script on the same one), or the
timeout passed, and returns how many did.

Each function here runs ``EVALSHA`` and ``WAIT`` on one connection of a
client and returns the script's raw reply, or raises :class:`NotReplicated`
when fewer replicas than asked acknowledged it: the script was applied on
the primary, and may be lost if the primary fails before a replica has it.
An error reply of the script (``NOSCRIPT``, ``MOVED``...) is raised as the
client raises it, after both replies were read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._protocol import Arg

__all__ = ["NotReplicated", "coredis_waited", "redis_py_cluster_waited", "redis_py_waited"]


class NotReplicated(Exception):
    """A write was applied on the primary, but fewer replicas than asked
    acknowledged it before the timeout."""


def _checked(raw: Any, acked: int, replicas: int, timeout_ms: int) -> Any:
    if acked < replicas:
        raise NotReplicated(
            f"{acked} of the {replicas} replica(s) asked for acknowledged it within {timeout_ms} ms"
        )
    return raw


async def redis_py_waited(
    client: Any, sha: str, keys: Sequence[Arg], args: Sequence[Arg], replicas: int, timeout_ms: int
) -> Any:
    """On redis-py's ``Redis``: a pipeline without a transaction (one connection)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.evalsha(sha, len(keys), *keys, *args)
        pipe.wait(replicas, timeout_ms)
        raw, acked = await pipe.execute()
    return _checked(raw, acked, replicas, timeout_ms)


async def redis_py_cluster_waited(
    client: Any, sha: str, keys: Sequence[Arg], args: Sequence[Arg], replicas: int, timeout_ms: int
) -> Any:
    """On redis-py's ``RedisCluster``: one connection of the node serving
    ``keys[0]``'s slot (a redirect is raised: nothing ran; the client
    learns the new owner at its next command)."""
    node = client.get_node_from_key(keys[0])
    connection = node.acquire_connection()
    try:
        await connection.send_packed_command(
            connection.pack_commands(
                [("EVALSHA", sha, len(keys), *keys, *args), ("WAIT", replicas, timeout_ms)]
            )
        )
        first: BaseException | None = None
        raw: Any = None
        try:
            raw = await connection.read_response()
        except Exception as exc:  # an error reply: WAIT's is still to read
            first = exc
        acked = await connection.read_response()
    except BaseException:
        await connection.disconnect()  # a reply may be left unread on it
        raise
    finally:
        node.release(connection)
    if first is not None:
        raise first
    return _checked(raw, acked, replicas, timeout_ms)


async def coredis_waited(
    client: Any, sha: str, keys: Sequence[Arg], args: Sequence[Arg], replicas: int, timeout_ms: int
) -> Any:
    """On coredis's ``Redis`` or ``RedisCluster``: its ``ensure_replication``
    (``WAIT`` after the command, on its connection)."""
    from coredis.exceptions import ReplicationError

    try:
        with client.ensure_replication(replicas, timeout_ms):
            return await client.evalsha(sha, keys=list(keys), args=list(args))
    except ReplicationError as exc:
        raise NotReplicated(f"fewer than {replicas} replica(s) acknowledged it") from exc
