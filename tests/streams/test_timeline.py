"""``capture(...)`` and ``Timeline``: change streams over a span, drawn as marbles.

On virtual time (ticks take no real time and land exactly), so every mark's
time is known. The SVG is parsed with ``xml.etree`` and read as a user
sees it: one lane per stream (or per key), a marble with its label per
value, a bar where a stream completed, a cross where it failed; the text
repr is one marble line per lane.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any

import anyio
import pytest

from pepperflow import InvalidDuration
from pepperflow.stores import MemoryStore
from pepperflow.streams import (
    DeleteChange,
    ExpireChange,
    SetChange,
    Timeline,
    capture,
    debounce,
    pipe,
    take,
)
from pepperflow.testing import cold, virtual_time_backend

pytestmark = pytest.mark.anyio

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any]]:
    return virtual_time_backend(str(request.param))


class Lane:
    """One lane of the drawing: its name, its marbles' labels and tooltips, its ends."""

    def __init__(self, group: ET.Element) -> None:
        self.name = group.attrib["data-name"]
        self.title = "".join(group.find(f"{SVG}text").itertext())  # type: ignore[union-attr]
        marbles = group.findall(f"{SVG}g[@class='marble']")
        self.labels = ["".join(m.find(f"{SVG}text").itertext()) for m in marbles]  # type: ignore[union-attr]
        self.tips = ["".join(m.find(f"{SVG}title").itertext()) for m in marbles]  # type: ignore[union-attr]
        self.x = [float(m.find(f"{SVG}circle").attrib["cx"]) for m in marbles]  # type: ignore[union-attr]
        self.completed = len(group.findall(f"{SVG}line[@class='complete']"))
        self.errors = ["".join(g.itertext()) for g in group.findall(f"{SVG}g[@class='error']")]


def lanes(timeline: Timeline) -> list[Lane]:
    """The lanes of the timeline's SVG, top to bottom."""
    root = ET.fromstring(timeline._repr_svg_())
    assert root.tag == f"{SVG}svg"
    return [Lane(group) for group in root.findall(f"{SVG}g[@class='lane']")]


async def test_a_stream_and_an_operator_on_it_get_a_lane_each() -> None:
    async with anyio.create_task_group() as tg:
        source = cold("-a-b-c-|", task_group=tg, tick=0.1)
        timeline = await capture(
            {"source": source, "first two": pipe(source, take(2))}, duration=1.0
        )
    drawn = lanes(timeline)
    assert [lane.name for lane in drawn] == ["source", "first two"]
    assert drawn[0].labels == ["a", "b", "c"] and drawn[0].completed == 1
    assert drawn[1].labels == ["a", "b"] and drawn[1].completed == 1
    assert drawn[0].x == sorted(drawn[0].x)  # left to right in time
    assert drawn[0].tips == ["'a' at 0.100 s", "'b' at 0.300 s", "'c' at 0.500 s"]
    assert timeline.duration == pytest.approx(0.7)  # both ended: the capture stopped
    at, kind, _ = timeline.lanes["first two"][-1]
    assert kind == "close" and at == pytest.approx(0.3)
    assert repr(timeline).splitlines() == [
        "<Timeline of 0.7 s>",
        "  source     ------a----------b-----------c----------|",
        "  first two  ------a----------(b|)",
    ]


async def test_an_error_is_drawn_as_a_cross_with_its_message() -> None:
    async with anyio.create_task_group() as tg:
        failing = cold("-a#", task_group=tg, error=ValueError("bad <input>"), tick=0.5)
        timeline = await capture(failing, duration=5)
    (lane,) = lanes(timeline)
    assert lane.name == "stream" and lane.labels == ["a"]
    assert lane.errors == ["ValueError: bad <input> at 1.000 s"]
    assert lane.completed == 0


async def test_a_stream_that_never_ends_is_drawn_over_the_whole_span() -> None:
    async with anyio.create_task_group() as tg:
        endless = cold("-a-b-c-d-e-f-g-h", task_group=tg, tick=1.0)
        timeline = await capture({"endless": endless}, duration=4.5)
    assert timeline.duration == 4.5
    (lane,) = lanes(timeline)
    assert lane.labels == ["a", "b"] and lane.completed == 0


async def test_store_changes_while_run_writes_with_one_lane_per_key() -> None:
    async with MemoryStore("sensors") as store, anyio.create_task_group() as tg:

        async def write() -> None:
            for value in (20, 21, 22):
                await store.set("temp", value)
                await anyio.sleep(0.05)
            await store.set("door", "open")
            await store.delete("temp")
            await anyio.sleep(1)  # still writing when the span ends: cancelled

        timeline = await capture(
            {
                "changes": store.changes(),
                "settled": pipe(store.changes("temp"), debounce(0.1, task_group=tg)),
            },
            duration=0.5,
            run=write,
            by_key=True,
        )
    drawn = {lane.name: lane for lane in lanes(timeline)}
    assert list(drawn) == ["changes temp", "changes door", "settled temp"]
    assert drawn["changes temp"].labels == ["20", "21", "22", "del"]
    assert drawn["changes door"].labels == ["open"]
    assert drawn["changes door"].tips[0] == "set 'door' v1: 'open' at 0.150 s"
    assert drawn["settled temp"].labels == ["del"]
    assert timeline.duration == 0.5


def test_a_timeline_made_by_hand_labels_each_kind_of_change() -> None:
    def change(kind: type[Any], **fields: Any) -> Any:
        return kind(store="s", key="k", version=1, seq=1, committed_at=0.0, **fields)

    marks: list[Any] = [
        (0.1, "next", change(SetChange, value=[1, 2, 3], created_at=0.0)),
        (0.2, "next", change(DeleteChange)),
        (0.3, "next", change(ExpireChange)),
        (0.4, "next", "<svg>"),
        (1.5, "close", None),  # past the span: drawn at its end
    ]
    (lane,) = lanes(Timeline({"by hand": marks}, 1.0))
    assert lane.labels == ["[1, …", "del", "exp", "<svg>"]  # escaped: text, not an element
    assert lane.tips[:3] == [
        "set 'k' v1: [1, 2, 3] at 0.100 s",
        "delete 'k' v1 at 0.200 s",
        "expire 'k' v1 at 0.300 s",
    ]
    assert lane.completed == 1


async def test_a_stream_that_ends_at_once_is_drawn_with_its_end_only() -> None:
    async with anyio.create_task_group() as tg:
        timeline = await capture(cold("|", task_group=tg), duration=1)
    assert timeline.duration == 0
    (lane,) = lanes(timeline)
    assert (lane.labels, lane.completed) == ([], 1)
    assert repr(timeline).splitlines() == ["<Timeline of 0 s>", "  stream  |"]


async def test_capture_refuses_bad_input() -> None:
    async with anyio.create_task_group() as tg:
        source = cold("-a|", task_group=tg)
        with pytest.raises(InvalidDuration, match="capture\\(\\)'s duration"):
            await capture(source, duration=0)
        with pytest.raises(TypeError, match="stream 'oops' is a list, not an observable"):
            await capture({"oops": [1, 2]}, duration=1)  # type: ignore[dict-item]
        with pytest.raises(ValueError, match="at least one stream"):
            await capture({}, duration=1)
