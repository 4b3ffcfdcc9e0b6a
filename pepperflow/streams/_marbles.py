"""Marble diagrams for testing streams: ``cold("-a-b-|")`` and ``to_marbles(obs)``.

A diagram is a timeline read left to right, one tick per slot:

======== ==========================================================
``-``    a tick with nothing
``a``    a value (any other character); ``values["a"]`` if given, else ``"a"``
``|``    the end (``aclose``)
``#``    an error (``athrow``)
``(ab)`` several events in one tick (the group is one slot)
`` ``    ignored (spaces align diagrams)
======== ==========================================================

So ``"-a-(b|)"`` sends ``a`` at tick 1, then ``b`` and the end at tick 3.
Use them on virtual time (:func:`pepperflow.testing.virtual_time_backend`),
where ticks of any length take no real time::

    async with anyio.create_task_group() as tg:
        source = cold("-a-b-c-|", task_group=tg)
        assert await to_marbles(pipe(source, take(2))) == "-a-(b|)"
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

import anyio
import anyio.abc
from aioreactive import AsyncDisposable, AsyncObservable, AsyncObserver

from ._core import Observable, close_to, send_or_fail, throw_to

__all__ = [
    "ColdObservable",
    "Event",
    "MarbleError",
    "Recorder",
    "cold",
    "parse_marbles",
    "record",
    "render_marbles",
    "to_marbles",
]

Kind: TypeAlias = Literal["next", "error", "close"]
#: ``(tick, kind, value)``: ``value`` is the value, the exception, or None.
Event: TypeAlias = tuple[int, Kind, Any]


#: Orders events across observers when they happen in the same tick.
sequence = itertools.count()


class MarbleError(Exception):
    """The error ``#`` stands for in a :func:`cold` diagram (unless ``error=`` is given)."""


def parse_marbles(
    diagram: str, values: Mapping[str, Any] | None = None, error: Exception | None = None
) -> list[Event]:
    """The events of ``diagram``, in order; see the module docstring.

    Raises:
        ValueError: an unclosed or nested group, an empty group, or an event
            after the end.
    """
    parser = _Parser(diagram, values or {}, error)
    for pos, char in enumerate(diagram):
        if char != " ":
            parser.feed(pos, char)
    if parser.group is not None:
        raise ValueError(f"marbles {diagram!r}: unclosed '('")
    return parser.events


class _Parser:
    """The state of :func:`parse_marbles`: one character at a time."""

    def __init__(self, diagram: str, values: Mapping[str, Any], error: Exception | None) -> None:
        self.diagram = diagram
        self.values = values
        self.error = error
        self.events: list[Event] = []
        self.tick = 0
        self.group: list[Event] | None = None
        self.ended = False

    def feed(self, pos: int, char: str) -> None:
        if char == "(":
            self._fail_in_group(pos, "nested '('")
            self.group = []
        elif char == ")":
            if not self.group:
                raise ValueError(f"marbles {self.diagram!r}: ')' at {pos} closes no group")
            self.events.extend(self.group)
            self.group = None
            self.tick += 1
        elif char == "-":
            self._fail_in_group(pos, "'-' inside a group")
            self.tick += 1
        else:
            self._event(pos, char)

    def _fail_in_group(self, pos: int, what: str) -> None:
        if self.group is not None:
            raise ValueError(f"marbles {self.diagram!r}: {what} at {pos}")

    def _event(self, pos: int, char: str) -> None:
        if self.ended:
            raise ValueError(f"marbles {self.diagram!r}: {char!r} at {pos} comes after the end")
        event: Event
        if char == "|":
            event = (self.tick, "close", None)
            self.ended = True
        elif char == "#":
            error = self.error if self.error is not None else MarbleError("#")
            event = (self.tick, "error", error)
            self.ended = True
        else:
            event = (self.tick, "next", self.values.get(char, char))
        if self.group is not None:
            self.group.append(event)
        else:
            self.events.append(event)
            self.tick += 1


def _symbol(kind: Kind, value: Any, values: Mapping[str, Any]) -> str:
    if kind == "close":
        return "|"
    if kind == "error":
        return "#"
    for char, known in values.items():
        if known is value or known == value:
            return char
    if isinstance(value, str) and len(value) == 1 and value not in "-()|# ":
        return value
    return "{" + repr(value) + "}"


def render_marbles(events: list[Event], values: Mapping[str, Any] | None = None) -> str:
    """The diagram of ``events`` (``(tick, kind, value)``, ticks ascending)."""
    values = values or {}
    out: list[str] = []
    tick = 0
    i = 0
    while i < len(events):
        at = events[i][0]
        out.append("-" * (at - tick))
        same = [e for e in events[i:] if e[0] == at]
        symbols = "".join(_symbol(kind, value, values) for _, kind, value in same)
        out.append(symbols if len(same) == 1 else f"({symbols})")
        tick = at + 1
        i += len(same)
    return "".join(out)


class _Play(AsyncDisposable):
    """One subscription to a cold observable: a task playing the diagram."""

    def __init__(self, source: ColdObservable, observer: AsyncObserver[Any]) -> None:
        self._source = source
        self._observer = observer
        self._scope = anyio.CancelScope()
        self.active = True

    async def run(self, start: float) -> None:
        source = self._source
        try:
            with self._scope:
                for tick, kind, value in source.events:
                    await anyio.sleep_until(start + tick * source.tick)
                    if not self.active:
                        return
                    if kind == "next":
                        if not await send_or_fail(self._observer, value, self._stop):
                            return
                        source.acks.append(anyio.current_time())
                    elif kind == "error":
                        self.active = False
                        source.errors_sent.append(next(sequence))
                        await throw_to(self._observer, value)
                    else:
                        self.active = False
                        await close_to(self._observer)
        finally:
            self._end()

    def _stop(self) -> None:
        self.active = False

    def _end(self) -> None:
        if self.active:
            self.active = False
        if self in self._source.playing:
            self._source.playing.remove(self)

    async def dispose_async(self) -> None:
        self.active = False
        self._scope.cancel()
        self._end()


class ColdObservable(Observable[Any]):
    """An observable playing a marble diagram from each subscription; see :func:`cold`.

    ``subscriptions`` counts subscriptions so far, ``playing`` holds the
    ones still active (so a test can check that an operator unsubscribed
    its source), ``acks`` the times at which a value's ``asend`` returned.
    """

    def __init__(
        self,
        diagram: str,
        values: Mapping[str, Any] | None,
        error: Exception | None,
        task_group: anyio.abc.TaskGroup,
        tick: float,
    ) -> None:
        self.diagram = diagram
        self.events = parse_marbles(diagram, values, error)
        self.tick = tick
        self.subscriptions = 0
        self.playing: list[_Play] = []
        self.acks: list[float] = []
        self.errors_sent: list[int] = []  # the sequence numbers at which "#" was sent
        self._task_group = task_group

    async def _subscribe(self, observer: AsyncObserver[Any]) -> AsyncDisposable:
        play = _Play(self, observer)
        self.subscriptions += 1
        self.playing.append(play)
        self._task_group.start_soon(play.run, anyio.current_time(), name="pepperflow cold")
        return play

    def __repr__(self) -> str:
        return f"<ColdObservable {self.diagram!r}>"


def cold(
    diagram: str,
    values: Mapping[str, Any] | None = None,
    *,
    task_group: anyio.abc.TaskGroup,
    error: Exception | None = None,
    tick: float = 1.0,
) -> ColdObservable:
    """An observable that plays ``diagram`` from each subscription, in ``task_group``.

    Ticks are ``tick`` seconds; ``values`` maps characters to the values sent;
    ``#`` sends ``error`` (by default a :class:`MarbleError`). A value waits
    for the observer (backpressure), so a slow observer delays what follows.

    Raises:
        ValueError: a malformed diagram.
    """
    return ColdObservable(diagram, values, error, task_group, tick)


class Recorder(AsyncObserver[Any]):
    """Keeps what it is sent as ``(seconds since start, kind, value)`` events."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.events: list[tuple[float, Kind, Any]] = []
        self.ended = anyio.Event()

    def _now(self) -> float:
        return anyio.current_time() - self.start

    async def asend(self, value: Any) -> None:
        self.events.append((self._now(), "next", value))

    async def athrow(self, error: Exception) -> None:
        self.events.append((self._now(), "error", error))
        self.ended.set()

    async def aclose(self) -> None:
        self.events.append((self._now(), "close", None))
        self.ended.set()


async def record(
    observable: AsyncObservable[Any], *, tick: float = 1.0, until: int = 1000
) -> list[Event]:
    """Subscribe, and return the ``(tick, kind, value)`` events seen until the end.

    Stops (and unsubscribes) after ``until`` ticks if the stream has not ended.
    """
    recorder = Recorder(anyio.current_time())
    async with await observable.subscribe_async(recorder):
        with anyio.move_on_after(until * tick):
            await recorder.ended.wait()
    return [(round(at / tick), kind, value) for at, kind, value in recorder.events]


async def to_marbles(
    observable: AsyncObservable[Any],
    values: Mapping[str, Any] | None = None,
    *,
    tick: float = 1.0,
    until: int = 1000,
) -> str:
    """The diagram of what ``observable`` sends, from subscription to its end.

    Values found in ``values`` are drawn with their character, single
    characters as themselves, others as ``{repr}``; an error is ``#``.
    Stops (and unsubscribes) after ``until`` ticks, so a stream that never
    ends gives a diagram without ``|``.
    """
    return render_marbles(await record(observable, tick=tick, until=until), values)
