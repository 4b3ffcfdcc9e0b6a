"""The ``pepperflow`` command's arguments and help, on Typer; the bodies are elsewhere.

Each command here only reads its arguments and hands them to its async
body (:mod:`._keys`, :mod:`._watch`, :mod:`._copy`, :mod:`._demo`) through
:func:`._exits.run`, which runs it on the event loop ``--backend`` names
and turns its errors into exit codes.
"""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from . import _keys
from ._copy import copy as copy_keys
from ._demo import demo as run_demo
from ._exits import run
from ._output import Output
from ._watch import watch as watch_changes

__all__ = ["app"]

app = typer.Typer(
    name="pepperflow",
    help=(
        "Look at and change any pepperflow store from a shell: memory://, "
        "sqlite:///path.db, redis://[user:password@]host[:port][/db]."
        " Exit codes: docs/cli.md."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

Url = Annotated[
    str,
    typer.Argument(
        metavar="URL",
        help="The store: memory://NAME, sqlite:///path.db, redis://host:6379/0...",
        show_default=False,
    ),
]
Pattern = Annotated[
    str | None,
    typer.Argument(
        metavar="PATTERN",
        show_default=False,
        help="A key prefix ('user:') or a glob ('user:*:name'); all keys if omitted.",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="One JSON object a line, for piping.")]
Key = Annotated[str, typer.Argument(metavar="KEY", show_default=False)]


class Backend(enum.StrEnum):
    """The event loops a command runs on."""

    asyncio = "asyncio"
    trio = "trio"


class Settings:
    """What the options before the command name set, for every command."""

    def __init__(self, backend: str) -> None:
        self.backend = backend


@app.callback()
def settings(
    context: typer.Context,
    backend: Annotated[
        Backend,
        typer.Option(help="The event loop to run on (trio needs pepperflow[trio])."),
    ] = Backend.asyncio,
) -> None:
    context.obj = Settings(backend.value)


def _backend(context: typer.Context) -> str:
    settings: Settings = context.ensure_object(Settings)
    return settings.backend


@app.command()
def demo(
    context: typer.Context,
    url: Annotated[
        str, typer.Option(help="An empty store to run on; embedded by default.")
    ] = "memory://demo",
) -> None:
    """A small reactive agent pipeline on an embedded store: changes, a ttl expiring,
    a value derived by stream operators. No server needed."""
    run(_backend(context), [url], run_demo, url, Output())


@app.command()
def watch(
    context: typer.Context,
    url: Url,
    pattern: Pattern = None,
    replay: Annotated[
        bool, typer.Option("--replay", help="Start with the current state (a set per live key).")
    ] = False,
    since: Annotated[
        int | None,
        typer.Option(
            metavar="SEQ",
            help="Start with the changelog's changes after SEQ (0: all it holds); sqlite, redis.",
        ),
    ] = None,
    as_json: Json = False,
) -> None:
    """Print the changes of the keys matching PATTERN as they happen, until Ctrl-C (exit 130)."""
    out = Output(as_json=as_json)
    run(_backend(context), [url], watch_changes, url, pattern, out, replay, since)


@app.command()
def get(
    context: typer.Context,
    url: Url,
    key: Key,
    text: Annotated[bool, typer.Option("--text", help="Print a str value as it is.")] = False,
    entry: Annotated[
        bool, typer.Option("--entry", help="The whole entry: version, times, expiry, metadata.")
    ] = False,
) -> None:
    """Print KEY's value as JSON; exit 1 if the key is absent."""
    run(_backend(context), [url], _keys.get, url, key, Output(), text, entry)


@app.command("set")
def set_(
    context: typer.Context,
    url: Url,
    key: Key,
    value: Annotated[str, typer.Argument(metavar="VALUE", help="JSON (or text, with --text).")],
    text: Annotated[
        bool, typer.Option("--text", help="Store VALUE as a str, as it is (no JSON).")
    ] = False,
    ttl: Annotated[
        str | None,
        typer.Option(metavar="DURATION", help="Expire after 90, 30s, 5m, 2h or 1d."),
    ] = None,
    metadata: Annotated[
        str | None, typer.Option(metavar="JSON", help="The entry's metadata, a JSON object.")
    ] = None,
) -> None:
    """Set KEY to VALUE, as JSON: '{"name": "Ada"}', 42, '"text"' (or --text)."""
    out = Output()
    run(_backend(context), [url], _keys.set_key, url, key, value, out, text, ttl, metadata)


@app.command()
def ls(context: typer.Context, url: Url, pattern: Pattern = None, as_json: Json = False) -> None:
    """List the keys matching PATTERN: a table on a terminal, one key a line in a pipe."""
    run(_backend(context), [url], _keys.ls, url, pattern, Output(as_json=as_json))


@app.command()
def rm(
    context: typer.Context,
    url: Url,
    keys: Annotated[list[str], typer.Argument(metavar="KEYS", show_default=False)],
) -> None:
    """Delete the KEYS; exit 1 if any was absent (the others are deleted)."""
    run(_backend(context), [url], _keys.rm, url, keys, Output())


@app.command()
def stats(context: typer.Context, url: Url, as_json: Json = False) -> None:
    """Print the store's statistics: keys, seq, ttl keys, feeds, expiries..."""
    run(_backend(context), [url], _keys.stats, url, Output(as_json=as_json))


@app.command()
def copy(
    context: typer.Context,
    src_url: Annotated[str, typer.Argument(metavar="SRC_URL", show_default=False)],
    dst_url: Annotated[str, typer.Argument(metavar="DST_URL", show_default=False)],
    pattern: Pattern = None,
) -> None:
    """Copy every key matching PATTERN, with its value, ttl and metadata, from SRC_URL to
    DST_URL (its other keys stay): a progress bar on a terminal, a key a line in a pipe."""
    run(_backend(context), [src_url, dst_url], copy_keys, src_url, dst_url, pattern, Output())
