"""The sinks' side of a RedisStore: applying another store's changes with a
mark (:mod:`pepperflow.stores._apply`), reading a mark, and the changelog's
history (``changes_since``), which a mirror resumes from."""

from __future__ import annotations

from ...streams.events import Change
from .._apply import Mark, decode_mark
from .._checks import check_seq
from ._commands import Commands
from ._follower import Follower
from ._protocol import MarkArgs
from ._scripts import MARK
from ._writes import Writes

__all__ = ["Marks"]


class Marks:
    """What :class:`~pepperflow.stores.redis.RedisStore` does for the sinks."""

    _commands: Commands
    _follower: Follower
    _writes: Writes

    async def _apply(self, changes: list[Change], mark: Mark | None) -> None:
        """Commit checked ``changes`` (one per key) and ``mark`` in one script."""
        if changes or mark is not None:
            await self._writes.apply(changes, mark)

    async def _read_mark(self, name: str) -> Mark | None:
        """The mark stored under ``name`` in the namespace's marks hash."""
        reply = await self._commands.read(MARK, MarkArgs(name), [self._commands.marks_key])
        return decode_mark(reply.items[0]) if reply.items[0] else None

    async def changes_since(self, seq: int) -> list[Change]:
        """The changes after ``seq`` still in the changelog (trimmed to about
        ``changelog_length``: then the first is after ``seq + 1``), in order."""
        return await self._follower.changes_after(check_seq(seq))
