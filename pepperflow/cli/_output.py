"""What the ``pepperflow`` command prints: Rich on a terminal, plain lines in a pipe.

One decision, made once per command by :class:`Output`: when stdout is a
terminal (Rich's ``Console.is_terminal``, which also honours
``FORCE_COLOR`` and ``TTY_COMPATIBLE``) and the user did not ask for
``--json``, tables, colours and progress bars; otherwise plain lines, one
record a line, flushed as they are written, so ``grep``, ``head``, ``jq``
and ``xargs`` see each line as soon as it exists.

Values are shown as JSON (:func:`to_json`: msgspec's encoding, the one a
store's values have for humans), ``--json`` records as one JSON object a
line.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

import msgspec
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from ..streams.events import Change, DeleteChange, SetChange

__all__ = ["Output", "entry_row", "kind_of", "seconds_text", "to_json"]

#: How each kind of change is coloured on a terminal.
_STYLES = {"set": "green", "delete": "red", "expire": "yellow"}


def to_json(value: object) -> str:
    """``value`` as one line of JSON; one msgspec cannot encode as JSON (a
    dict with tuple keys, from msgpack) as the JSON string of its ``repr``."""
    try:
        return msgspec.json.encode(value).decode()
    except TypeError:
        return msgspec.json.encode(repr(value)).decode()


def seconds_text(seconds: float) -> str:
    """A duration as people read it: ``0.25s``, ``42s``, ``5m12s``, ``3h05m``, ``2d04h``."""
    if seconds < 10:
        return f"{seconds:.2g}s" if seconds < 1 else f"{seconds:.1f}s"
    whole = round(seconds)
    for unit, size, sub, sub_size in (("d", 86400, "h", 3600), ("h", 3600, "m", 60)):
        if whole >= size:
            return f"{whole // size}{unit}{whole % size // sub_size:02d}{sub}"
    return f"{whole // 60}m{whole % 60:02d}s" if whole >= 60 else f"{whole}s"


def kind_of(change: Change) -> str:
    """A change's kind as its JSON tag says it: ``set``, ``delete`` or ``expire``."""
    if isinstance(change, SetChange):
        return "set"
    return "delete" if isinstance(change, DeleteChange) else "expire"


class Output:
    """Where a command's records go; see the module docstring.

    ``as_json``: the user asked for one JSON object a line, terminal or not.
    """

    def __init__(self, *, as_json: bool = False) -> None:
        self.console = Console(highlight=False, soft_wrap=True)
        self.as_json = as_json
        #: Rich tables, colours and progress bars (else plain lines).
        self.rich = self.console.is_terminal and not as_json

    def line(self, text: str) -> None:
        """Write ``text`` and a newline to stdout, flushed."""
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    def json(self, record: object) -> None:
        """Write ``record`` as one line of JSON."""
        self.line(to_json(record))

    def note(self, text: str) -> None:
        """Tell the user ``text`` on stderr (never mixed into the records on stdout)."""
        sys.stderr.write(f"pepperflow: {text}\n")
        sys.stderr.flush()

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """Rows under their column names, as a Rich table (on a terminal only)."""
        table = Table(*columns, header_style="bold", show_edge=False)
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))
        self.console.print(table)

    def change(self, change: Change) -> None:
        """One change: a JSON object with ``--json``, else ``SEQ KIND KEY vVERSION [VALUE]``.

        A set shows its value as JSON, then its ttl (``ttl 30s``) and metadata if any.
        """
        if self.as_json:
            self.json(change)
            return
        kind = kind_of(change)
        parts = [f"{change.seq:>4}", f"{kind:<6}", change.key, f"v{change.version}"]
        if isinstance(change, SetChange):
            parts.append(to_json(change.value))
            if change.expires_at is not None:
                parts.append(f"ttl {seconds_text(change.expires_at - change.committed_at)}")
            if change.metadata is not None:
                parts.append(f"metadata {to_json(change.metadata)}")
        if not self.rich:
            self.line("  ".join(parts))
            return
        text = Text("  ").join(Text(part) for part in parts)
        text.stylize(_STYLES[kind], len(parts[0]) + 2, len(parts[0]) + 2 + len(parts[1]))
        self.console.print(text)

    @contextlib.contextmanager
    def progress(self, total: int, what: str) -> Iterator[Callable[[str | None], None]]:
        """A function to call once per item of ``total``, with the item's name
        (``None`` for one skipped): a Rich progress bar on a terminal, else one
        plain line per item named."""
        if not self.rich:
            yield lambda name: None if name is None else self.line(name)
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=self.console, transient=False) as bar:
            task = bar.add_task(what, total=total)
            yield lambda _name: bar.advance(task)


def entry_row(entry: Any, now: float) -> list[str]:
    """An :class:`~pepperflow.stores.Entry` as ``ls`` shows it on a terminal:
    key, value (cut at 60 characters), version, ttl left, updated."""
    value = to_json(entry.value)
    if len(value) > 60:
        value = value[:59] + "…"
    left = "-" if entry.expires_at is None else seconds_text(max(entry.expires_at - now, 0.0))
    updated = datetime.fromtimestamp(entry.updated_at).isoformat(sep=" ", timespec="seconds")
    return [entry.key, value, str(entry.version), left, updated]
