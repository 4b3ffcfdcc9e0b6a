"""``check_stream``: the rules every operator keeps, checked on any operator.

::

    from pepperflow.testing import check_stream

    async def test_my_operator():  # on virtual time, asyncio and trio
        await check_stream(
            lambda tg: my_operator(2),
            cases=[("-a-b-c-|", "---b---|")],
        )

``make_operator(task_group)`` returns the operator (a function from an
observable to an observable); operators that run tasks put them in
``task_group``. Each check builds its source with :func:`cold` and runs in
a task group of its own:

``cases``
    each ``(input, expected)`` pair of diagrams holds.
``grammar``
    for inputs ending normally, with an error, at once, and in one burst:
    the observer's calls never overlap, at most one terminal comes and
    nothing after it; an error is the source's own exception object; the
    stream ends within ``settle`` ticks of the source's end.
``observer error``
    an exception raised by the observer's ``asend`` comes back through its
    ``athrow`` (the same object), and nothing follows it.
``dispose``
    after ``dispose_async()`` returns, the observer gets nothing more, the
    source is unsubscribed, and no task of the operator is left: its task
    group ends within ``settle`` ticks without being cancelled.
``backpressure`` (unless ``decoupled=True``)
    a source's ``asend`` never returns while the observer is still inside
    its ``asend``: the producer waits for its consumer.
``resubscribe``
    two concurrent subscriptions to one observable see the same diagram.

Run it on virtual time (:func:`~pepperflow.testing.virtual_time_backend`):
the checks wait hundreds of ticks. The generic inputs send at odd ticks
(``-a-b-c-|``); when an operator's timer falls on the same tick as a
source event, their order is up to the scheduler, so pick durations that
avoid it (``debounce(3)``, ``sample(2)``; not ``debounce(2)``). Raises
AssertionError, with the check's name in its notes, at the first failure.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import anyio
import anyio.abc
from aioreactive import AsyncObservable, AsyncObserver, pipe

from ._core import as_observer
from ._marbles import Event, cold, render_marbles, sequence, to_marbles

__all__ = ["MakeOperator", "check_stream"]

#: ``make_operator(task_group)`` -> the operator under test.
MakeOperator = Callable[
    [anyio.abc.TaskGroup], Callable[[AsyncObservable[Any]], AsyncObservable[Any]]
]

_SETTLE = 200  # ticks a stream may take to end after its source ended


class _Probe(AsyncObserver[Any]):
    """An observer that records its calls and flags grammar violations."""

    def __init__(self, tick: float, hold: int = 0, raise_on_first: bool = False) -> None:
        self.start = anyio.current_time()
        self.tick = tick
        self.hold = hold
        self.raise_on_first = raise_on_first
        self.raised: Exception | None = None
        self.events: list[Event] = []
        self.problems: list[str] = []
        self.busy = False
        self.ended = anyio.Event()
        self.ended_seq = -1
        self.disposed = False

    def _enter(self, what: str) -> None:
        if self.busy:
            self.problems.append(f"{what} called while the observer was still in asend")
        if self.ended.is_set():
            self.problems.append(f"{what} called after the terminal")
        if self.disposed:
            self.problems.append(f"{what} called after dispose_async() returned")

    def _now(self) -> int:
        return round((anyio.current_time() - self.start) / self.tick)

    async def asend(self, value: Any) -> None:
        self._enter("asend")
        self.events.append((self._now(), "next", value))
        if self.raise_on_first and self.raised is None:
            self.raised = ValueError("check_stream: the observer raises this in asend")
            raise self.raised
        if self.hold:
            self.busy = True
            try:
                await anyio.sleep(self.hold * self.tick)
            finally:
                self.busy = False

    async def athrow(self, error: Exception) -> None:
        self._enter("athrow")
        self.events.append((self._now(), "error", error))
        self.ended_seq = next(sequence)
        self.ended.set()

    async def aclose(self) -> None:
        self._enter("aclose")
        self.events.append((self._now(), "close", None))
        self.ended_seq = next(sequence)
        self.ended.set()


def _fail(message: str, *lines: str) -> AssertionError:
    return AssertionError("\n".join([message, *lines]))


async def check_stream(
    make_operator: MakeOperator,
    cases: Iterable[tuple[str, str]] = (),
    *,
    values: Mapping[str, Any] | None = None,
    decoupled: bool = False,
    tick: float = 1.0,
) -> None:
    """Check an operator against the stream rules; see the module docstring.

    Args:
        make_operator: ``make_operator(task_group)`` returns a new operator.
        cases: ``(input, expected)`` diagrams that must hold.
        values: characters to values, for the diagrams; its first three
            keys (default ``"abc"``) make the inputs of the generic checks.
        decoupled: the source may run ahead of the observer, because the
            operator declares a buffer (``debounce``, ``delay``...) or
            because other producers feed the observer (``flat_map``'s inner
            observables): skip the backpressure check.
        tick: seconds per tick.
    """
    values = dict(values or {})
    a, b, c = list(values)[:3] if len(values) >= 3 else ["a", "b", "c"]
    checks: list[tuple[str, Callable[[], Awaitable[None]]]] = []
    for diagram, expected in cases:
        case = functools.partial(_case, make_operator, diagram, expected, values, tick)
        checks.append((f"case {diagram!r}", case))
    inputs = [f"-{a}-{b}-{c}-|", f"-{a}-{b}-#", "|", "#", f"({a}{b}{c}|)"]
    checks.append(("grammar", lambda: _grammar(make_operator, inputs, values, tick)))
    checks.append(
        ("observer error", lambda: _observer_error(make_operator, f"-{a}-{b}-{c}-|", values, tick))
    )
    endless = f"-{a}-{b}-{c}" * 40
    checks.append(("dispose", lambda: _dispose(make_operator, endless, values, tick)))
    if not decoupled:
        checks.append(
            (
                "backpressure",
                lambda: _backpressure(make_operator, f"-{a}{b}{c}-{a}-|", values, tick),
            )
        )
    checks.append(
        ("resubscribe", lambda: _resubscribe(make_operator, f"-{a}-{b}-{c}-|", values, tick))
    )
    for name, check in checks:
        try:
            await check()
        except AssertionError as exc:
            exc.add_note(f"pepperflow.testing.check_stream: check {name!r} failed")
            raise


async def _case(
    make_operator: MakeOperator, diagram: str, expected: str, values: Mapping[str, Any], tick: float
) -> None:
    async with anyio.create_task_group() as tg:
        source = cold(diagram, values, task_group=tg, tick=tick)
        got = await to_marbles(pipe(source, make_operator(tg)), values, tick=tick)
        tg.cancel_scope.cancel()
    if got != expected:
        raise _fail(
            "the operator's output differs from the expected diagram:",
            f"  input:    {diagram}",
            f"  expected: {expected}",
            f"  got:      {got}",
        )


async def _run_probe(
    make_operator: MakeOperator,
    diagram: str,
    values: Mapping[str, Any],
    tick: float,
    probe: _Probe,
) -> Any:
    """Play ``diagram`` through the operator into ``probe``; return the source."""
    async with anyio.create_task_group() as tg:
        source = cold(diagram, values, task_group=tg, tick=tick)
        async with await pipe(source, make_operator(tg)).subscribe_async(probe):
            last = source.events[-1][0] if source.events else 0
            with anyio.move_on_after((last + _SETTLE) * tick):
                await probe.ended.wait()
        tg.cancel_scope.cancel()
    return source


async def _grammar(
    make_operator: MakeOperator, inputs: list[str], values: Mapping[str, Any], tick: float
) -> None:
    for diagram in inputs:
        probe = _Probe(tick)
        source = await _run_probe(make_operator, diagram, values, tick, probe)
        seen = render_marbles(probe.events, values)
        if probe.problems:
            raise _fail(
                f"input {diagram!r} -> {seen!r}: the Rx grammar was broken:", *probe.problems
            )
        if not probe.ended.is_set():
            raise _fail(
                f"input {diagram!r} -> {seen!r}: the source ended but the stream did not"
                f" end within {_SETTLE} ticks (no aclose/athrow reached the observer)"
            )
        kind, value = probe.events[-1][1:]
        source_kind, source_value = source.events[-1][1:]
        if source_kind == "close" and kind != "close":
            raise _fail(
                f"input {diagram!r} -> {seen!r}: the source ended normally, the stream"
                f" failed: {value!r}"
            )
        error_reached_operator = source.errors_sent and source.errors_sent[0] < probe.ended_seq
        if error_reached_operator and value is not source_value:
            raise _fail(
                f"input {diagram!r} -> {seen!r}: the source's error did not reach athrow"
                f" (got {kind} {value!r}); an operator must pass errors on, never lose them"
            )


async def _observer_error(
    make_operator: MakeOperator, diagram: str, values: Mapping[str, Any], tick: float
) -> None:
    probe = _Probe(tick, raise_on_first=True)
    await _run_probe(make_operator, diagram, values, tick, probe)
    seen = render_marbles(probe.events, values)
    if probe.raised is None:
        return  # the operator sent no value for this input: nothing to check
    errors = [e for e in probe.events if e[1] == "error"]
    if not errors or errors[0][2] is not probe.raised:
        raise _fail(
            f"input {diagram!r} -> {seen!r}: the exception the observer raised in asend"
            " did not come back through its athrow (it was lost)"
        )
    if probe.problems:
        raise _fail(f"input {diagram!r} -> {seen!r}: after the observer failed:", *probe.problems)


async def _dispose(
    make_operator: MakeOperator, diagram: str, values: Mapping[str, Any], tick: float
) -> None:
    probe = _Probe(tick)
    still_subscribed = False
    with anyio.move_on_after(_SETTLE * tick) as scope:
        async with anyio.create_task_group() as tg:
            source = cold(diagram, values, task_group=tg, tick=tick)
            sub = await pipe(source, make_operator(tg)).subscribe_async(probe)
            await anyio.sleep(10 * tick)
            await sub.dispose_async()
            probe.disposed = True
            await anyio.sleep(20 * tick)
            still_subscribed = bool(source.playing)
    if still_subscribed:
        raise _fail(
            "dispose_async() returned but the operator's source is still subscribed;"
            " disposing must unsubscribe every inner subscription"
        )
    if scope.cancelled_caught:
        raise _fail(
            f"a task still ran {_SETTLE} ticks after dispose_async(): the operator must"
            " cancel its tasks when disposed"
        )
    if probe.problems:
        raise _fail("after dispose:", *probe.problems)


async def _backpressure(
    make_operator: MakeOperator, diagram: str, values: Mapping[str, Any], tick: float
) -> None:
    probe = _Probe(tick, hold=3)
    busy_at_ack: list[float] = []

    class _Watch(AsyncObserver[Any]):
        """Between the source and the operator: was the observer busy when asend returned?"""

        def __init__(self, inner: AsyncObserver[Any]) -> None:
            self.inner = inner

        async def asend(self, value: Any) -> None:
            await self.inner.asend(value)
            if probe.busy:
                busy_at_ack.append(anyio.current_time())

        async def athrow(self, error: Exception) -> None:
            await self.inner.athrow(error)

        async def aclose(self) -> None:
            await self.inner.aclose()

    class _Watched(AsyncObservable[Any]):
        def __init__(self, source: AsyncObservable[Any]) -> None:
            self.source = source

        async def subscribe_async(
            self, send: Any = None, throw: Any = None, close: Any = None
        ) -> Any:
            return await self.source.subscribe_async(_Watch(as_observer(send, throw, close)))

    async with anyio.create_task_group() as tg:
        source = cold(diagram, values, task_group=tg, tick=tick)
        async with await pipe(_Watched(source), make_operator(tg)).subscribe_async(probe):
            with anyio.move_on_after(_SETTLE * tick):
                await probe.ended.wait()
        tg.cancel_scope.cancel()
    if busy_at_ack:
        raise _fail(
            f"input {diagram!r} -> {render_marbles(probe.events, values)!r}: the producer's"
            " asend returned while the observer was still busy in its asend: the operator"
            " buffers; if that is by design, declare its bound and pass decoupled=True"
        )


async def _resubscribe(
    make_operator: MakeOperator, diagram: str, values: Mapping[str, Any], tick: float
) -> None:
    got: list[str] = []
    async with anyio.create_task_group() as tg:
        observable = pipe(cold(diagram, values, task_group=tg, tick=tick), make_operator(tg))

        async def one() -> None:
            got.append(await to_marbles(observable, values, tick=tick))

        async with anyio.create_task_group() as both:
            both.start_soon(one)
            both.start_soon(one)
        tg.cancel_scope.cancel()
    if got[0] != got[1]:
        raise _fail(
            f"two subscriptions to one observable saw different streams for {diagram!r}:"
            f" {got[0]!r} and {got[1]!r}; each subscription needs its own state"
        )
