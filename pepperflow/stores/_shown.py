"""How a store shows itself: its repr, its notebook table, its live table.

Every :class:`~pepperflow.stores.Store` has these (this mixin):

* ``repr(store)``: ``<MemoryStore 'default'>`` (a SqliteStore's names its
  file too), the short name error messages and logs embed;
* in IPython and Jupyter, its text (``_repr_pretty_``) and its table
  (``_repr_html_``): name, backend, location (a Redis URL redacted,
  :func:`~pepperflow._redact.redacted`), keys, state, seq, feeds;
* ``await store.display(pattern)``: a :class:`~pepperflow.jupyter.LiveTable`
  of the keys matching ``pattern``, redrawn as changes arrive.

The figures are the store's :meth:`~pepperflow.stores.Store.statistics`, so
showing a store never does I/O and works after it closed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from .._html import count, fields_html
from ._records import StoreStatistics

if TYPE_CHECKING:
    from ..jupyter import LiveTable
    from ..jupyter._tables import Followed

__all__ = ["Shown", "store_fields"]


def _state(store: Shown) -> str:
    figures = store.statistics()
    if figures.closed:
        return "closed"
    return "running" if figures.running else "not running"


def store_fields(store: Shown) -> dict[str, str]:
    """What a store's table shows, by row."""
    figures = store.statistics()
    return {
        "name": store.name,
        "backend": figures.backend,
        "location": store.location,
        "state": _state(store),
        "keys": str(figures.keys),
        "keys with a ttl": str(figures.ttl_keys),
        "seq": str(figures.seq),
        "subscriptions": str(figures.subscriptions),
        "feeds": str(figures.feeds),
    }


class Shown:
    """The store's repr, notebook table and live table (see the module docstring)."""

    __slots__ = ()

    name: str

    def statistics(self) -> StoreStatistics:
        """The store's figures (every :class:`~pepperflow.stores.Store` has them)."""
        raise NotImplementedError

    @property
    def location(self) -> str:
        """Where the data lives, safe to print: ``"in process"``, a SQLite
        file's path, a Redis URL with its password hidden."""
        path = getattr(self, "path", None)
        return "in process" if path is None else str(path)

    def __repr__(self) -> str:
        path = getattr(self, "path", None)
        name = repr(self.name) if path is None else f"{path!r} namespace={self.name!r}"
        return f"<{type(self).__name__} {name}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        figures = store_fields(self)
        printer.text(
            f"{type(self).__name__} {self.name!r} ({figures['backend']}, {figures['location']}):"
            f" {count(figures['keys'], 'key')}, seq {figures['seq']}, {figures['state']}"
        )

    def _repr_html_(self) -> str:
        return fields_html(f"{type(self).__name__} {self.name!r}", store_fields(self))

    async def display(
        self, pattern: str | None = None, *, limit: int = 50, refresh: float = 0.25
    ) -> LiveTable:
        """A table of the keys matching ``pattern``, kept current as changes arrive.

        Shown in a notebook when it is a cell's result (or given to
        IPython's ``display``); it follows the store's changes in a task of
        its own, redrawn at most every ``refresh`` seconds, showing the
        first ``limit`` keys in key order, until the store closes or
        ``live.stop()``. Returns once the table holds the current state.
        See :class:`~pepperflow.jupyter.LiveTable`.

        Raises:
            anyio.ClosedResourceError: the store is closed.
            InvalidPattern: ``pattern`` is not a valid pattern.
            ValueError: ``limit`` is not a positive int, or ``refresh`` not
                a number of seconds >= 0.
        """
        from ..jupyter import LiveTable

        return await LiveTable.start(cast("Followed", self), pattern, limit=limit, refresh=refresh)
