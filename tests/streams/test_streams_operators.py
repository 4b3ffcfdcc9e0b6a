"""Operators without time: take, skip, take_while, distinct_until_changed, merge,
combine_latest, flat_map, group_by_key.

Every operator passes ``check_stream`` (grammar, errors, dispose, backpressure,
resubscription) and the diagram of its docstring, on virtual time.
"""

from __future__ import annotations

from typing import Any

import anyio
import anyio.abc
import pytest
from aioreactive import AsyncObservable

from pepperflow.streams import (
    GroupedObservable,
    Subject,
    combine_latest,
    distinct_until_changed,
    flat_map,
    group_by_key,
    merge,
    pipe,
    skip,
    take,
    take_while,
)
from pepperflow.testing import MakeOperator, check_stream, cold, to_marbles, virtual_time_backend
from tests.streams.test_streams_interop import Recorder

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return virtual_time_backend(str(request.param))


def _other(diagram: str) -> MakeOperator:
    """An operator merging with a cold source of ``diagram``."""
    return lambda tg: merge(cold(diagram, task_group=tg))


NUMBERS = {"1": 1, "2": 2, "5": 5}


def explode(value: Any) -> Any:
    """A user function that fails."""
    return 1 // 0


CASES: dict[str, tuple[MakeOperator, list[tuple[str, str]], dict[str, Any], bool]] = {
    "take(2)": (lambda tg: take(2), [("-a-b-c-d-|", "-a-(b|)"), ("-a|", "-a|")], {}, False),
    "take(0)": (lambda tg: take(0), [("-a-b-|", "|")], {}, False),
    "skip(2)": (lambda tg: skip(2), [("-a-b-c-d-|", "-----c-d-|")], {}, False),
    "take_while": (
        lambda tg: take_while(lambda x: x < 3),
        [("-1-2-5-1-|", "-1-2-|")],
        NUMBERS,
        False,
    ),
    "take_while inclusive": (
        lambda tg: take_while(lambda x: x < 3, inclusive=True),
        [("-1-2-5-1-|", "-1-2-(5|)")],
        NUMBERS,
        False,
    ),
    "distinct_until_changed": (
        lambda tg: distinct_until_changed(),
        [("-a-a-b-b-a-|", "-a---b---a-|")],
        {},
        False,
    ),
    "distinct_until_changed(key)": (
        lambda tg: distinct_until_changed(key=str.upper),
        [("-a-A-b-B-a-|", "-a---b---a-|")],
        {},
        False,
    ),
    # Other sources send at even ticks, the generic inputs at odd ones: no ties.
    "merge": (_other("--x---y-----|"), [("-a---b---|", "-ax--by-----|")], {}, True),
    "combine_latest": (
        lambda tg: combine_latest(cold("--x-y---z-|", task_group=tg)),
        [("-a-----b-----|", "--A-B--CD----|")],
        {"a": "a", "b": "b", "c": "c"}
        | {"A": ("a", "x"), "B": ("a", "y"), "C": ("b", "y"), "D": ("b", "z")},
        True,
    ),
    "flat_map": (
        lambda tg: flat_map(lambda v: cold(f"-{v}{v.upper()}|", task_group=tg)),
        [("-a-------b-------|", "--aA------bB-----|")],
        {},
        True,
    ),
    "group_by_key": (lambda tg: group_by_key(lambda v: v), [], {}, False),
}


@pytest.mark.parametrize("name", list(CASES))
async def test_operator_keeps_the_stream_rules_and_its_diagram(name: str) -> None:
    make, cases, values, decoupled = CASES[name]
    await check_stream(make, cases, values=values or None, decoupled=decoupled)


async def test_take_unsubscribes_its_source_and_take_0_never_subscribes() -> None:
    async with anyio.create_task_group() as tg:
        source = cold("-a-b-c-d-|", task_group=tg)
        assert await to_marbles(pipe(source, take(2))) == "-a-(b|)"
        assert source.playing == []
        unused = cold("-a-|", task_group=tg)
        assert await to_marbles(pipe(unused, take(0))) == "|"
        assert unused.subscriptions == 0


@pytest.mark.parametrize(
    "operator",
    [
        take_while(explode),
        distinct_until_changed(explode),
        group_by_key(explode),
        flat_map(explode),
    ],
    ids=["take_while", "distinct_until_changed", "group_by_key", "flat_map"],
)
async def test_an_exception_in_a_user_function_goes_to_athrow_and_unsubscribes(
    operator: Any,
) -> None:
    recorder = Recorder()
    async with anyio.create_task_group() as tg:
        source = cold("-a-b-|", task_group=tg)
        await pipe(source, operator).subscribe_async(recorder)
        await recorder.ended.wait()
        await anyio.sleep(1)
        assert source.playing == []
    assert recorder.values == []
    assert [type(e) for e in recorder.errors] == [ZeroDivisionError]


async def test_flat_map_refuses_a_mapper_result_that_is_not_an_observable() -> None:
    recorder = Recorder()
    async with anyio.create_task_group() as tg:
        await pipe(cold("-a-|", task_group=tg), flat_map(lambda v: [v])).subscribe_async(  # type: ignore[arg-type, return-value]
            recorder
        )
        await recorder.ended.wait()
    assert "must return an AsyncObservable" in str(recorder.errors[0])


async def test_merge_fails_at_the_first_error_and_unsubscribes_every_source() -> None:
    async with anyio.create_task_group() as tg:
        a = cold("-a-a-a-a-a-|", task_group=tg)
        b = cold("--#", task_group=tg)
        assert await to_marbles(pipe(a, merge(b))) == "-a#"
        assert a.playing == [] and b.playing == []


async def test_combine_latest_ends_when_a_source_ends_without_a_value() -> None:
    async with anyio.create_task_group() as tg:
        a = cold("-a-b-c-d-|", task_group=tg)
        b = cold("---|", task_group=tg)
        assert await to_marbles(pipe(a, combine_latest(b))) == "---|"
        assert a.playing == []


async def test_flat_map_waits_for_every_inner_observable_before_ending() -> None:
    async with anyio.create_task_group() as tg:
        inner = {"a": "---x-----|", "b": "--y|"}
        out = pipe(
            cold("-a-b|", task_group=tg), flat_map(lambda v: cold(inner[str(v)], task_group=tg))
        )
        assert await to_marbles(out) == "----xy----|"


async def test_group_by_key_sends_each_group_then_its_values() -> None:
    keys = {"a": 1, "b": 2, "c": 1}
    groups: dict[int, str] = {}
    async with anyio.create_task_group() as tg:
        start = anyio.current_time()
        recorders: dict[int, Recorder] = {}

        async def on_group(group: GroupedObservable[int, str]) -> None:
            recorders[group.key] = Recorder()
            await group.subscribe_async(recorders[group.key])

        source = cold("-a-b-c-|", task_group=tg)
        outer = Recorder()
        await pipe(source, group_by_key(lambda v: keys[str(v)])).subscribe_async(
            on_group, outer.athrow, outer.aclose
        )
        await anyio.sleep(10)
        assert outer.closed
        for key, recorder in recorders.items():
            assert recorder.closed
            groups[key] = "".join(recorder.values)
        assert anyio.current_time() - start == 10
    assert groups == {1: "ac", 2: "b"}


async def test_group_by_key_fails_every_group_with_the_source() -> None:
    async with anyio.create_task_group() as tg:
        recorders: list[Recorder] = []

        async def on_group(group: AsyncObservable[str]) -> None:
            recorders.append(Recorder())
            await group.subscribe_async(recorders[-1])

        outer = Recorder()
        await pipe(cold("-a-b-#", task_group=tg), group_by_key(lambda v: v)).subscribe_async(
            on_group, outer.athrow
        )
        await outer.ended.wait()
    assert len(recorders) == 2
    assert all(r.errors == outer.errors for r in recorders)


async def test_group_by_key_fails_every_open_group_when_the_key_function_raises() -> None:
    def key(value: str) -> str:
        if value == "c":
            raise ValueError("no key for c")
        return value

    async with anyio.create_task_group() as tg:
        recorders: list[Recorder] = []

        async def on_group(group: AsyncObservable[str]) -> None:
            recorders.append(Recorder())
            await group.subscribe_async(recorders[-1])

        outer = Recorder()
        await pipe(cold("-a-b-c-d-|", task_group=tg), group_by_key(key)).subscribe_async(
            on_group, outer.athrow
        )
        with anyio.fail_after(100):
            await outer.ended.wait()
            for recorder in recorders:
                await recorder.ended.wait()
    assert [r.values for r in recorders] == [["a"], ["b"]]
    assert [str(e) for e in outer.errors] == ["no key for c"]
    assert all(r.errors == outer.errors for r in recorders)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: take(-1), ValueError, r"take\(count\): count must be an int >= 0"),
        (lambda: take(1.5), ValueError, "got 1.5"),  # type: ignore[arg-type]
        (lambda: skip(True), ValueError, r"skip\(count\)"),
        (lambda: take_while(3), TypeError, "predicate must be callable"),  # type: ignore[arg-type]
        (lambda: distinct_until_changed(3), TypeError, "key must be callable"),  # type: ignore[arg-type]
        (lambda: merge(3), TypeError, "merge: every source must be"),  # type: ignore[arg-type]
        (lambda: combine_latest("x"), TypeError, "combine_latest: every source"),  # type: ignore[arg-type]
        (lambda: flat_map(None), TypeError, "mapper must be callable"),  # type: ignore[arg-type]
        (lambda: group_by_key(3), TypeError, "key must be callable"),  # type: ignore[arg-type]
    ],
)
async def test_bad_arguments_are_refused_with_a_clear_error(
    make: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        make()


async def test_operators_take_any_observer_form() -> None:
    """subscribe_async takes an observer or send/throw/close coroutine functions."""
    got: list[str] = []

    async def send(value: str) -> None:
        got.append(value)

    async with anyio.create_task_group() as tg:
        sub = await pipe(cold("-a-b-|", task_group=tg), skip(1)).subscribe_async(send)
        await anyio.sleep(10)
        await sub.dispose_async()
    assert got == ["b"]
    with pytest.raises(TypeError, match="coroutine function"):
        await pipe(cold("-a-|", task_group=tg), skip(1)).subscribe_async(got.append)  # type: ignore[arg-type]


async def test_a_pipeline_is_typed() -> None:
    def under_5(x: int) -> bool:
        return x < 5

    async with anyio.create_task_group() as tg:
        source: AsyncObservable[int] = cold("-1-2-5-|", NUMBERS, task_group=tg)
        numbers: AsyncObservable[int] = pipe(source, take_while(under_5), skip(1))
        assert await to_marbles(numbers, NUMBERS) == "---2-|"


async def test_an_observer_feeding_another_merged_source_is_queued_not_deadlocked() -> None:
    a: Subject[str] = Subject()
    b: Subject[str] = Subject()
    seen: list[str] = []

    async def observer(value: str) -> None:
        seen.append(value)
        if value == "a1":
            await b.asend("b1")  # re-enters merge while it delivers a1
            seen.append("sent b1")

    await pipe(a, merge(b)).subscribe_async(observer)
    with anyio.fail_after(1):
        await a.asend("a1")
        await a.asend("a2")
    assert seen == ["a1", "sent b1", "b1", "a2"]


async def test_disposing_unsubscribes_every_source_and_inner_observable() -> None:
    async with anyio.create_task_group() as tg:
        inners = []

        def endless(value: str) -> AsyncObservable[str]:
            inners.append(cold("-x" * 100, task_group=tg))
            return inners[-1]

        other = cold("--y" * 100, task_group=tg)
        outer = cold("-a-b" + "-" * 100 + "|", task_group=tg)
        sub = await pipe(outer, flat_map(endless), merge(other)).subscribe_async(Recorder())
        await anyio.sleep(10)
        assert len(inners) == 2
        await sub.dispose_async()
        assert outer.playing == [] and other.playing == []
        assert all(inner.playing == [] for inner in inners)
