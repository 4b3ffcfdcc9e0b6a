"""pepperflow's own map and filter, alone and fused into one observer when chained.

Each passes ``check_stream`` (grammar, errors, dispose, backpressure,
resubscription) and its diagram, alone and chained, on virtual time.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from pepperflow.stores import MemoryStore
from pepperflow.streams import Change, SetChange, Subject, filter, map, pipe, take
from pepperflow.testing import MakeOperator, check_stream, cold, to_marbles, virtual_time_backend
from tests.streams.test_streams_interop import Recorder

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return virtual_time_backend(str(request.param))


NUMBERS = {"1": 1, "2": 2, "3": 3, "4": 4, "a": 10, "b": 20, "c": 30, "d": 40, "e": 50}


def tenfold(x: int) -> int:
    return x * 10


def plus_one(x: int) -> int:
    return x + 1


def odd(x: int) -> bool:
    return x % 2 == 1


def explode(value: Any) -> Any:
    """A user function that fails."""
    return 1 // 0


def chain(*operators: Any) -> Any:
    """The operators applied one after the other, as one operator."""
    return lambda source: pipe(source, *operators)


CASES: dict[str, tuple[MakeOperator, list[tuple[str, str]]]] = {
    "map": (lambda tg: map(tenfold), [("-1-2-3-4-|", "-a-b-c-d-|")]),
    "filter": (lambda tg: filter(odd), [("-1-2-3-4-|", "-1---3---|")]),
    "filter -> map": (lambda tg: chain(filter(odd), map(tenfold)), [("-1-2-3-4-|", "-a---c---|")]),
    "map -> filter -> map": (
        lambda tg: chain(map(plus_one), filter(odd), map(tenfold)),
        [("-1-2-3-4-|", "---c---e-|")],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_operator_keeps_the_stream_rules_and_its_diagram(name: str) -> None:
    make, cases = CASES[name]
    await check_stream(make, cases, values=NUMBERS)


@pytest.mark.parametrize(
    "operators",
    [
        [map(explode)],
        [filter(explode)],
        [map(tenfold), filter(explode), map(tenfold)],
        [filter(odd), map(tenfold), map(explode)],
    ],
    ids=["map", "filter", "middle of a chain", "end of a chain"],
)
async def test_an_exception_in_a_user_function_goes_to_athrow_and_unsubscribes(
    operators: list[Any],
) -> None:
    recorder = Recorder()
    async with anyio.create_task_group() as tg:
        source = cold("-1-2-3-|", task_group=tg, values=NUMBERS)
        await pipe(source, *operators).subscribe_async(recorder)
        await recorder.ended.wait()
        await anyio.sleep(1)
        assert source.playing == []
    assert recorder.values == []
    assert [type(e) for e in recorder.errors] == [ZeroDivisionError]


async def test_each_stage_runs_in_its_order_and_a_prefix_stays_usable_alone() -> None:
    subject: Subject[int] = Subject()
    incremented = pipe(subject, map(plus_one))
    whole, prefix, reordered = Recorder(), Recorder(), Recorder()
    await pipe(incremented, filter(odd), map(tenfold)).subscribe_async(whole)
    await incremented.subscribe_async(prefix)
    await pipe(subject, filter(odd), map(plus_one)).subscribe_async(reordered)
    for x in (1, 2, 3, 4):
        await subject.asend(x)
    await subject.aclose()
    assert whole.values == [30, 50]
    assert prefix.values == [2, 3, 4, 5]
    assert reordered.values == [2, 4]
    assert whole.closed and prefix.closed and reordered.closed


async def test_a_fused_chain_composes_with_other_operators() -> None:
    async with anyio.create_task_group() as tg:
        source = cold("-1-2-3-4-|", task_group=tg, values=NUMBERS)
        out = pipe(source, filter(odd), take(1), map(tenfold))
        assert await to_marbles(out, values=NUMBERS) == "-(a|)"
        assert source.playing == []


async def test_a_store_feeds_a_fused_chain_before_each_write_returns() -> None:
    def is_set(change: Change) -> bool:
        return isinstance(change, SetChange)

    def value_of(change: Change) -> Any:
        assert isinstance(change, SetChange)
        return change.value

    async with MemoryStore() as store:
        recorder = Recorder()
        pipeline = pipe(store.changes("n:"), filter(is_set), map(value_of), filter(odd))
        sub = await pipeline.subscribe_async(recorder)
        for i in range(5):
            await store.set(f"n:{i}", i)
            assert recorder.values == list(range(1, i + 1, 2))
        await store.delete("n:1")
        await sub.dispose_async()
        await store.set("n:9", 9)  # after dispose: not seen
    assert recorder.values == [1, 3]


@pytest.mark.parametrize("make", [map, filter])
def test_a_function_that_is_not_callable_is_refused(make: Any) -> None:
    with pytest.raises(TypeError, match="must be callable, got 3"):
        make(3)
