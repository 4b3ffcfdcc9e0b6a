"""The test helpers users get: marble diagrams, check_stream, virtual time.

check_stream must catch broken operators: each rule is shown failing on an
operator that breaks it.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

import anyio
import anyio.abc
import pytest
from aioreactive import AsyncDisposable, AsyncObservable, AsyncObserver

from pepperflow.streams import Subject, pipe, skip, take
from pepperflow.streams._core import Observable, Piped, Sink
from pepperflow.streams._marbles import MarbleError, parse_marbles, render_marbles
from pepperflow.testing import check_stream, cold, record, to_marbles, virtual_time_backend

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return virtual_time_backend(str(request.param))


# -- diagrams ------------------------------------------------------------------


def test_parse_reads_ticks_values_groups_and_terminals() -> None:
    error = RuntimeError("x")
    assert parse_marbles("-a-(bc)-|", {"a": 1}) == [
        (1, "next", 1),
        (3, "next", "b"),
        (3, "next", "c"),
        (5, "close", None),
    ]
    assert parse_marbles("- a #", error=error) == [(1, "next", "a"), (2, "error", error)]
    (event,) = parse_marbles("#")
    assert isinstance(event[2], MarbleError)


@pytest.mark.parametrize(
    ("diagram", "message"),
    [
        ("-(a", "unclosed"),
        ("((a))", "nested"),
        ("-)", "closes no group"),
        ("-|-a", "after the end"),
        ("(a-b)", "inside a group"),
    ],
)
def test_parse_refuses_a_malformed_diagram(diagram: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_marbles(diagram)


@pytest.mark.parametrize("diagram", ["-a-b-|", "(ab)-c#", "", "|", "-a-(b|)"])
def test_render_is_the_inverse_of_parse(diagram: str) -> None:
    assert render_marbles(parse_marbles(diagram)) == diagram


def test_render_draws_unknown_values_with_their_repr() -> None:
    assert render_marbles([(1, "next", [1, 2]), (2, "next", "x")], {"x": "x"}) == "-{[1, 2]}x"


async def test_cold_plays_from_each_subscription_and_to_marbles_draws_it() -> None:
    async with anyio.create_task_group() as tg:
        source = cold("-a-b-|", {"a": 1, "b": 2}, task_group=tg)
        assert await to_marbles(source, {"a": 1, "b": 2}) == "-a-b-|"
        await anyio.sleep(5)
        assert await to_marbles(source) == "-{1}-{2}-|"
        assert source.subscriptions == 2 and source.playing == []


async def test_to_marbles_stops_after_until_ticks() -> None:
    async with anyio.create_task_group() as tg:
        source = cold("-a-b-c-d-e-f-", task_group=tg)
        assert await to_marbles(source, until=6) == "-a-b-c"
        assert source.playing == []


async def test_record_keeps_the_error_object() -> None:
    boom = KeyError("boom")
    async with anyio.create_task_group() as tg:
        events = await record(cold("-a#", task_group=tg, error=boom))
    assert events == [(1, "next", "a"), (2, "error", boom)]


async def test_virtual_time_takes_no_real_time_and_jumps_exactly() -> None:
    started = time.perf_counter()
    t0 = anyio.current_time()
    async with anyio.create_task_group() as tg:
        tg.start_soon(anyio.sleep, 86_400)
        await anyio.sleep(3_600)
        assert anyio.current_time() - t0 == 3_600
    assert anyio.current_time() - t0 == 86_400
    with anyio.move_on_after(7) as scope:
        await anyio.sleep_forever()
    assert scope.cancelled_caught
    assert time.perf_counter() - started < 2


def test_virtual_time_backend_refuses_other_backends() -> None:
    with pytest.raises(ValueError, match="'asyncio' and 'trio'"):
        virtual_time_backend("curio")


# -- check_stream passes good operators -----------------------------------------------


async def test_check_stream_passes_a_correct_operator_and_its_cases() -> None:
    await check_stream(lambda tg: skip(1), [("-a-b-c-|", "---b-c-|")])


async def test_check_stream_reports_a_wrong_case() -> None:
    with pytest.raises(AssertionError, match="differs from the expected") as info:
        await check_stream(lambda tg: take(1), [("-a-b-|", "-a-b-|")])
    assert "check \"case '-a-b-|'\" failed" in " ".join(info.value.__notes__)


# -- ... and fails broken ones, naming the rule ------------------------------------------


class _ErrorsBecomeEnds(Sink[Any, Any]):
    async def asend(self, value: Any) -> None:
        await self._send(value)

    async def _on_error(self, error: Exception) -> None:
        await self._finish()  # loses the error


class _SwallowsObserverErrors(Sink[Any, Any]):
    async def asend(self, value: Any) -> None:
        with contextlib.suppress(Exception):  # lost
            await self._down.asend(value)


class _SharedState:
    """An operator whose subscriptions share a counter (like aioreactive's delay)."""

    def __init__(self) -> None:
        self.seen = 0

    def __call__(self, source: AsyncObservable[Any]) -> AsyncObservable[Any]:
        shared = self

        class _Skip1(Sink[Any, Any]):
            async def asend(self, value: Any) -> None:
                shared.seen += 1
                if shared.seen > 1:
                    await self._send(value)

        return Piped(source, _Skip1)


class _KeepsSource(Observable[Any]):
    """Its subscription's dispose does not unsubscribe the source."""

    def __init__(self, source: AsyncObservable[Any]) -> None:
        self.source = source

    async def _subscribe(self, observer: AsyncObserver[Any]) -> AsyncDisposable:
        await self.source.subscribe_async(observer)

        async def nothing() -> None:
            pass

        return AsyncDisposable.create(nothing)


class _LeavesATask(Observable[Any]):
    def __init__(self, source: AsyncObservable[Any], tg: anyio.abc.TaskGroup) -> None:
        self.source = source
        self.tg = tg

    async def _subscribe(self, observer: AsyncObserver[Any]) -> AsyncDisposable:
        self.tg.start_soon(anyio.sleep, 10_000)  # never cancelled
        return await self.source.subscribe_async(observer)


class _Unbounded(Observable[Any]):
    """Hands each value to a task and returns at once: a buffer nobody declared."""

    def __init__(self, source: AsyncObservable[Any], tg: anyio.abc.TaskGroup) -> None:
        self.source = source
        self.tg = tg

    async def _subscribe(self, observer: AsyncObserver[Any]) -> AsyncDisposable:
        subject: Subject[Any] = Subject()
        await subject.subscribe_async(observer)

        async def send(value: Any) -> None:
            self.tg.start_soon(subject.asend, value)

        return await self.source.subscribe_async(send, subject.athrow, subject.aclose)


@pytest.mark.parametrize(
    ("make", "rule", "message"),
    [
        (lambda tg: lambda s: Piped(s, _ErrorsBecomeEnds), "grammar", "did not reach athrow"),
        (
            lambda tg: lambda s: Piped(s, _SwallowsObserverErrors),
            "observer error",
            "did not come back through its athrow",
        ),
        (lambda tg: _SharedState(), "resubscribe", "needs its own state"),
        (lambda tg: _KeepsSource, "dispose", "still subscribed"),
        (lambda tg: lambda s: _LeavesATask(s, tg), "dispose", "a task still ran"),
        (lambda tg: lambda s: _Unbounded(s, tg), "backpressure", "decoupled=True"),
    ],
    ids=[
        "loses errors",
        "swallows observer errors",
        "shared state",
        "keeps source",
        "task",
        "buffer",
    ],
)
async def test_check_stream_fails_an_operator_that_breaks_a_rule(
    make: Any, rule: str, message: str
) -> None:
    with pytest.raises(AssertionError, match=message) as info:
        await check_stream(make)
    assert f"check {rule!r} failed" in " ".join(info.value.__notes__)


async def test_a_pipeline_of_pepperflow_operators_passes_check_stream() -> None:
    await check_stream(lambda tg: lambda s: pipe(s, skip(1), take(5)))
