"""Releasing many resources at once: by pattern, the expired ones, and what is left at close.

:func:`release_all` is the one loop behind ``cleanup(pattern)``,
``sweep()``, the release of expired records and ``aclose()``: it releases
each target that is still active (through :func:`~._flow.release`, so each
is measured and counted as ``cleaned``), goes on after a failed cleanup,
and raises the failures together (:func:`~pepperflow._lifecycle.close_all`).
The background loops log those failures instead.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Awaitable, Callable, Iterator

import anyio
import anyio.abc

from .._lifecycle import close_all
from ._flow import ReleaseStep
from ._held import Held
from ._ledger import Ledger
from ._types import ResourceStatus

__all__ = ["release_all", "release_expired", "release_left", "sweep_periodically"]

logger = logging.getLogger("pepperflow")

_ACTIVE = ResourceStatus.ACTIVE


def _failures(failed: list[str]) -> str:
    shown = ", ".join(repr(resource_id) for resource_id in failed[:10])
    return f"{len(failed)} resource cleanup(s) failed: {shown}"


async def release_all(
    ledger: Ledger, release: ReleaseStep, targets: list[Held], *, due: bool = False
) -> int:
    """Release the ``targets`` still active, in order, with ``release``; return how many.

    With ``due``, only those still due (not used again since their record
    expired).

    Raises:
        ExceptionGroup: the errors of the cleanups that raised (every target
        was released anyway), as ``"<n> resource cleanup(s) failed: <ids>"``.
    """
    released: list[str] = []

    def closers() -> Iterator[tuple[str, Callable[[], Awaitable[object]]]]:
        for held in targets:
            if ledger.held.get(held.id) is not held or held.status is not _ACTIVE:
                continue  # released meanwhile, or listed twice
            if due and not held.due:
                continue  # used again since its record expired
            released.append(held.id)
            yield held.id, functools.partial(release, held.kind, ledger, held, True)

    await close_all(closers(), message=_failures)
    return len(released)


async def _logged(work: Awaitable[int]) -> None:
    try:
        await work
    except ExceptionGroup as group:
        logger.error(
            "resource manager: %d cleanup(s) failed in the periodic cleanup; the"
            " resources were removed and the errors counted",
            len(group.exceptions),
            exc_info=group,
        )


async def release_expired(
    ledger: Ledger, release: ReleaseStep, *, task_status: anyio.abc.TaskStatus[None]
) -> None:
    """Release each resource as soon as its record expires (a manager's task)."""
    task_status.started()
    expiry = ledger.expiry
    while True:
        await expiry.wait()
        await _logged(release_all(ledger, release, expiry.take(), due=True))


async def sweep_periodically(
    sweep: Callable[[], Awaitable[int]],
    interval: float,
    *,
    task_status: anyio.abc.TaskStatus[None],
) -> None:
    """Call ``sweep()`` every ``interval`` seconds (a manager's task)."""
    task_status.started()
    while True:
        await anyio.sleep(interval)
        await _logged(sweep())


async def release_left(ledger: Ledger, release: ReleaseStep) -> ExceptionGroup[Exception] | None:
    """At close: release every active resource, newest first, shielded from
    cancellation; warn (``ResourceWarning``) about them; return the failures."""
    left = [held for held in ledger.held.values() if held.status is _ACTIVE]
    left.reverse()
    group: ExceptionGroup[Exception] | None = None
    with anyio.CancelScope(shield=True):
        try:
            await release_all(ledger, release, left)
        except ExceptionGroup as exc:
            group = exc
    if left:
        shown = ", ".join(repr(held.id) for held in left[:10])
        more = f" and {len(left) - 10} more" if len(left) > 10 else ""
        warnings.warn(
            f"DefaultResourceManager closed with {len(left)} resource(s) never released:"
            f" {shown}{more}; they were released now. Release each resource when done"
            " (or use managed_resource)",
            ResourceWarning,
            stacklevel=3,  # the caller of aclose()
        )
    return group
