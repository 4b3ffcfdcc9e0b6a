"""How pepperflow's objects look in a notebook: HTML tables and short texts.

The one place that turns a record into what a user reads. Jupyter calls an
object's ``_repr_html_`` to show it; pepperflow's records (entries,
snapshots, statistics, change events, metric samples, storage results)
point theirs at :func:`record_html`, a two-column table of their fields,
and what holds many records (a snapshot, a metrics registry,
:class:`pepperflow.jupyter.Table`) shows one row per record
(:func:`rows_html`). No widget framework and no script: plain tables.

What a cell shows (:func:`cell`):

* a value or an item's data (fields ``value`` and ``data``): its ``repr``,
  so ``1`` and ``'1'`` differ;
* a time in seconds since the epoch (a float field named ``*_at``) or a
  ``datetime``: the UTC time, to the millisecond;
* another str: as it is; anything else: its ``repr``;
* ``None`` (but as a value): an empty cell. A text longer than :data:`WIDTH` is cut with ``…``.

A nested record (a storage result's item and its metadata) is flattened
into the row, its fields beside the outer ones. Every text goes through
``html.escape``, so a value or key holding ``<script>`` is shown, never
run; a store's URL is shown redacted (:func:`~pepperflow._redact.redacted`)
by what builds its row.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import msgspec

__all__ = [
    "WIDTH",
    "cell",
    "count",
    "fields_html",
    "moment",
    "record_html",
    "row",
    "rows_html",
    "shorten",
    "table",
    "values_html",
]

#: The most characters a cell shows.
WIDTH = 80

#: Fields whose value is the user's data: always shown as its ``repr``.
_DATA = frozenset({"value", "data"})

_STYLE = "border-collapse:collapse;font-family:monospace;font-size:12px"
_CELL = "border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top"


def shorten(text: str, width: int = WIDTH) -> str:
    """``text``, cut to ``width`` characters with ``…`` when longer."""
    return text if len(text) <= width else text[: width - 1] + "…"


def count(number: int | str, noun: str) -> str:
    """``"1 key"``, ``"2 keys"``: a number and its noun (plural with an ``s``)."""
    return f"{number} {noun}" if str(number) == "1" else f"{number} {noun}s"


def moment(at: float | datetime | None) -> str:
    """A time (seconds since the epoch, or a datetime) as UTC text; ``""`` for None."""
    if at is None:
        return ""
    when = at if isinstance(at, datetime) else datetime.fromtimestamp(at, UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def cell(name: str, value: object) -> str:
    """What the cell of field ``name`` shows for ``value`` (unescaped text)."""
    if name in _DATA:
        return shorten(repr(value))
    if value is None:
        return ""
    if isinstance(value, datetime) or (name.endswith("_at") and type(value) is float):
        return moment(value)
    if isinstance(value, str):
        return shorten(value)
    return shorten(repr(value))


def row(record: object) -> dict[str, str]:
    """The cells of ``record``, by column: a Struct's fields (a change's
    ``kind`` first), nested records flattened; anything else, one ``value``."""
    if not isinstance(record, msgspec.Struct):
        return {"value": cell("value", record)}
    out: dict[str, str] = {}
    tag = record.__struct_config__.tag
    if isinstance(tag, str):
        out["kind"] = tag
    for name in record.__struct_fields__:
        value = getattr(record, name)
        if isinstance(value, msgspec.Struct):
            out.update(row(value))
        else:
            out[name] = cell(name, value)
    return out


def table(caption: str, header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """An HTML table: ``caption`` above, the ``header`` row, then ``rows``; all escaped."""
    head = "".join(f'<th style="{_CELL}">{html.escape(name)}</th>' for name in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td style="{_CELL}">{html.escape(text)}</td>' for text in cells)
        + "</tr>"
        for cells in rows
    )
    return (
        f'<table class="pepperflow" style="{_STYLE}">'
        f'<caption style="text-align:left;font-weight:bold">{html.escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def fields_html(caption: str, fields: Mapping[str, str]) -> str:
    """A two-column table (field, value) of ``fields``."""
    return table(caption, ("field", "value"), fields.items())


def values_html(caption: str, values: Mapping[str, object]) -> str:
    """A two-column table of ``values`` by field name, each shown as :func:`cell` says."""
    return fields_html(caption, {name: cell(name, value) for name, value in values.items()})


def record_html(record: msgspec.Struct) -> str:
    """A record's ``_repr_html_``: its type's name above its fields, one per row."""
    return fields_html(type(record).__name__, row(record))


def rows_html(caption: str, records: Iterable[Any], *, drop: Iterable[str] = ()) -> str:
    """One row per record, one column per field any of them has.

    A column empty in every row is left out, and so are those in ``drop``.
    """
    rows = [row(record) for record in records]
    dropped = set(drop)
    columns = list(dict.fromkeys(name for cells in rows for name in cells))
    columns = [
        name for name in columns if name not in dropped and any(cells.get(name) for cells in rows)
    ]
    return table(caption, columns, ([cells.get(name, "") for name in columns] for cells in rows))
