"""The notebook tables: :class:`Table` of any records, :class:`LiveTable` of a store."""

from __future__ import annotations

import contextvars
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, Self

import anyio

from .._html import count, rows_html, shorten
from .._lifecycle import spawn_detached
from ..stores._records import Entry
from ..streams.events import Change, SetChange, apply

if TYPE_CHECKING:
    from ..stores.feed import ChangeFeed

__all__ = ["Followed", "LiveTable", "Table"]


class Followed(Protocol):
    """What a live table follows: a store (every
    :class:`~pepperflow.stores.Store` is one), by its change feed."""

    def changes(self, *args: Any, **kwargs: Any) -> ChangeFeed:
        """The store's change feed (see :meth:`pepperflow.stores.Store.changes`)."""
        ...


#: The most changes a live table's feed holds between two redraws (the
#: newest per key; past it, writers wait for the table).
FEED_BUFFER = 10_000


class Table:
    """``records`` as one HTML table in a notebook: a row each, a column per field.

    Fields that are records themselves are flattened (a storage result's
    item and metadata); columns empty in every row are left out.
    """

    def __init__(self, records: Iterable[Any], *, title: str = "") -> None:
        self.records = list(records)
        self.title = title or f"{len(self.records)} rows"

    def _repr_html_(self) -> str:
        return rows_html(self.title, self.records)

    def __repr__(self) -> str:
        return f"<Table {self.title!r}: {len(self.records)} rows>"


class LiveTable:
    """A store's keys matching a pattern, kept current (``await store.display(pattern)``).

    A task of its own (detached from the caller's, so it outlives a
    notebook cell) follows ``store.changes(pattern, replay=True,
    overflow="latest_per_key")``: it starts from the current state, folds
    every change in, and redraws every place the table is shown, at most
    every ``refresh`` seconds. It stops when the store closes, on
    :meth:`stop` or :meth:`aclose`, or when the event loop's run ends; a stopped table keeps
    its last state and says it stopped. Its rows are the first ``limit``
    keys in key order.
    """

    def __init__(self, store: Followed, pattern: str | None, *, limit: int, refresh: float):
        if type(limit) is not int or limit < 1:
            raise ValueError(f"limit must be a positive int (rows shown), got {limit!r}")
        if type(refresh) not in (int, float) or not 0 <= refresh < math.inf:
            raise ValueError(f"refresh must be seconds >= 0 between redraws, got {refresh!r}")
        self.store = store
        self.pattern = pattern
        self.limit = limit
        self.refresh = float(refresh)
        #: The changes folded in so far (the replay's included).
        self.changes = 0
        #: Why the table stopped following, when it failed.
        self.error: Exception | None = None
        self._state: dict[str, SetChange[Any, Any]] = {}
        self._scope = anyio.CancelScope()
        self._ready = anyio.Event()
        self._done = anyio.Event()
        self._running = False
        self._handles: list[Any] = []

    @classmethod
    async def start(
        cls, store: Followed, pattern: str | None, *, limit: int, refresh: float
    ) -> Self:
        """Start following ``store``; return once the current state is in.

        Raises:
            anyio.ClosedResourceError: the store is closed.
            InvalidPattern: ``pattern`` is not a valid pattern.
        """
        table = cls(store, pattern, limit=limit, refresh=refresh)
        spawn_detached(table._follow, f"pepperflow live table of {store!r}")
        try:
            await table._ready.wait()
        except BaseException:  # cancelled: nobody will get the table to stop it
            table.stop()
            raise
        if table.error is not None:
            raise table.error
        return table

    @property
    def running(self) -> bool:
        """Whether the table still follows the store."""
        return self._running

    def entries(self) -> list[Entry[Any]]:
        """The rows: the first ``limit`` live entries, in key order."""
        keys = sorted(self._state)[: self.limit]
        return [Entry.from_change(self._state[key]) for key in keys]

    def stop(self) -> None:
        """Stop following the store, without waiting (harmless when stopped).

        The table keeps its rows; its last redraw says it stopped.
        """
        self._scope.cancel()

    async def aclose(self) -> None:
        """Stop following the store and wait until the table stopped and was redrawn."""
        self.stop()
        await self._done.wait()

    async def _follow(self) -> None:
        try:
            with self._scope:
                feed = self.store.changes(
                    self.pattern, replay=True, buffer=FEED_BUFFER, overflow="latest_per_key"
                )
                async with feed:
                    self._running = True
                    self._take(feed)
                    self._ready.set()
                    async for change in feed:
                        self._fold(change)
                        self._take(feed)
                        self._redraw()
                        await anyio.sleep(self.refresh)
        except Exception as exc:  # shown in the caption; display() raises it if at the start
            self.error = exc
        finally:
            self._running = False
            self._ready.set()
            self._redraw()
            self._done.set()

    def _take(self, feed: ChangeFeed) -> None:
        for change in feed.take(FEED_BUFFER):
            self._fold(change)

    def _fold(self, change: Change) -> None:
        apply(self._state, change)
        self.changes += 1

    def _caption(self) -> str:
        keys = len(self._state)
        shown = f", the first {self.limit} shown" if keys > self.limit else ""
        if self.error is not None:
            state = f"stopped: {type(self.error).__name__}: {self.error}"
        else:
            state = "live" if self._running else "stopped"
        pattern = "every key" if self.pattern is None else f"keys {self.pattern!r}"
        changes = count(self.changes, "change")
        return f"{self.store!r}, {pattern}: {count(keys, 'key')}{shown}, {changes}, {state}"

    def _repr_html_(self) -> str:
        return rows_html(self._caption(), self.entries(), drop=("created_at",))

    def __repr__(self) -> str:
        lines = [f"<LiveTable {self._caption()}>"]
        lines += [f"  {entry.key}: {shorten(repr(entry.value))}" for entry in self.entries()]
        return "\n".join(lines)

    # -- IPython ---------------------------------------------------------------

    def _bundle(self) -> dict[str, str]:
        return {"text/html": self._repr_html_(), "text/plain": repr(self)}

    def _ipython_display_(self) -> None:
        """Show the table where IPython shows output, and keep it redrawn there."""
        from IPython.display import display

        handle = display(self._bundle(), raw=True, display_id=True)  # type: ignore[no-untyped-call]
        if handle is not None:  # None: no IPython shell runs (display printed the text)
            self._handles.append(handle)

    def _redraw(self) -> None:
        """Update every place the table is shown.

        Run in an empty context, as a thread's output is: a kernel then
        sends the update as output of the cell running now (not of the cell
        that showed the table, which has ended), and a notebook applies it
        to every output of the table's display id.
        """
        if self._handles:
            bundle = self._bundle()
            for handle in self._handles:
                contextvars.Context().run(handle.update, bundle, raw=True)
