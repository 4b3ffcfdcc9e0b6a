"""What a user sees in an HTML table: read back with ``html.parser``.

``tables(markup)`` gives each ``<table>`` as a :class:`Table`: its caption,
its header row and its body rows, each cell's text as a browser shows it
(entities decoded). A value that would be markup (``<b>``) is text here only
if it was escaped.
"""

from __future__ import annotations

from html.parser import HTMLParser

__all__ = ["Table", "elements", "tables"]


class Table:
    """One table: ``caption``, ``header`` (column names) and ``rows`` (cell texts)."""

    def __init__(self) -> None:
        self.caption = ""
        self.header: list[str] = []
        self.rows: list[list[str]] = []

    def fields(self) -> dict[str, str]:
        """A two-column (field, value) table as a dict."""
        assert self.header == ["field", "value"], self.header
        return {row[0]: row[1] for row in self.rows}

    def records(self) -> list[dict[str, str]]:
        """Each row by column name."""
        return [dict(zip(self.header, row, strict=True)) for row in self.rows]


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[Table] = []
        self.tags: list[str] = []  # every element opened inside a table
        self.text: list[str] | None = None
        self.row: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "table":
            self.tables.append(Table())
        elif tag in ("th", "td", "caption"):
            self.text = []
        elif tag == "tr":
            self.row = []

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if not self.tables:
            return
        table = self.tables[-1]
        text = "".join(self.text or [])
        if tag == "caption":
            table.caption = text
        elif tag == "th":
            table.header.append(text)
        elif tag == "td":
            self.row.append(text)
        elif tag == "tr" and self.row:
            table.rows.append(self.row)
        if tag in ("th", "td", "caption"):
            self.text = None


def tables(markup: str) -> list[Table]:
    """Every table of ``markup``, in order."""
    reader = _Reader()
    reader.feed(markup)
    reader.close()
    return reader.tables


def elements(markup: str) -> set[str]:
    """The names of every element in ``markup`` (no ``script`` means none ran)."""
    reader = _Reader()
    reader.feed(markup)
    reader.close()
    return set(reader.tags)
