"""Running one script (``EVALSHA``), or one ``GET``, through what a Redis
Cluster answers while a namespace's slot moves.

:func:`run_script` runs a script (:mod:`._scripts`) on the keys it
declares and, nothing having run, runs it again

- when the server lost its script cache (``NOSCRIPT``, after a restart): once,
  after ``SCRIPT LOAD``;
- when the script asks for keys it found at run time (``lua/keys.lua``; it
  wrote nothing): with them declared too, up to :data:`NEED_ROUNDS` times;
- while a Redis Cluster answers that the slot is being migrated: ``TRYAGAIN``
  (the script's keys are split between the slot's two nodes: its new
  entry, or a key not moved yet) or the cluster client's redirects ran out.
  It waits 10 ms, then twice as long each time up to 0.5 s, for up to
  :data:`MIGRATION_WAIT` seconds in all; then the error goes up (the
  store's StoreUnavailable: not applied). This is the one place that
  retries them.

``MOVED`` (the slot moved: the client learns its new owner) and ``ASK`` (the
slot is being migrated and the script's keys are all on the target:
``ASKING``, then the script there) are followed by the drivers' cluster
clients; neither ran the script on the node that answered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import anyio

from ..._errors import StoreUnavailable
from ._drivers import Driver
from ._scripts import Script

__all__ = ["MIGRATION_WAIT", "NEED_ROUNDS", "run_script", "settled"]

_T = TypeVar("_T")

#: runs of a script that asks for the keys it found (each finds new ones:
#: a snapshot or a lookup on a namespace whose keys change between runs)
NEED_ROUNDS = 8
#: seconds a script waits in all while a slot migration keeps it from running
MIGRATION_WAIT = 10.0
_FIRST_DELAY = 0.01
_MOST_DELAY = 0.5


async def run_script(
    driver: Driver,
    script: Script[Any, Any],
    keys: list[Any],
    args: list[Any],
    wait: tuple[int, int] | None,
    owner: str,
) -> list[Any]:
    """``script``'s raw reply on ``keys`` and ``args`` (then ``WAIT`` when
    ``wait`` is given), with the keys it asks for declared.

    Raises:
        StoreUnavailable: it asked for new keys on each of :data:`NEED_ROUNDS` runs.
    """
    for _ in range(NEED_ROUNDS):
        run = partial(_evalsha, driver, script.sha, keys, args, wait)
        raw: list[Any] = await _settled(driver, script, run)
        if raw[0]:  # a head: the script ran
            return raw
        keys = [*keys, *raw[1:]]
    raise StoreUnavailable(
        f"{owner}: the {script.name} script found keys it had not declared on each of"
        f" {NEED_ROUNDS} runs (the namespace changed under it each time); nothing was"
        " written: retry"
    )


async def _settled(
    driver: Driver, script: Script[Any, Any], run: Callable[[], Awaitable[Any]]
) -> Any:
    """``run()``'s reply, the script loaded, once a slot migration lets it run."""
    return await settled(driver, partial(_loaded, driver, script, run))


async def settled(driver: Driver, run: Callable[[], Awaitable[_T]]) -> _T:
    """``run()``'s reply, once a slot migration lets it run (see the module
    docstring): a script's, or a ``GET``'s (a cluster client may follow an
    ``ASK`` onto a connection that did not send ``ASKING``, bouncing
    between the two nodes until its redirects run out)."""
    delay, deadline = _FIRST_DELAY, None
    while True:
        try:
            return await run()
        except driver.not_run_errors as exc:
            now = anyio.current_time()
            deadline = now + MIGRATION_WAIT if deadline is None else deadline
            if type(exc) not in driver.migration_errors or now + delay > deadline:
                raise
        await anyio.sleep(delay)
        delay = min(delay * 2, _MOST_DELAY)


async def _loaded(
    driver: Driver, script: Script[Any, Any], run: Callable[[], Awaitable[Any]]
) -> Any:
    """``run()``; again once the script is loaded if the server lost it
    (``NOSCRIPT``, a restart: nothing ran)."""
    try:
        return await run()
    except driver.noscript_error:
        await driver.script_load(script.source)
        return await run()


def _evalsha(
    driver: Driver,
    sha: str,
    keys: list[Any],
    args: list[Any],
    wait: tuple[int, int] | None,
) -> Awaitable[Any]:
    """``EVALSHA``; then ``WAIT`` on its connection when ``wait`` is given."""
    if wait is None:
        return driver.evalsha(sha, keys, args)
    return driver.evalsha_waited(sha, keys, args, *wait)
