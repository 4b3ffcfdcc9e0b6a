"""The acquire and the release of one resource, step by step.

Both are measured per kind (:func:`~pepperflow.sinks.metrics._meter.measured`, component
``"resource"``, label ``kind``: the kind is their first argument) when the
manager has a metrics sink; :func:`steps` gives the pair to use.

An acquire that must wait (for its kind's limit, or a factory) writes an
``acquiring`` record first; a bare resource with room goes straight to
``active``. A release with a cleanup writes ``releasing`` and runs the
cleanup shielded; one without deletes the record at once. Whatever an
acquire leaves when it fails or is cancelled is cleaned up (shielded), its
record set to ``failed`` with the error and then deleted.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio

from ..sinks.metrics._meter import measured
from ._held import Held, describe, finish, make
from ._kinds import Kind
from ._ledger import Ledger, closed_error
from ._types import Factory, ResourceStatus

__all__ = [
    "AcquireStep",
    "ReleaseStep",
    "acquire",
    "measured_acquire",
    "measured_release",
    "release",
]

_ACTIVE = ResourceStatus.ACTIVE
_ACQUIRING = ResourceStatus.ACQUIRING
_RELEASING = ResourceStatus.RELEASING
_FAILED = ResourceStatus.FAILED


async def acquire(
    kind: Kind,
    ledger: Ledger,
    resource_id: str,
    factory: Factory | None,
    kwargs: dict[str, Any],
) -> Any:
    """The active resource ``resource_id`` (of ``kind``), made if needed.

    Waits while another task acquires or releases the id; a use of an
    active resource whose kind has an idle timeout gives its record a fresh
    ttl.
    """
    if factory is not None and not callable(factory):
        raise TypeError(f"resource {resource_id!r}: factory must be callable, got {factory!r}")
    if ledger.closed:
        raise closed_error()
    while (held := ledger.held.get(resource_id)) is not None:
        if held.status is _ACTIVE:
            if held.kind.idle_timeout is not None:
                await ledger.touch(held)
            return held.value
        await held.settled_event().wait()  # being acquired or released by another task
        ledger.check_open()
    kind = ledger.kinds.get(kind.name, kind)  # the current one (registered meanwhile?)
    make_with = kind.factory if factory is None else factory
    if make_with is None and kwargs:
        raise TypeError(
            f"resource {resource_id!r}: acquire got {sorted(kwargs)} but kind {kind.name!r}"
            " has no factory to pass them to; register one (register_factory) or pass one"
        )
    held = ledger.adopt(resource_id, kind, bare=make_with is None)
    return await _activate(ledger, held, make_with, factory is None, kwargs)


async def _activate(
    ledger: Ledger,
    held: Held,
    factory: Factory | None,
    registered: bool,
    kwargs: dict[str, Any],
) -> Any:
    """Make ``held`` active: a bare one with room at once; any other records
    ``acquiring``, waits for its limit, runs its factory."""
    kind = held.kind
    try:
        if held.status is _ACQUIRING:
            await ledger.write(held, _ACQUIRING)
            if not held.limited and kind.limiter is not None:
                await _wait_for_limit(ledger, held)
        if factory is None:
            held.value = held.id
            held.cleanup = kind.cleanup
        elif awaited := make(held, factory, kwargs, kind.cleanup if registered else None):
            await awaited
        if ledger.closed:
            raise closed_error()
        await ledger.write(held, _ACTIVE)
    except BaseException as exc:
        with anyio.CancelScope(shield=True):
            await _abandon(ledger, held, exc)
        raise
    finally:
        if held.settled is not None:  # inlined: this runs on every new acquire
            held.settle()
    return held.value


async def _wait_for_limit(ledger: Ledger, held: Held) -> None:
    """Take a slot of ``held``'s kind's limit (it has one), first come first served."""
    limiter = held.kind.limiter
    assert limiter is not None
    ledger.metrics.on_wait(held.kind.name)
    await limiter.acquire_on_behalf_of(held)
    held.limited = True
    ledger.check_open()


async def _abandon(ledger: Ledger, held: Held, exc: BaseException) -> None:
    """After a failed or cancelled acquire: clean up what was made, record the failure."""
    errors = int(isinstance(exc, Exception))  # a cancellation is not an error
    if held.made:
        error = await finish(held)
        if error is not None:
            errors += 1
            exc.add_note(f"and its cleanup failed too: {describe(error)}")
    try:
        try:
            await ledger.write(held, _FAILED, error=describe(exc), errors=errors)
        finally:
            await ledger.drop(held)
    except Exception as error:
        exc.add_note(f"recording resource {held.id!r} as failed failed: {describe(error)}")
    finally:
        held.settle()


def release(kind: Kind, ledger: Ledger, held: Held, cleaned: bool = False) -> Awaitable[object]:
    """Clean up active ``held`` and delete its record (shielded from cancellation).

    ``cleaned``: by cleanup, sweep, expiry or close rather than ``release``.
    Without a cleanup, this is the record's delete (one coroutine less).

    Raises:
        the cleanup's error (the resource is removed anyway).
    """
    if held.gen is None and held.cleanup is None:
        return ledger.drop(held, cleaned=cleaned)
    return _clean_up(ledger, held, cleaned)


async def _clean_up(ledger: Ledger, held: Held, cleaned: bool) -> None:
    error: Exception | None = None
    try:
        with anyio.CancelScope(shield=True):
            try:
                await ledger.write(held, _RELEASING, cleaned=cleaned)
                error = await finish(held)
            finally:
                await ledger.drop(held, cleaned=cleaned, errors=int(error is not None))
    finally:
        held.settle()
    if error is not None:
        raise error


#: :func:`acquire` and :func:`release`, measured in their kind's meter (a
#: plain call when the kind has no sink).
AcquireStep = Callable[[Kind, Ledger, str, Factory | None, dict[str, Any]], Awaitable[Any]]
ReleaseStep = Callable[[Kind, Ledger, Held, bool], Awaitable[object]]

measured_acquire: AcquireStep = measured("acquire")(acquire)
measured_release: ReleaseStep = measured("release")(release)
