"""One Redis connection read and written in the calling task.

:class:`Wire` is an anyio byte stream with a hiredis reply reader: a command
is packed by hiredis, sent, and its reply parsed as the bytes arrive, with
no task, pool or future between. On asyncio an anyio stream's round trip
here is about two thirds of an ``asyncio.StreamReader``'s (47 against
72 µs for a ``PING``), which is most of what a store's command costs.

Wires serve the redis-py driver, so asyncio only: a command's deadline is
``asyncio.timeout`` (about 4 µs), where an anyio cancel scope with a
deadline costs several times that on every command.

A wire carries one command at a time; its owner keeps it busy-flagged and
sends concurrent commands through its client's usual path. A failed or
cancelled call leaves the wire unusable (a reply may be left unread): the
owner closes it and opens a new one for the next command.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio
import anyio.abc
import hiredis

__all__ = ["Wire", "WireError"]

Arg = str | bytes | int | float

#: what a broken or closed stream raises
WireError = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class Wire:
    """A connected stream and its reply reader (RESP2)."""

    __slots__ = ("_reader", "stream", "timeout")

    def __init__(self, stream: anyio.abc.ByteStream, timeout: float | None) -> None:
        self.stream = stream
        self.timeout = timeout
        self._reader = hiredis.Reader()

    @classmethod
    async def open(
        cls,
        connect: Callable[[], Awaitable[anyio.abc.ByteStream]],
        setup: Sequence[tuple[Arg, ...]],
        *,
        command_timeout: float | None,
        connect_timeout: float | None,
    ) -> Wire:
        """Connect, then run ``setup`` (``AUTH``, ``SELECT``, ...); an error
        reply there raises :class:`hiredis.ReplyError`."""
        with anyio.fail_after(connect_timeout):
            stream = await connect()
        wire = cls(stream, command_timeout)
        try:
            for command in setup:
                reply = await wire.call(command)
                if isinstance(reply, hiredis.ReplyError):
                    raise reply
        except BaseException:
            await wire.aclose()
            raise
        return wire

    async def call(self, command: tuple[Arg, ...]) -> Any:
        """Send ``command`` and return its reply; an error reply is returned
        as a :class:`hiredis.ReplyError`, not raised (the wire stays usable)."""
        if self.timeout is None:
            return await self._round_trip(command)
        async with asyncio.timeout(self.timeout):
            return await self._round_trip(command)

    async def _round_trip(self, command: tuple[Arg, ...]) -> Any:
        reader, stream = self._reader, self.stream
        await stream.send(hiredis.pack_command(command))  # type: ignore[arg-type]
        while True:
            reply = reader.gets()
            if reply is not False:
                return reply
            reader.feed(await stream.receive())

    async def aclose(self) -> None:
        await anyio.aclose_forcefully(self.stream)
