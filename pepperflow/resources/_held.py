"""Held resources: the live Python objects behind the records, and their factories.

A resource (a connection, a session, a temporary file) is not encodable
data, so it cannot live in a store. A :class:`Held` keeps it, by id, with
what is needed to clean it up (an async generator's rest or a cleanup
function), the limiter slot it holds and the event that tasks waiting for
its acquire or release wait on. Its ``record`` is the
:class:`~pepperflow.ResourceRecord` the ledger last wrote to the store for
it: a reference to that value, not a second truth (the store holds it, and
``status()`` reads it there).

:func:`make` runs a factory in its three forms; :func:`finish` runs the
cleanup and returns its error instead of raising it, so that the caller
records the error with the release and raises it after.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncGenerator, Awaitable
from typing import Any

import anyio

from ._kinds import Kind
from ._types import Cleanup, Factory, ResourceRecord, ResourceStatus

__all__ = ["Held", "describe", "finish", "make"]


def describe(exc: BaseException) -> str:
    """An error as a record's ``error`` says it: ``"cancelled"`` or ``"Type: message"``."""
    if isinstance(exc, anyio.get_cancelled_exc_class()):
        return "cancelled"
    return f"{type(exc).__name__}: {exc}"


def _call_aclose(resource: Any) -> Any:
    return resource.aclose()


class Held:
    """One resource's live objects (a cache of objects keyed by id, not of state).

    Attributes:
        record: the record last written for it (``stored``: it is in the
            store), or the first one to write.
        value: the resource (the id itself for a bare resource).
        made: the factory returned a resource (it needs cleaning up).
        gen, cleanup: how it is cleaned up.
        limited: it holds a slot of its kind's limiter.
        due: its record expired in the store and its release is pending.
    """

    __slots__ = (
        "cleanup",
        "due",
        "gen",
        "id",
        "key",
        "kind",
        "limited",
        "made",
        "record",
        "settled",
        "stored",
        "value",
    )

    def __init__(
        self, resource_id: str, kind: Kind, key: str, now: float, status: ResourceStatus
    ) -> None:
        self.id = resource_id
        self.kind = kind
        self.key = key
        self.record = ResourceRecord(
            id=resource_id,
            kind=kind.name,
            status=status,
            acquired_at=now,
            expires_at=None if kind.ttl is None else now + kind.ttl,
        )
        self.stored = False
        self.value: Any = None
        self.made = False
        self.cleanup: Cleanup | None = None
        self.gen: AsyncGenerator[Any, Any] | None = None
        self.limited = False
        self.due = False
        self.settled: anyio.Event | None = None

    @property
    def status(self) -> ResourceStatus:
        return self.record.status

    def settled_event(self) -> anyio.Event:
        """The event set when the acquire or release in progress ends."""
        if self.settled is None:
            self.settled = anyio.Event()
        return self.settled

    def settle(self) -> None:
        """Wake the tasks waiting for the acquire or release in progress."""
        settled = self.settled
        if settled is not None:
            self.settled = None
            settled.set()

    def __repr__(self) -> str:
        return f"<Held {self.id!r} {self.status.value}>"


def make(
    held: Held, factory: Factory, kwargs: dict[str, Any], cleanup: Cleanup | None
) -> Awaitable[None] | None:
    """Create ``held``'s resource with ``factory(held.id, **kwargs)``; return
    what to await when the factory's result must be awaited, else ``None``
    (a plain factory: made already, no coroutine).

    The factory returns the resource, an awaitable of it, or is an async
    generator that yields it once (the rest is its cleanup). Otherwise the
    cleanup is ``cleanup``, else the resource's ``aclose()`` if it has one.

    Raises:
        whatever the factory raised; ``RuntimeError`` for a generator that
        returned without yielding.
    """
    result = factory(held.id, **kwargs)
    if inspect.isasyncgen(result) or inspect.isawaitable(result):
        return _made_from(held, result, cleanup)
    held.value = result
    _made(held, cleanup)
    return None


async def _made_from(held: Held, result: Any, cleanup: Cleanup | None) -> None:
    """The rest of :func:`make` for a factory whose result is awaited."""
    if inspect.isasyncgen(result):
        held.gen = result
        try:
            held.value = await anext(result)
        except StopAsyncIteration:
            raise RuntimeError(
                f"resource {held.id!r}: the factory's async generator returned"
                " without yielding a resource"
            ) from None
    else:
        held.value = await result
    _made(held, cleanup)


def _made(held: Held, cleanup: Cleanup | None) -> None:
    held.made = True
    if held.gen is None:
        if cleanup is None and callable(getattr(held.value, "aclose", None)):
            cleanup = _call_aclose
        held.cleanup = cleanup


async def finish(held: Held) -> Exception | None:
    """Run ``held``'s cleanup; return its error (with a note naming the resource).

    A cancellation propagates; callers run this shielded.
    """
    try:
        gen = held.gen
        if gen is not None:
            try:
                await anext(gen)
            except StopAsyncIteration:
                return None
            await gen.aclose()
            raise RuntimeError(
                f"resource {held.id!r}: the factory's async generator yielded twice;"
                " yield the resource once, then clean it up"
            )
        if held.cleanup is not None:
            result = held.cleanup(held.value)
            if inspect.isawaitable(result):
                await result
    except Exception as exc:
        exc.add_note(f"while cleaning up resource {held.id!r}")
        return exc
    return None
