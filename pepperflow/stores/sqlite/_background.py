"""SqliteStore's background commits, and their retries when the file fails them.

The store commits on its own, with no caller to raise to: the expiries of
keys past their deadline (:mod:`.store`), and the transaction that takes in
other processes' writes (:func:`follow`). Such a commit fails when the file
does (another process holds its write lock longer than ``busy_timeout``, the
disk is full, an I/O error, a corrupt row): :data:`FILE_ERRORS`. That must
not stop the store: a :class:`Retry` logs each failure on the
``"pepperflow"`` logger, naming the store and its file, and says how long to
wait before the next attempt (a backoff from :data:`FIRST_DELAY`, doubling,
bounded by :data:`MAX_DELAY`), until one succeeds.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable

import anyio

from ..._errors import StoreUnavailable
from ._connection import Connection, others_wrote
from ._thread import OwnerThread

__all__ = ["FILE_ERRORS", "FIRST_DELAY", "MAX_DELAY", "Retry", "follow"]

logger = logging.getLogger("pepperflow")

#: What a commit raises when the file fails it (as opposed to a bug).
FILE_ERRORS = (sqlite3.Error, StoreUnavailable)
#: The wait before the first retry, in seconds; it doubles with each failure.
FIRST_DELAY = 0.05
#: The longest wait between two attempts, in seconds.
MAX_DELAY = 5.0


class Retry:
    """The failures of one kind of background commit, and the wait before the next try.

    Args:
        owner: how the log names the store and its file.
        what: what failed, as the log says it (``"the expiry of 3 keys"``).
    """

    __slots__ = ("delay", "failures", "owner", "what")

    def __init__(self, owner: str, what: str) -> None:
        self.owner = owner
        self.what = what
        #: Consecutive failures since the last success.
        self.failures = 0
        #: The seconds to wait before the next attempt (0 after a success).
        self.delay = 0.0

    def failed(self, error: BaseException, detail: str = "") -> float:
        """Log a failed attempt; return :attr:`delay`, the seconds to wait before the next."""
        self.delay = delay = min(FIRST_DELAY * 2.0 ** min(self.failures, 16), MAX_DELAY)
        self.failures += 1
        logger.warning(
            "pepperflow: %s: committing %s%s failed (%s: %s); retrying in %.2f s"
            " (failure %d in a row)",
            self.owner,
            self.what,
            detail,
            type(error).__name__,
            error,
            delay,
            self.failures,
        )
        return delay

    def succeeded(self) -> None:
        """An attempt committed: log the recovery, if any, and start the backoff over."""
        self.delay = 0.0
        if self.failures:
            logger.warning(
                "pepperflow: %s: committing %s works again, after %d failures",
                self.owner,
                self.what,
                self.failures,
            )
            self.failures = 0


async def follow(
    thread: OwnerThread[Connection],
    catch_up: Callable[[], Awaitable[object]],
    poll_interval: float,
    owner: str,
) -> None:
    """Pick up the writes of other processes while nothing is written here (a task).

    Every ``poll_interval`` it asks the file whether another connection
    committed (:func:`._connection.others_wrote`) and, if one did, awaits
    ``catch_up()`` (an empty write transaction: it takes in what they
    wrote). A poll or catch-up that the file fails is logged and tried
    again after a backoff of at least ``poll_interval``.
    """
    retry = Retry(owner, "the writes of other processes")
    behind = False  # others wrote, and this process has not taken it in yet
    pause = poll_interval
    while True:
        await anyio.sleep(pause)
        pause = poll_interval
        try:
            behind = behind or await thread.run(others_wrote)
            if behind:
                await catch_up()
                behind = False
        except FILE_ERRORS as error:
            pause = max(pause, retry.failed(error))
        else:
            retry.succeeded()
