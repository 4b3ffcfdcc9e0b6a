"""``await capture(streams, duration=...)``: what change streams sent, drawn as marbles.

Operators are easier seen than read. :func:`capture` subscribes to one or
more observables (a store's ``changes()``, what an operator makes of
them), records every value, error and completion with its time for a
span, and returns a :class:`Timeline`: in a notebook an SVG marble diagram
(``_repr_svg_``), one lane per stream (or per key, ``by_key=True``), a
marble per value, a bar where a stream completed and a cross where it
failed; as text, one marble line per lane (``repr``)::

    timeline = await capture(
        {"changes": store.changes("temp"), "debounced": pipe(store.changes("temp"), debounce(0.1))},
        duration=1.0,
        run=write_some_temperatures,
    )
    timeline  # in Jupyter: the diagram

A marble is labelled with the value, shortened (a change: its value; a
delete ``del``; an expiry ``exp``); its tooltip has the whole value and its
time. Every text is escaped, so values show as written.
"""

from __future__ import annotations

import contextlib
import html
import zlib
from collections.abc import Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any

import anyio
from aioreactive import AsyncObservable

from .._durations import seconds
from .._html import shorten
from ._marbles import Kind, Recorder, render_marbles
from .events import DeleteChange, ExpireChange, SetChange

__all__ = ["Timeline", "capture"]

#: ``(seconds since the capture started, kind, value)``.
Mark = tuple[float, Kind, Any]

#: The marbles' colours, one per distinct label (by its hash).
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#ff9da7")
WIDTH, NAMES, LANE, PAD = 760, 150, 44, 16
#: The characters a marble's label shows.
LABEL = 5
#: The ticks of a lane's text diagram.
TICKS = 40


def tooltip(value: object) -> str:
    """What a marble's tooltip says: a change's kind, key and version, then the value."""
    if isinstance(value, SetChange | DeleteChange | ExpireChange):
        head = f"{type(value).__struct_config__.tag} {value.key!r} v{value.version}"
        return head if not isinstance(value, SetChange) else f"{head}: {value.value!r}"
    return repr(value)


def label(value: object) -> str:
    """What a marble says for ``value``: a change's value, ``del``, ``exp``, or the value."""
    if isinstance(value, SetChange):
        value = value.value
    elif isinstance(value, DeleteChange):
        return "del"
    elif isinstance(value, ExpireChange):
        return "exp"
    return value if isinstance(value, str) else repr(value)


class Timeline:
    """What each lane received, in seconds from the capture's start (see the module).

    ``lanes`` maps each lane's name to its ``(at, kind, value)`` marks
    (``kind``: ``"next"``, ``"error"`` or ``"close"``); ``duration`` is the
    span drawn, in seconds.
    """

    def __init__(self, lanes: Mapping[str, list[Mark]], duration: float) -> None:
        self.lanes = dict(lanes)
        self.duration = duration

    def marbles(self, ticks: int = TICKS) -> dict[str, str]:
        """Each lane as a text marble diagram of ``ticks`` ticks over the span."""
        tick = (self.duration or 1.0) / ticks
        lines = {}
        for name, marks in self.lanes.items():
            events = [
                (min(round(at / tick), ticks), kind, label(value)) for at, kind, value in marks
            ]
            drawn = {text if len(text) == 1 else f"{{{text}}}": text for _, _, text in events}
            lines[name] = render_marbles(events, drawn)
        return lines

    def __repr__(self) -> str:
        width = max((len(name) for name in self.lanes), default=0)
        lines = [f"<Timeline of {self.duration:g} s>"]
        lines += [f"  {name:<{width}}  {line}" for name, line in self.marbles().items()]
        return "\n".join(lines)

    def _x(self, at: float) -> float:
        span = self.duration or 1.0
        return NAMES + (WIDTH - NAMES - 2 * PAD) * min(at, span) / span

    def _repr_svg_(self) -> str:
        return self.svg()

    def svg(self) -> str:
        """The marble diagram as an SVG document (``_repr_svg_``)."""
        height = LANE * len(self.lanes) + 2 * PAD + 16
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}"'
            f' viewBox="0 0 {WIDTH} {height}" font-family="monospace" font-size="11">'
        ]
        for i, (name, marks) in enumerate(self.lanes.items()):
            parts.append(self._lane(name, marks, PAD + LANE * i + LANE / 2))
        axis = height - PAD
        parts.append(
            f'<g class="axis"><text x="{NAMES}" y="{axis}">0 s</text>'
            f'<text x="{WIDTH - PAD}" y="{axis}" text-anchor="end">{self.duration:g} s</text></g>'
        )
        parts.append("</svg>")
        return "".join(parts)

    def _lane(self, name: str, marks: list[Mark], y: float) -> str:
        out = [
            f'<g class="lane" data-name="{html.escape(name)}">',
            f'<text x="{PAD}" y="{y + 4:.1f}">{html.escape(shorten(name, 20))}</text>',
            f'<line x1="{NAMES}" y1="{y:.1f}" x2="{WIDTH - PAD}" y2="{y:.1f}" stroke="#999"/>',
        ]
        for at, kind, value in marks:
            out.append(_mark(self._x(at), y, at, kind, value))
        out.append("</g>")
        return "".join(out)


def _mark(x: float, y: float, at: float, kind: Kind, value: Any) -> str:
    if kind == "close":
        return (
            f'<line class="complete" x1="{x:.1f}" y1="{y - 12:.1f}" x2="{x:.1f}" y2="{y + 12:.1f}"'
            f' stroke="#333" stroke-width="3"><title>completed at {at:.3f} s</title></line>'
        )
    if kind == "error":
        tip = html.escape(f"{type(value).__name__}: {value} at {at:.3f} s")
        return (
            f'<g class="error" stroke="#c00" stroke-width="3"><title>{tip}</title>'
            f'<line x1="{x - 8:.1f}" y1="{y - 8:.1f}" x2="{x + 8:.1f}" y2="{y + 8:.1f}"/>'
            f'<line x1="{x - 8:.1f}" y1="{y + 8:.1f}" x2="{x + 8:.1f}" y2="{y - 8:.1f}"/></g>'
        )
    text = shorten(label(value), LABEL)
    # A label of more than 3 characters is squeezed to the marble's width.
    fit = ' textLength="20" lengthAdjust="spacingAndGlyphs"' if len(text) > 3 else ""
    colour = PALETTE[zlib.crc32(text.encode()) % len(PALETTE)]
    tip = html.escape(f"{shorten(tooltip(value), 200)} at {at:.3f} s")
    return (
        f'<g class="marble"><title>{tip}</title>'
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="12" fill="{colour}" stroke="#333"/>'
        f'<text x="{x:.1f}" y="{y + 3:.1f}" text-anchor="middle" fill="#fff" font-size="8"{fit}>'
        f"{html.escape(text)}</text></g>"
    )


def _lanes(recorded: Mapping[str, list[Mark]], by_key: bool) -> dict[str, list[Mark]]:
    """One lane per stream, or (``by_key``) per key of the changes each sent."""
    if not by_key:
        return dict(recorded)
    lanes: dict[str, list[Mark]] = {}
    for stream, marks in recorded.items():
        mine: dict[str, list[Mark]] = {}
        for mark in marks:
            key = getattr(mark[2], "key", None) if mark[1] == "next" else None
            if isinstance(key, str):
                name = key if len(recorded) == 1 else f"{stream} {key}"
                mine.setdefault(name, []).append(mark)
            else:  # an end, or a value with no key: on every lane of the stream
                for lane in mine.values() or [mine.setdefault(stream, [])]:
                    lane.append(mark)
        lanes.update(mine or {stream: []})
    return lanes


async def capture(
    streams: AsyncObservable[Any] | Mapping[str, AsyncObservable[Any]],
    *,
    duration: float | timedelta,
    run: Callable[[], Coroutine[Any, Any, object]] | None = None,
    by_key: bool = False,
) -> Timeline:
    """Record what ``streams`` send for ``duration``; return the :class:`Timeline`.

    ``streams`` is one observable (its lane is ``"stream"``) or a mapping
    of lane names to observables. All are subscribed first; then ``run()``,
    if given, is started (the code that writes what the streams show). The
    capture ends when ``duration`` has passed, or sooner once every stream
    ended and ``run()`` returned; ``run()`` still running then is
    cancelled. Every subscription is disposed of before this returns.
    With ``by_key=True`` each key of the changes a stream sends gets a lane.

    Raises:
        InvalidDuration: ``duration`` is not a positive number of seconds
            or a timedelta.
        TypeError: a stream is not an ``AsyncObservable``.
        ValueError: ``streams`` is an empty mapping.
    """
    span = seconds(duration, "capture()'s duration")
    named = {"stream": streams} if isinstance(streams, AsyncObservable) else dict(streams)
    if not named:
        raise ValueError("capture() needs at least one stream (a mapping of name to observable)")
    for name, stream in named.items():
        if not isinstance(stream, AsyncObservable):
            raise TypeError(
                f"capture(): stream {name!r} is a {type(stream).__name__}, not an observable;"
                " pass store.changes(...) or an operator's result"
            )
    start = anyio.current_time()
    recorders = {name: Recorder(start) for name in named}
    async with contextlib.AsyncExitStack() as subscriptions:
        for name, stream in named.items():
            subscription = await stream.subscribe_async(recorders[name])
            subscriptions.push_async_callback(subscription.dispose_async)
        with anyio.move_on_after(span - (anyio.current_time() - start)):
            async with anyio.create_task_group() as group:
                if run is not None:
                    group.start_soon(run)
                for recorder in recorders.values():
                    await recorder.ended.wait()
    elapsed = min(span, anyio.current_time() - start)
    recorded = {name: recorder.events for name, recorder in recorders.items()}
    return Timeline(_lanes(recorded, by_key), elapsed)
