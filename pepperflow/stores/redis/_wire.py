"""A driver's own Redis connection, read and written in the calling task.

:class:`Wire` is an anyio byte stream with a hiredis reply reader (RESP2):
a command is packed by hiredis, sent, and its reply parsed as the bytes
arrive, with no task, pool or future between. On asyncio an anyio
stream's round trip here is about two thirds of an
``asyncio.StreamReader``'s (47 against 72 µs for a ``PING``), and coredis
6 sends every command through a writer task and a reader task (about
220 µs for a ``GET`` on trio against 35 µs for the bare round trip).

:class:`KeptWire` is how both drivers use one: opened on first use, one
command at a time (the driver sends concurrent commands through its
client's usual path), and closed after a failed or cancelled command (a
reply may be left unread on it), so the next command opens another.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn

import anyio
import anyio.abc
import hiredis
import sniffio

__all__ = ["Elsewhere", "KeptWire", "SlotWire", "Wire", "hash_tag"]

Arg = str | bytes | int | float

#: what a broken or closed stream raises
_STREAM_ERRORS = (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


class Elsewhere(Exception):
    """A command did not run on a :class:`~._wire.SlotWire` (redirected,
    refused by a cluster not serving the slot now, or no wire could be
    opened): nothing ran, so the driver sends it on its cluster client's path."""


def hash_tag(key: str) -> str | None:
    """``key``'s hash tag (what its first ``{`` and the next ``}`` hold, if
    anything), which alone makes its Redis Cluster slot; else None."""
    start = key.find("{")
    end = key.find("}", start + 1)
    return key[start + 1 : end] if start >= 0 and end > start + 1 else None


class Wire:
    """A connected stream and its reply reader.

    A command's deadline is ``asyncio.timeout`` on asyncio (about 4 µs; an
    anyio cancel scope with a deadline costs several times that on every
    command) and ``anyio.fail_after`` elsewhere.
    """

    __slots__ = ("_deadline", "_reader", "stream", "timeout")

    def __init__(self, stream: anyio.abc.ByteStream, timeout: float | None) -> None:
        self.stream = stream
        self.timeout = timeout
        self._reader = hiredis.Reader()
        on_asyncio = sniffio.current_async_library() == "asyncio"
        self._deadline: Callable[[float], Any] = asyncio.timeout if on_asyncio else _fail_after

    @classmethod
    async def open(
        cls,
        connect: Callable[[], Awaitable[anyio.abc.ByteStream]],
        setup: Sequence[tuple[Arg, ...]],
        *,
        command_timeout: float | None,
        connect_timeout: float | None = None,
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
        async with self._deadline(self.timeout):
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


@contextlib.asynccontextmanager
async def _fail_after(seconds: float) -> Any:
    with anyio.fail_after(seconds):
        yield


class KeptWire:
    """A driver's own :class:`Wire`: opened on first use, reopened after a failure.

    ``open_wire`` opens a new wire. Errors come out as the driver's client
    raises them: ``connection_error`` for a lost connection (a deadline
    stays a :class:`TimeoutError`), ``noscript_error``, ``auth_error``,
    ``loading_error`` (``LOADING``: Redis loads its dataset) and
    ``response_error`` for error replies.
    """

    __slots__ = (
        "_busy",
        "_closed",
        "_open",
        "_wire",
        "auth_error",
        "connection_error",
        "loading_error",
        "noscript_error",
        "response_error",
    )

    def __init__(
        self,
        open_wire: Callable[[], Awaitable[Wire]],
        *,
        connection_error: type[Exception],
        noscript_error: type[Exception],
        auth_error: type[Exception],
        loading_error: type[Exception],
        response_error: type[Exception],
    ) -> None:
        self._open = open_wire
        self._wire: Wire | None = None
        self._busy = False
        self._closed = False
        self.connection_error = connection_error
        self.noscript_error = noscript_error
        self.auth_error = auth_error
        self.loading_error = loading_error
        self.response_error = response_error

    def free(self, key: str = "") -> bool:
        """Whether a command (on ``key``) may go here now (else the client's usual path)."""
        return not self._busy and not self._closed

    def answered(self, key: str) -> None:
        """The client's usual path answered a command on ``key`` (nothing to learn here)."""

    async def call(self, *command: Arg) -> Any:
        """``command``'s reply; call only when :meth:`free`."""
        self._busy = True
        try:
            wire = self._wire or await self._opened()
            reply = await self._sent(wire, command)
        finally:
            self._busy = False
        if isinstance(reply, hiredis.ReplyError):
            raise self._error(reply)  # an error reply, read whole: the wire stays
        return reply

    async def _opened(self) -> Wire:
        """A new wire, kept: nothing was sent on it but its setup."""
        try:
            wire = await self._open()
        except BaseException as exc:
            self._raise_as_client(exc)
        if self._closed:  # the store closed meanwhile
            await wire.aclose()
            raise self.connection_error("the store closed")
        self._wire = wire
        return wire

    async def _sent(self, wire: Wire, command: tuple[Arg, ...]) -> Any:
        """``command``'s reply on ``wire``, which is closed if the command
        failed or was cancelled (a reply may be left unread on it)."""
        try:
            return await wire.call(command)
        except BaseException as exc:
            if self._wire is wire:
                await self._drop()
            self._raise_as_client(exc)

    def _raise_as_client(self, exc: BaseException) -> NoReturn:
        """Raise ``exc`` as the driver's client would (a lost connection, a refused setup)."""
        if isinstance(exc, _STREAM_ERRORS) and not isinstance(exc, TimeoutError):
            raise self.connection_error(f"connection lost: {exc!r}") from exc
        if isinstance(exc, hiredis.ReplyError):  # refused while opening (AUTH, SELECT)
            raise self._error(exc) from None
        raise exc

    def _error(self, reply: hiredis.ReplyError) -> Exception:
        message = str(reply)
        if message.startswith("NOSCRIPT"):
            return self.noscript_error(message)
        if message.startswith(("NOAUTH", "WRONGPASS")):
            return self.auth_error(message)
        if message.startswith("LOADING"):
            return self.loading_error(message)
        return self.response_error(message)

    async def _drop(self) -> None:
        """Close the wire (the next command opens another)."""
        wire, self._wire = self._wire, None
        if wire is not None:
            await wire.aclose()

    async def aclose(self) -> None:
        """Close the wire; no command goes here any more."""
        self._closed = True
        await self._drop()


#: the error replies of a cluster node that did not run a command (the slot
#: moved or is moving, the cluster or the primary is down, the node is now a
#: replica, or it is loading its dataset): the cluster client's path knows what to do
_NOT_HERE = ("MOVED ", "ASK ", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY", "LOADING")


class SlotWire(KeptWire):
    """A driver's own wire to the primary serving one slot of a Redis Cluster.

    The slot is the one of the first key with a hash tag offered to
    :meth:`free`; only commands on keys of the same hash tag go here (a
    RedisStore's are all under ``pf:{namespace}:``). ``open_for(key)`` opens
    a wire to the primary of ``key``'s slot as the cluster client knows it.

    What the cluster client's path must do instead raises :class:`Elsewhere`
    (nothing ran): an error reply of :data:`_NOT_HERE` (the wire is closed:
    the slot's primary may have changed), or a wire that could not be
    opened. After that, and after the wire failed (a lost connection, a
    deadline), no command comes here until the client's path has answered
    one on the slot (:meth:`answered`): the client has then followed the
    cluster, and the next command opens a wire to the primary it names.
    Other errors (``NOSCRIPT``, a script's) come out as on a KeptWire.
    """

    __slots__ = ("_key", "_open_for", "_prefix", "_settled")

    def __init__(
        self, open_for: Callable[[str], Awaitable[Wire]], **errors: type[Exception]
    ) -> None:
        """``errors``: the client's exceptions, as a KeptWire's."""
        super().__init__(self._open_owner, **errors)
        self._open_for = open_for
        self._key = ""  # the first key offered with a hash tag
        self._prefix: str | None = None  # its text up to its tag's "}"
        self._settled = True

    def free(self, key: str = "") -> bool:
        if self._busy or self._closed or not self._settled:
            return False
        if self._prefix is None:
            self._bind(key)
        prefix = self._prefix
        return prefix is not None and key.startswith(prefix)

    def _bind(self, key: str) -> None:
        """Serve ``key``'s slot from now on, if ``key`` has a hash tag (a
        key starting with its text up to the tag's ``}`` has the same tag)."""
        tag = hash_tag(key)
        if tag is not None:
            self._key, self._prefix = key, key[: key.index("{") + len(tag) + 2]

    def answered(self, key: str) -> None:
        """The client's path answered a command on ``key``: if of this slot,
        commands come here again."""
        prefix = self._prefix
        if prefix is not None and key.startswith(prefix):
            self._settled = True

    async def call(self, *command: Arg) -> Any:
        try:
            return await super().call(*command)
        except Elsewhere:
            self._settled = False
            await self._drop()
            raise
        except self.response_error:
            raise  # a reply read whole (NOSCRIPT, a script's error): the wire stays
        except Exception:
            self._settled = False  # the wire failed, and is closed
            raise

    async def _opened(self) -> Wire:
        try:
            return await super()._opened()
        except Exception as exc:  # nothing was sent
            raise Elsewhere(f"no connection to the slot's primary: {exc!r}") from exc

    def _error(self, reply: hiredis.ReplyError) -> Exception:
        message = str(reply)
        if message.startswith(_NOT_HERE):
            return Elsewhere(message)
        return super()._error(reply)

    def _open_owner(self) -> Awaitable[Wire]:
        return self._open_for(self._key)
