"""The ``pepperflow`` command: look at and change any store from a shell.

``pepperflow demo``, ``watch URL [PATTERN]``, ``get``, ``set``, ``ls``,
``rm``, ``stats`` and ``copy SRC_URL DST_URL [PATTERN]``, for every URL
:func:`~pepperflow.open_store` takes; docs/cli.md says what each does and
the exit codes (:mod:`._exits`). Installed as the console script
``pepperflow`` and run as ``python -m pepperflow``; it needs the ``cli``
extra (Typer and Rich): ``pip install 'pepperflow[cli]'``.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Run the command on ``sys.argv``; exit with its code (docs/cli.md).

    Without the ``cli`` extra, say how to install it and exit with 6.
    """
    from .._errors import MissingExtra
    from ..stores.url import require
    from ._exits import Exit, fail

    try:
        require("typer", "cli", "the pepperflow command")
        require("rich", "cli", "the pepperflow command")
    except MissingExtra as exc:
        fail(str(exc), Exit.MISSING_EXTRA)
    from ._app import app

    app(prog_name="pepperflow", args=sys.argv[1:])
