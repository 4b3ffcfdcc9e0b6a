"""How the ``pepperflow`` command ends: its exit codes, and errors as one line.

Every command runs its async body through :func:`run`, which turns what
ends it into an exit code (the table in docs/cli.md)::

    0    done
    1    not found: ``get`` or ``rm`` of a key that is absent
    2    bad input: an unknown option or a missing argument (Click's own),
         bad JSON, a bad ttl, key, pattern or seq, a value the store refuses
    3    a bad store URL (UnknownStoreURL), or one naming a driver the event
         loop cannot run (UnsupportedDriver: ``?driver=redis-py`` on trio)
    4    the store is unavailable: a server unreachable, a SQLite file
         unusable (StoreUnavailable) or a newer pepperflow's (SchemaTooNew)
    5    access denied: the server refused the user, password or ACL
         (StoreAccessDenied)
    6    an optional extra is missing (MissingExtra, or the ``cli`` extra)
    7    the store holds data that does not decode (UndecodableValue)
    130  interrupted by Ctrl-C (SIGINT), after closing the store
    143  stopped by SIGTERM, after closing the store
    141  the output was closed (a broken pipe, e.g. ``| head``)

An error is printed as one line on stderr, ``pepperflow: error: ...``,
with every secret of the URLs the command was given scrubbed out
(:func:`~pepperflow._redact.secrets_in`); pepperflow's own messages show
URLs :func:`~pepperflow._redact.redacted` already. An exception not in the
table is a bug and ends with its traceback.
"""

from __future__ import annotations

import enum
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable
from functools import partial
from typing import NoReturn, TypeVarTuple

import anyio

from .._errors import (
    InvalidDuration,
    InvalidKey,
    InvalidPattern,
    MissingExtra,
    StoreAccessDenied,
    StoreUnavailable,
    UndecodableValue,
    UnencodableValue,
    UnknownStoreURL,
    UnsupportedDriver,
)
from .._redact import MASK, secrets_in
from ..stores.sqlite._schema import SchemaTooNew
from ..stores.url import require

__all__ = ["BadInput", "Exit", "NotFound", "fail", "run"]

Args = TypeVarTuple("Args")


class Exit(enum.IntEnum):
    """The command's exit codes; see the module docstring."""

    OK = 0
    NOT_FOUND = 1
    BAD_INPUT = 2
    BAD_URL = 3
    UNAVAILABLE = 4
    ACCESS_DENIED = 5
    MISSING_EXTRA = 6
    UNDECODABLE = 7
    INTERRUPTED = 130
    TERMINATED = 143
    BROKEN_PIPE = 141


class BadInput(ValueError):
    """What the user typed is not what the command takes; the message says why."""


class NotFound(LookupError):
    """A key the command was asked for is absent; the message names it."""


#: Each error the command expects -> its exit code, subclasses first.
_CODES: list[tuple[type[BaseException], Exit]] = [
    (NotFound, Exit.NOT_FOUND),
    (StoreAccessDenied, Exit.ACCESS_DENIED),
    (StoreUnavailable, Exit.UNAVAILABLE),
    (SchemaTooNew, Exit.UNAVAILABLE),
    (UnknownStoreURL, Exit.BAD_URL),
    (UnsupportedDriver, Exit.BAD_URL),
    (MissingExtra, Exit.MISSING_EXTRA),
    (UndecodableValue, Exit.UNDECODABLE),
    (BadInput, Exit.BAD_INPUT),
    (InvalidKey, Exit.BAD_INPUT),
    (InvalidPattern, Exit.BAD_INPUT),
    (InvalidDuration, Exit.BAD_INPUT),
    (UnencodableValue, Exit.BAD_INPUT),
]


def fail(message: str, code: Exit, urls: Iterable[str] = ()) -> NoReturn:
    """Print ``message`` (scrubbed of the secrets of ``urls``) on stderr; exit with ``code``."""
    for secret in sorted(set().union(*map(secrets_in, urls)), key=len, reverse=True):
        message = message.replace(secret, MASK)
    sys.stderr.write(f"pepperflow: error: {message}\n")
    sys.stderr.flush()
    raise SystemExit(code)


def run(
    backend: str,
    urls: Iterable[str],
    body: Callable[[*Args], Awaitable[object]],
    *args: *Args,
) -> None:
    """Run ``body(*args)`` on ``backend``; end the process as the module docstring says.

    ``urls`` are the store URLs the command was given, whose secrets no
    message may show. SIGINT (Ctrl-C) and SIGTERM cancel the body, which
    closes its store, then exit with 128 + the signal's number.
    """
    try:
        if backend == "trio":
            require("trio", "trio", "--backend trio")
        stopped_by = anyio.run(_until_stopped, partial(body, *args), backend=backend)
    except BaseException as exc:  # each is translated or re-raised below
        _end(exc, list(urls))
    if stopped_by is not None:
        raise SystemExit(128 + stopped_by)


async def _until_stopped(body: Callable[[], Awaitable[object]]) -> int | None:
    """Run ``body()``; cancel it on SIGINT or SIGTERM, and return the signal's number."""
    stopped_by: int | None = None
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:

            async def stop() -> None:
                nonlocal stopped_by
                async for signum in signals:
                    stopped_by = signum
                    tg.cancel_scope.cancel()

            tg.start_soon(stop)
            await body()
            tg.cancel_scope.cancel()
    return stopped_by


def _end(exc: BaseException, urls: list[str]) -> NoReturn:
    leaves = list(_leaves(exc))
    if any(isinstance(leaf, KeyboardInterrupt) for leaf in leaves):
        raise SystemExit(Exit.INTERRUPTED) from None
    if any(isinstance(leaf, BrokenPipeError) for leaf in leaves):
        # Later writes (the interpreter's flush at exit) go nowhere, quietly.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(Exit.BROKEN_PIPE) from None
    if len(leaves) == 1:
        if isinstance(leaves[0], SystemExit):
            raise leaves[0]
        for kind, code in _CODES:
            if isinstance(leaves[0], kind):
                fail(str(leaves[0]), code, urls)
    raise exc


def _leaves(exc: BaseException) -> Iterable[BaseException]:
    """The exceptions in ``exc``: itself, or the leaves of an exception group."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc
