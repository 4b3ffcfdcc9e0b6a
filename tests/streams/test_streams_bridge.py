"""to_async_iterator and from_async_iterable: backpressure, ends, errors, cleanup."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from aioreactive import AsyncObservable

from pepperflow.streams import Subject, from_async_iterable, pipe, take, to_async_iterator
from pepperflow.testing import check_stream, virtual_time_backend
from tests.streams.test_streams_interop import Recorder

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return virtual_time_backend(str(request.param))


async def test_values_then_the_end() -> None:
    subject: Subject[int] = Subject()
    got: list[int] = []
    async with to_async_iterator(subject, buffer=5) as values:
        for i in range(3):
            await subject.asend(i)
        await subject.aclose()  # returns at once, the consumer has not read yet
        async for value in values:
            got.append(value)
    assert got == [0, 1, 2]


async def test_buffer_0_makes_the_producer_wait_for_the_consumer() -> None:
    subject: Subject[int] = Subject()
    async with to_async_iterator(subject) as values, anyio.create_task_group() as tg:
        sent: list[int] = []

        async def produce() -> None:
            for i in range(3):
                await subject.asend(i)
                sent.append(i)

        tg.start_soon(produce)
        await anyio.sleep(1)
        assert sent == []  # the first value is not taken yet
        assert await values.__anext__() == 0
        await anyio.sleep(1)
        assert sent == [0]
        tg.cancel_scope.cancel()


async def test_buffer_n_lets_the_producer_run_n_values_ahead() -> None:
    subject: Subject[int] = Subject()
    async with to_async_iterator(subject, buffer=2) as values, anyio.create_task_group() as tg:
        sent: list[int] = []

        async def produce() -> None:
            for i in range(5):
                await subject.asend(i)
                sent.append(i)

        tg.start_soon(produce)
        await anyio.sleep(1)
        assert sent == [0, 1]
        assert [await values.__anext__() for _ in range(5)] == [0, 1, 2, 3, 4]


async def test_an_error_is_raised_after_the_buffered_values() -> None:
    subject: Subject[int] = Subject()
    got: list[int] = []
    async with to_async_iterator(subject, buffer=2) as values:
        await subject.asend(1)
        await subject.athrow(KeyError("boom"))
        got.append(await values.__anext__())
        with pytest.raises(KeyError, match="boom"):
            await values.__anext__()
    assert got == [1]


async def test_leaving_early_unsubscribes_and_releases_a_waiting_producer() -> None:
    subject: Subject[int] = Subject()
    async with anyio.create_task_group() as tg:

        async def produce() -> None:
            await subject.asend(1)
            await subject.asend(2)  # waits: the consumer leaves without taking it

        async with to_async_iterator(subject) as values:
            tg.start_soon(produce)
            async for value in values:
                assert value == 1
                break
        with anyio.fail_after(1):  # the producers are released
            await subject.asend(3)
    assert subject.subscriber_count == 0


async def test_the_iterator_must_be_entered_once() -> None:
    iterator = to_async_iterator(Subject[int]())
    with pytest.raises(RuntimeError, match="async with to_async_iterator"):
        await iterator.__anext__()
    async with iterator:
        with pytest.raises(RuntimeError, match="entered once"):
            await iterator.__aenter__()
    with pytest.raises(ValueError, match="buffer"):
        to_async_iterator(Subject[int](), buffer=-1)


class Numbers:
    """An async iterable whose iterations record how far they got and whether they closed."""

    def __init__(self, count: int, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.pulled: list[int] = []
        self.closed = 0

    async def _gen(self) -> AsyncIterator[int]:
        try:
            for i in range(self.count):
                if i == self.fail_at:
                    raise LookupError(f"failed at {i}")
                self.pulled.append(i)
                yield i
                await anyio.sleep(1)
        finally:
            self.closed += 1

    def __aiter__(self) -> AsyncIterator[int]:
        return self._gen()


async def test_from_async_iterable_pulls_as_fast_as_the_observer_takes() -> None:
    numbers = Numbers(3)
    pulled_when_taken: list[list[int]] = []

    async def slow(value: int) -> None:
        pulled_when_taken.append(list(numbers.pulled))
        await anyio.sleep(10)

    recorder = Recorder()
    async with anyio.create_task_group() as tg:
        await from_async_iterable(numbers, task_group=tg).subscribe_async(
            slow, recorder.athrow, recorder.aclose
        )
    assert pulled_when_taken == [[0], [0, 1], [0, 1, 2]]
    assert recorder.closed and numbers.closed == 1


async def test_from_async_iterable_sends_the_iteration_error_to_athrow() -> None:
    recorder = Recorder()
    async with anyio.create_task_group() as tg:
        await from_async_iterable(Numbers(5, fail_at=2), task_group=tg).subscribe_async(recorder)
    assert recorder.values == [0, 1]
    assert [type(e) for e in recorder.errors] == [LookupError]


async def test_from_async_iterable_closes_the_iterator_on_dispose_and_on_observer_error() -> None:
    numbers = Numbers(100)
    async with anyio.create_task_group() as tg:
        sub = await from_async_iterable(numbers, task_group=tg).subscribe_async(Recorder())
        await anyio.sleep(5)
        await sub.dispose_async()
    assert numbers.closed == 1
    assert len(numbers.pulled) < 10

    recorder = Recorder()

    async def explode(value: int) -> None:
        raise ValueError("observer")

    async with anyio.create_task_group() as tg:
        await from_async_iterable(numbers, task_group=tg).subscribe_async(explode, recorder.athrow)
    assert [str(e) for e in recorder.errors] == ["observer"]
    assert numbers.closed == 2


async def test_from_async_iterable_iterates_an_iterable_once_per_subscription() -> None:
    numbers = Numbers(3)
    async with anyio.create_task_group() as tg:
        observable = pipe(from_async_iterable(numbers, task_group=tg), take(2))
        first, second = Recorder(), Recorder()
        await observable.subscribe_async(first)
        await observable.subscribe_async(second)
    assert first.values == second.values == [0, 1]
    assert numbers.closed == 2


class Through:
    """An async iterable over an observable, built on to_async_iterator."""

    def __init__(self, source: AsyncObservable[Any]) -> None:
        self.source = source

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._values()

    async def _values(self) -> AsyncIterator[Any]:
        async with to_async_iterator(self.source) as values:
            async for value in values:
                yield value


async def test_a_round_trip_through_both_bridges_keeps_the_stream_rules() -> None:
    # The generator between them holds one value, so the source may run one ahead.
    await check_stream(
        lambda tg: lambda source: from_async_iterable(Through(source), task_group=tg),
        [("-a-b-c-|", "-a-b-c-|"), ("-a-#", "-a-#")],
        decoupled=True,
    )


async def test_from_async_iterable_refuses_bad_arguments() -> None:
    async with anyio.create_task_group() as tg:
        pass
    with pytest.raises(TypeError, match="async iterable"):
        from_async_iterable([1, 2], task_group=tg)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="task_group"):
        from_async_iterable(Numbers(1), task_group=None)  # type: ignore[arg-type]
